"""Gate for CrossHair's symbolic checks: every contract must be *confirmed over all paths*.

``crosshair check`` exits 0 when a condition merely times out ("Not confirmed"), so this
script runs it with ``--report_all``, reads every line, and fails on a counterexample, on
anything not confirmed, on CrossHair's own failure, and on a run that confirmed nothing.

With ``--expect-counterexample`` the roles flip, for known-bug fixtures: every function
named in the targets must get a counterexample, or the gate itself is broken.

Usage: python scripts/crosshair_check.py [--expect-counterexample] [--per-condition-timeout S] TARGET...
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import time
from pathlib import Path

CONFIRMED = re.compile(r"^(?P<where>\S+:\d+): info: Confirmed over all paths\.$")
LINE = re.compile(r"^(?P<file>\S+?):(?P<line>\d+): (?P<level>\w+): (?P<message>.*)$")


def run_crosshair(targets: list[str], per_condition_timeout: float) -> tuple[int, list[str]]:
    command = [
        sys.executable,
        "-m",
        "crosshair",
        "check",
        "--analysis_kind=PEP316",
        "--report_all",
        f"--per_condition_timeout={per_condition_timeout}",
        *targets,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return result.returncode, lines


def functions_with_contracts(path: Path) -> dict[str, tuple[int, int]]:
    """Each function whose docstring has a ``post:`` line, with its line span."""
    tree = ast.parse(path.read_text())
    found: dict[str, tuple[int, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            doc = ast.get_docstring(node) or ""
            if any(line.strip().startswith("post:") for line in doc.splitlines()):
                found[node.name] = (node.lineno, node.end_lineno or node.lineno)
    return found


def gate(targets: list[str], per_condition_timeout: float) -> int:
    started = time.monotonic()
    code, lines = run_crosshair(targets, per_condition_timeout)
    confirmed = [line for line in lines if CONFIRMED.match(line)]
    problems = [line for line in lines if not CONFIRMED.match(line)]
    elapsed = time.monotonic() - started
    for line in problems:
        print(f"crosshair: NOT PROVEN: {line}")
    if code != 0 and not problems:
        problems.append(f"crosshair exited {code}")
        print(f"crosshair: exited {code}")
    if not confirmed:
        problems.append("no condition was confirmed")
        print("crosshair: no condition was confirmed: the gate checked nothing")
    if problems:
        print(f"crosshair: FAILED: {len(problems)} problem(s), {len(confirmed)} confirmed ({elapsed:.0f}s)")
        return 1
    print(
        f"crosshair: {len(confirmed)} conditions confirmed over all paths "
        f"in {len(targets)} file(s) ({elapsed:.0f}s)"
    )
    return 0


def expect_counterexamples(targets: list[str], per_condition_timeout: float) -> int:
    """Every contract-bearing function of the fixtures must be refuted."""
    _, lines = run_crosshair(targets, per_condition_timeout)
    refuted_lines: dict[str, set[int]] = {}
    for line in lines:
        match = LINE.match(line)
        if match and match["level"] == "error":
            refuted_lines.setdefault(Path(match["file"]).resolve().as_posix(), set()).add(int(match["line"]))
    missing = []
    total = 0
    for target in targets:
        path = Path(target).resolve()
        for name, (first, last) in functions_with_contracts(path).items():
            total += 1
            if not any(first <= n <= last for n in refuted_lines.get(path.as_posix(), set())):
                missing.append(f"{target}:{first} {name}")
    for entry in missing:
        print(f"crosshair: known bug NOT caught: {entry}")
    if missing or total == 0:
        print(f"crosshair: FAILED: {len(missing)} of {total} known bugs not caught")
        return 1
    print(f"crosshair: all {total} known bugs caught with a counterexample")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("targets", nargs="+", help="Python files with PEP 316 contracts")
    parser.add_argument("--per-condition-timeout", type=float, default=20.0)
    parser.add_argument("--expect-counterexample", action="store_true")
    args = parser.parse_args()
    if args.expect_counterexample:
        return expect_counterexamples(args.targets, args.per_condition_timeout)
    return gate(args.targets, args.per_condition_timeout)


if __name__ == "__main__":
    raise SystemExit(main())
