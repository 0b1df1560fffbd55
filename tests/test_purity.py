"""The dependency rule (ARCHITECTURE.md): domain/ and invariants/ are pure. They import
nothing of the adapters, no clock, no randomness, no I/O, and loading them loads no module
that performs I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE_FILES = sorted([*ROOT.glob("domain/*.py"), *ROOT.glob("invariants/*.py")])
FORBIDDEN_IMPORTS = {
    "adapters", "asyncio", "datetime", "grpc", "http", "logging", "os", "pathlib", "psycopg",
    "random", "secrets", "socket", "sqlite3", "subprocess", "threading", "time", "urllib", "uuid",
}  # fmt: skip
IO_MODULES = {
    "socket",
    "sqlite3",
    "psycopg",
    "grpc",
    "urllib.request",
    "http.client",
    "eventsourcing.persistence",
}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_pure_module_imports_no_clock_randomness_io_or_adapter(path):
    assert not (_imported_roots(path) & FORBIDDEN_IMPORTS)


def test_the_domain_imports_nothing_of_ours_outside_itself():
    for path in ROOT.glob("domain/*.py"):
        assert not (_imported_roots(path) & {"invariants", "adapters", "tests"}), path


def _rewritten_by_mutmut() -> bool:
    """Under ``make mutate`` these files are mutmut's rewrites, which import its runtime."""
    return any("mutmut" in _imported_roots(path) for path in PURE_FILES)


def test_loading_the_domain_and_invariants_loads_no_io_module():
    modules = [f"{p.parent.name}.{p.stem}" for p in PURE_FILES if p.stem != "__init__"]
    # mutmut's runtime (imported by every rewritten module) loads socket and threading
    # itself; there the test judges what loading our modules adds to it.
    runtime = "import mutmut.mutation.trampoline\n" if _rewritten_by_mutmut() else ""
    program = (
        f"import sys, importlib\n{runtime}before = set(sys.modules)\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(' '.join(set(sys.modules) - before))"
    )
    run = subprocess.run(  # noqa: S603 - our own interpreter on our own program
        [sys.executable, "-c", program], cwd=ROOT, check=True, capture_output=True, text=True
    )
    loaded = set(run.stdout.split())
    assert "domain.vault_math" in loaded
    assert not (loaded & IO_MODULES), loaded & IO_MODULES
