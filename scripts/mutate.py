"""``make mutate``: mutation testing of domain/ and invariants/, reported module by module.

``scripts/mutmut_swaps.py run`` (mutmut plus the rounding-helper and min/max swaps),
given the modules, mutates every function and runs, against each mutant, only the tests that
call that function: mutmut records them in one traced run of the suite (the selection in
``[tool.mutmut]`` of pyproject.toml), which is the map from each module to the tests that
reach it. Then this script prints a table per module, writes every survivor that
``mutation-equivalents.toml`` does not explain, with its diff, to ``mutants/survivors.txt``,
and exits 1 if there is one or a module misses its target.

Usage: python scripts/mutate.py [--max-children N] [--report-only | --survivors | --resume] [MODULE ...]
(modules as ``domain.fixedpoint``; all of domain/ and invariants/ by default).
``--survivors`` runs again only the last run's unexplained survivors (after adding tests);
``--resume`` runs those and the mutants not run yet (after a run was stopped), not the
killed ones again (naming modules makes mutmut run every mutant of them again).
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from attrs import frozen

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from mutmut_swaps import is_swap  # noqa: E402 - a sibling script, found through SCRIPTS

EQUIVALENTS = ROOT / "mutation-equivalents.toml"
WORK = ROOT / "mutants"
SURVIVORS = WORK / "survivors.txt"
TRACED = WORK / "traced-sources.sha256"  # the sources mutmut's map of tests was traced on
# The money math must be nearly airtight; the rest of the domain at least 95 %.
STRICT = {"domain.fixedpoint", "domain.vault_math", "domain.accrual", "domain.oracle"}
STRICT_TARGET, TARGET = 0.97, 0.95
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


@frozen
class Mutant:
    name: str
    module: str
    function: str
    status: str
    removed: str
    added: str
    diff: str

    @property
    def swap(self) -> bool:
        return is_swap(self.removed, self.added)


@frozen
class Equivalent:
    function: str
    removed: str
    added: str
    reason: str


def not_mutated(path: Path) -> bool:
    """Whether ``[tool.mutmut] do_not_mutate`` of pyproject.toml leaves this file out."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"].get("do_not_mutate", [])
    return any(fnmatch.fnmatch(str(path.relative_to(ROOT)), pattern) for pattern in patterns)


def all_modules() -> list[str]:
    """Every module of domain/ and invariants/ that mutmut mutates, the money math first."""
    paths = sorted([*ROOT.glob("domain/*.py"), *ROOT.glob("invariants/*.py")])
    modules = [f"{p.parent.name}.{p.stem}" for p in paths if p.stem != "__init__" and not not_mutated(p)]
    return sorted(modules, key=lambda m: (m not in STRICT, m.startswith("invariants."), m))


def sources_fingerprint() -> str:
    """A hash of every file of domain/ and invariants/, names and contents."""
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("domain/*.py"), *ROOT.glob("invariants/*.py")]):
        digest.update(f"{path.relative_to(ROOT)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def retrace_if_the_sources_changed() -> None:
    """Make mutmut trace every test again when domain/ or invariants/ changed since its map
    of the tests reaching each function was made. mutmut updates that map only by running
    the tests it has not seen: a function new or moved to another module (as when a module
    is split) is then mapped to the new tests alone, and its mutants "survive" tests that
    never ran against them. Removing the map makes the next run trace the whole selection."""
    stats = WORK / "mutmut-stats.json"
    if stats.exists() and (not TRACED.exists() or TRACED.read_text() != sources_fingerprint()):
        print("domain/ or invariants/ changed since the last trace: tracing every test again", flush=True)
        stats.unlink()


def drop_stale_copies() -> None:
    """Remove mutmut's copies of the tests and of ``also_copy``: mutmut copies them anew
    over the old ones and never deletes a file, so a test or module moved away since the
    last run would still run there (a layering test then fails on the ghost, and the run
    with it)."""
    for name in ("tests", "adapters", "scripts"):
        shutil.rmtree(WORK / name, ignore_errors=True)


def run_mutmut(label: str, names: list[str], max_children: int) -> float:
    """Test the mutants ``names`` (globs allowed); mutmut's output goes to mutants/logs/."""
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    retrace_if_the_sources_changed()
    drop_stale_copies()
    # mutmut's map is now of these sources, or (deleted above, or never made) will be
    # traced on them first: recorded now, so that a run stopped midway keeps its map.
    TRACED.parent.mkdir(parents=True, exist_ok=True)
    TRACED.write_text(sources_fingerprint())
    started = time.monotonic()
    with (logs / f"{label}.log").open("w") as log:
        result = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(SCRIPTS / "mutmut_swaps.py"), "run", "--max-children", str(max_children),
             *names],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        print(f"mutmut failed on {label} (exit {result.returncode}); see mutants/logs/{label}.log")
    return time.monotonic() - started


def changed_line(diff: str) -> tuple[str, str]:
    """The removed and added line of a mutant's diff, stripped (several joined by ' | ')."""
    removed = [line[1:].strip() for line in diff.splitlines() if line[:1] == "-" and line[:3] != "---"]
    added = [line[1:].strip() for line in diff.splitlines() if line[:1] == "+" and line[:3] != "+++"]
    return " | ".join(removed), " | ".join(added)


def read_results(modules: list[str]) -> list[Mutant]:
    """Every mutant of ``modules`` with its status and diff, from mutmut's files."""
    cwd = Path.cwd()
    os.chdir(ROOT)  # mutmut reads its files relative to the working directory
    try:
        from mutmut.mutation.data import MutantLineSpans, SourceFileMutationData  # noqa: PLC0415
        from mutmut.mutation.diff_apply import get_diff_for_mutant  # noqa: PLC0415
        from mutmut.stats import status_by_exit_code  # noqa: PLC0415

        mutants = []
        for module in modules:
            path = Path(*module.split(".")).with_suffix(".py")
            data = SourceFileMutationData(path=path)
            data.load()
            spans = MutantLineSpans.load(path)
            lines = (WORK / path).read_text().splitlines() if spans is not None else []
            for name, exit_code in sorted(data.exit_code_by_key.items()):
                status = status_by_exit_code[exit_code]
                diff = diff_from_spans(name, path, spans, lines) or get_diff_for_mutant(name, path=path)
                removed, added = changed_line(diff)
                function = name.rsplit("__mutmut_", 1)[0].replace(".x_", ".").replace("xǁ", "")
                mutants.append(Mutant(name, module, function.replace("ǁ", "."), status, removed, added, diff))
        return mutants
    finally:
        os.chdir(cwd)


def diff_from_spans(name: str, path: Path, spans: Any, lines: list[str]) -> str | None:  # noqa: ANN401
    """The diff of a mutant against its original, from the lines mutmut's index gives both
    functions in the mutated file: a text diff of the two copies, each renamed to the
    function they were made from (mutmut's own ``get_diff_for_mutant`` parses both with
    libcst, a tenth of a second a mutant: minutes for a report of every module). None when
    the index lacks them (then mutmut's own is used)."""
    generated = name.rpartition(".")[-1]
    original = generated.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    if spans is None or generated not in spans.span_by_function_name:
        return None
    if original not in spans.span_by_function_name:
        return None
    plain = generated.rsplit("__mutmut_", 1)[0].removeprefix("x_").rpartition("ǁ")[-1]

    def text(function: str) -> list[str]:
        span = spans.span_by_function_name[function]
        body = lines[span.start - 1 : span.end]
        return [line.replace(function, plain) for line in body]

    return "\n".join(
        difflib.unified_diff(
            text(original), text(generated), fromfile=str(path), tofile=str(path), lineterm=""
        )
    )


def is_survivor(mutant: Mutant) -> bool:
    """Run, and no test failed (not killed, not still waiting to be run)."""
    return mutant.status not in KILLED and mutant.status != "not checked"


def is_equivalent(mutant: Mutant, equivalents: list[Equivalent]) -> bool:
    return is_survivor(mutant) and is_explained(mutant, equivalents)


def load_equivalents() -> list[Equivalent]:
    data = tomllib.loads(EQUIVALENTS.read_text()) if EQUIVALENTS.exists() else {}
    return [Equivalent(**entry) for entry in data.get("equivalent", [])]


def only_an_assert_message(mutant: Mutant) -> bool:
    """A mutant that changes only the message of an ``assert``: the message is built only
    when the assertion fails, and then the run fails whatever it says."""
    removed, added = mutant.removed, mutant.added
    return (
        removed.startswith("assert ")
        and " | " not in removed
        and removed.split(", ", 1)[0] == added.split(", ", 1)[0]
        and removed != added
    )


def is_explained(mutant: Mutant, equivalents: list[Equivalent]) -> bool:
    return only_an_assert_message(mutant) or any(
        e.function == mutant.function and e.removed == mutant.removed and e.added == mutant.added
        for e in equivalents
    )


def table(modules: list[str], mutants: list[Mutant], equivalents: list[Equivalent]) -> tuple[str, bool]:
    """The per-module table (Markdown) and whether every module met its target."""
    rows = [
        "| module | mutants | killed | survived | no tests | not run | equivalent | kill rate | raw rate "
        "| target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    all_met = True

    def row(label: str, group: list[Mutant], target: float | None) -> None:
        nonlocal all_met
        counts = Counter("killed" if m.status in KILLED else m.status for m in group)
        unrun = counts["not checked"]
        equivalent = sum(1 for m in group if is_equivalent(m, equivalents))
        run, judged = len(group) - unrun, len(group) - unrun - equivalent
        if not run:
            rows.append(f"| {label} | {len(group)} | | | | {unrun} | | | | not run |")
            all_met &= target is None
            return
        rate = counts["killed"] / judged if judged else 1.0
        met = "" if target is None else ("met" if rate >= target else f"MISSED (≥ {target:.0%})")
        if unrun and target is not None:
            met = f"{met} so far, {unrun} not run"
        all_met &= target is None or (rate >= target and not unrun)
        rows.append(
            f"| {label} | {len(group)} | {counts['killed']} | {counts['survived']} | {counts['no tests']} "
            f"| {unrun} | {equivalent} | {rate:.1%} | {counts['killed'] / run:.1%} | {met} |"
        )

    for module in modules:
        group = [m for m in mutants if m.module == module]
        if group:
            row(module.split(".", 1)[1] if module.startswith("domain.") else module, group,
                STRICT_TARGET if module in STRICT else TARGET)  # fmt: skip
    row("(of which rounding / min-max swaps)", [m for m in mutants if m.swap], None)
    row("all", mutants, None)
    return "\n".join(rows), all_met


def write_survivors(survivors: list[Mutant]) -> None:
    WORK.mkdir(exist_ok=True)
    with SURVIVORS.open("w") as out:
        out.write(f"# {len(survivors)} survivors not listed in mutation-equivalents.toml\n\n")
        for m in survivors:
            out.write(f"## {m.name} ({m.status}){' [swap]' if m.swap else ''}\n{m.diff}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("modules", nargs="*", help="e.g. domain.fixedpoint (default: all)")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutants (default 2)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--report-only", action="store_true", help="report the last results, run nothing")
    what.add_argument("--survivors", action="store_true", help="run the last unexplained survivors again")
    what.add_argument("--resume", action="store_true", help="run the survivors and the mutants not run yet")
    args = parser.parse_args()
    modules = args.modules or all_modules()
    unknown = set(modules) - set(all_modules())
    if unknown:
        parser.error(f"not a module of domain/ or invariants/: {', '.join(sorted(unknown))}")
    equivalents = load_equivalents()
    if args.survivors or args.resume:
        names = [
            m.name
            for m in read_results(modules)
            if (m.status in {"survived", "no tests"} and not is_explained(m, equivalents))
            or (args.resume and m.status == "not checked")
        ]
        label = "resume" if args.resume else "survivors"
        if names:
            print(f"{len(names)} mutants again: {run_mutmut(label, names, args.max_children):.0f} s")
    elif not args.report_only:
        # One mutmut run for all modules: each run first runs every test reaching its
        # mutants once, clean, which is minutes that a run per module would repeat.
        label = modules[0] if len(modules) == 1 else "run"
        elapsed = run_mutmut(label, [f"{module}.*" for module in modules], args.max_children)
        print(f"{len(modules)} modules: {elapsed:.0f} s", flush=True)
    mutants = read_results(modules)
    survivors = [m for m in mutants if is_survivor(m) and not is_explained(m, equivalents)]
    text, all_met = table(modules, mutants, equivalents)
    print(text)
    write_survivors(survivors)
    unrun = sum(1 for m in mutants if m.status == "not checked")
    print(f"\n{len(survivors)} survivors not listed as equivalent: {SURVIVORS.relative_to(ROOT)}")
    if unrun:
        print(f"{unrun} mutants not run yet: `make mutate` runs them")
    return 0 if all_met and not survivors and not unrun else 1


if __name__ == "__main__":
    sys.exit(main())
