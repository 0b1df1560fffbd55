# iit-node. `make run` serves the node (`iit serve` on ./iit.db, 127.0.0.1:50051),
# `make test` runs the tests; both install what they need first (uv from PyPI, then the
# locked dependencies) and generate the gRPC stubs from proto/ (git-ignored, never edited).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
CROSSHAIR_TARGETS := domain/fixedpoint.py domain/vault_math.py domain/accrual.py domain/oracle.py domain/params.py invariants/proofs.py

.PHONY: setup proto run demo test lint typecheck crosshair crosshair-canaries check deep bench mutate

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv \
		|| $(PYTHON) -m pip install --quiet --disable-pip-version-check --user --break-system-packages uv
	@$(UV) sync --frozen --quiet
	@$(RUN) python scripts/gen_proto.py

# The Python stubs of proto/iit/v1/*.proto, into adapters/grpc/generated/ (setup runs it too).
proto:
	@$(UV) sync --frozen --quiet
	$(RUN) python scripts/gen_proto.py

run: setup
	$(RUN) iit serve

demo: setup
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

# Mutation testing of domain/ and invariants/ (issue 18; README "Mutation testing"): not in
# CI: hours on two shared cores. MUTATE_ARGS="domain.oracle" runs one module,
# MUTATE_ARGS=--report-only reprints the last table.
mutate: setup
	HYPOTHESIS_PROFILE=mutate nice -n 19 $(RUN) python scripts/mutate.py $(MUTATE_ARGS)
