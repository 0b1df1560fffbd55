"""The house's rooms (ARCHITECTURE.md, "The house as it stands"): one service layer that
alone calls the group-commit writer and knows nothing of gRPC, servicers that reach the
store only through it, and module names that say one job each."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "invariants", "adapters")
# Names that stand in several packages for the same kind of thing: a package's own
# module, the errors a layer defines, a server (the gRPC node's, the dashboard's).
SHARED_NAMES = {"__init__.py", "errors.py", "server.py"}


def _sources() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "generated" not in path.parts
    ]


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_only_the_service_layer_calls_the_group_commit_writer():
    """``adapters/grpc/errors.py`` names the writer's ``WriterClosed`` in the status table."""
    callers = {
        _name(path)
        for path in _sources()
        if "adapters.store.writer" in _imported_modules(path)
        and _name(path) not in {"adapters/store/writer.py", "adapters/grpc/errors.py"}
    }
    assert callers == {"adapters/service/commits.py"}


def test_the_service_layer_knows_nothing_of_grpc():
    for path in (ROOT / "adapters" / "service").glob("*.py"):
        grpc = {
            m for m in _imported_modules(path) if m.split(".")[0] == "grpc" or m.startswith("adapters.grpc")
        }
        assert not grpc, (_name(path), grpc)


def test_servicers_reach_the_store_only_through_the_service_layer():
    for path in (ROOT / "adapters" / "grpc").glob("*_servicer.py"):
        writes = {m for m in _imported_modules(path) if m in {"adapters.store.node", "adapters.store.writer"}}
        assert not writes, (_name(path), writes)


def test_no_two_modules_share_a_name_unless_they_are_the_same_kind_of_thing():
    where: dict[str, list[str]] = defaultdict(list)
    for path in _sources():
        where[path.name].append(_name(path))
    shared = {name: paths for name, paths in where.items() if len(paths) > 1 and name not in SHARED_NAMES}
    assert shared == {}
