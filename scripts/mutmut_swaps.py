"""mutmut with the mutations money math needs and mutmut does not make: a rounding helper
swapped for its twin (``mul_div_down`` ↔ ``mul_div_up``, ``value_down`` ↔ ``value_up``,
``bps_down`` ↔ ``bps_up``) and ``min`` ↔ ``max``.

A swap is made only where the twin is a name the module can call (a builtin, or imported
or defined in that module): a swap to a name the module lacks would die of a NameError,
a kill that says nothing about the tests.

``python scripts/mutmut_swaps.py ARGS`` is ``mutmut ARGS`` with the swaps added to mutmut's
own operators, so the swap mutants are generated, run, shown and applied like the others
(``scripts/mutate.py`` runs it per module for ``make mutate``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

import libcst as cst

SWAPS = {
    "mul_div_down": "mul_div_up",
    "mul_div_up": "mul_div_down",
    "value_down": "value_up",
    "value_up": "value_down",
    "bps_down": "bps_up",
    "bps_up": "bps_down",
    "min": "max",
    "max": "min",
}
BUILTINS = {"min", "max"}

# The names the module being mutated can call; set per file before its mutants are made
# (mutmut makes a file's mutants in one process, in a pool forked after this is installed).
_callable_names: set[str] = set(BUILTINS)


def names_in_scope(code: str) -> set[str]:
    """Builtins we swap, plus every name a module imports or defines at its top level."""
    names = set(BUILTINS)
    for node in ast.parse(code).body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    return names


def operator_rounding_swap(node: cst.Call) -> Iterable[cst.Call]:
    """``f(...)`` → ``twin(...)`` for a rounding helper or min/max the module can call."""
    if isinstance(node.func, cst.Name):
        twin = SWAPS.get(node.func.value)
        if twin is not None and twin in _callable_names:
            yield node.with_changes(func=cst.Name(twin))


def is_swap(removed: str, added: str) -> bool:
    """Whether a mutant's one changed line is one of these swaps (for the report)."""
    for name, twin in SWAPS.items():
        if f"{name}(" in removed and removed.replace(f"{name}(", f"{twin}(", 1) == added:
            return True
    return False


def install() -> None:
    """Add the swap operator to mutmut's and make each file's scope known to it."""
    from mutmut.mutation import file_mutation, mutators  # noqa: PLC0415 - only when mutating

    if any(op is operator_rounding_swap for _, op in mutators.mutation_operators):
        return
    # mutmut's list of operators is the one object file_mutation iterates: append in place.
    mutators.mutation_operators.append((cst.Call, operator_rounding_swap))  # type: ignore[attr-defined]
    original = file_mutation.create_mutations

    def create_mutations(filename: str, code: str, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        _callable_names.clear()
        _callable_names.update(names_in_scope(code))
        return original(filename, code, *args, **kwargs)

    file_mutation.create_mutations = create_mutations


def main() -> None:
    install()
    from mutmut.__main__ import cli  # noqa: PLC0415 - after install

    cli()


if __name__ == "__main__":
    main()
