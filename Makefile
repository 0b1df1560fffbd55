# iit-node. `make run` starts the main job, `make test` runs the tests; both install
# what they need first (uv from PyPI, then the locked dependencies).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
CROSSHAIR_TARGETS := domain/fixedpoint.py domain/vault_math.py domain/accrual.py domain/oracle.py domain/params.py invariants/proofs.py

.PHONY: setup run test lint typecheck crosshair crosshair-canaries check deep bench

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv \
		|| $(PYTHON) -m pip install --quiet --disable-pip-version-check --user --break-system-packages uv
	@$(UV) sync --frozen --quiet

run: setup
	$(RUN) iit demo

test: setup
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(RUN) pytest

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy --strict domain invariants adapters scripts benchmarks

crosshair: setup
	$(RUN) python scripts/crosshair_check.py $(CROSSHAIR_TARGETS)
	$(RUN) python scripts/crosshair_check.py --expect-counterexample tests/crosshair_fixtures/known_bugs.py

check: lint typecheck crosshair test

# The figures of issue 5 in one table (not a test: CI does not run it). BENCH_EVENTS=100000
# for a quicker, smaller log; the filled store is cached in benchmarks/.cache.
bench: setup
	$(RUN) python -m benchmarks.bench

deep: setup
	HYPOTHESIS_PROFILE=deep $(RUN) pytest
