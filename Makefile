# iit-node. `make run` serves the node (`iit serve` on ./iit.db, 127.0.0.1:50051),
# `make test` runs the tests; both install what they need first (uv from PyPI, then the
# locked dependencies) and generate the gRPC stubs from proto/ (git-ignored, never edited).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
CROSSHAIR_TARGETS := domain/fixedpoint.py domain/vault_math.py domain/accrual.py domain/oracle.py domain/params.py invariants/proofs.py

.PHONY: setup proto proto-check node run demo dashboard test lint typecheck crosshair crosshair-canaries check deep bench mutate

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv \
		|| $(PYTHON) -m pip install --quiet --disable-pip-version-check --user --break-system-packages uv
	@$(UV) sync --frozen --quiet
	@$(RUN) python scripts/gen_proto.py

# The Python stubs of proto/iit/v1/*.proto, into adapters/grpc/generated/ (setup runs it too).
proto:
	@$(UV) sync --frozen --quiet
	$(RUN) python scripts/gen_proto.py

# Node.js tools from npm (package-lock.json): buf, and @grpc/grpc-js + tsc for the
# TypeScript example. The tests use them; `make test` installs them first.
node: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# buf lint, and buf breaking against main's previous contract (scripts/proto_check.sh).
proto-check: node
	scripts/proto_check.sh

run: setup
	$(RUN) iit serve

demo: setup
	$(RUN) iit demo

# A demo node playing the scripted market, and `iit dashboard` over it: open
# http://127.0.0.1:8080/ (DASHBOARD_LISTEN overrides). Ctrl-C stops both.
DASHBOARD_LISTEN ?= 127.0.0.1:8080
dashboard: setup
	$(RUN) python -m adapters.dashboard.dashboard_demo --listen $(DASHBOARD_LISTEN)

test: setup node
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(RUN) pytest

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy --strict domain invariants adapters scripts benchmarks examples

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
