"""The CrossHair gate fails on what CrossHair leaves unproven, not only on counterexamples
(CrossHair itself exits 0 when a condition times out)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GATE = ROOT / "scripts" / "crosshair_check.py"
FIXTURES = ROOT / "tests" / "crosshair_fixtures"


def _gate(*args: str, timeout_s: int = 3) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(GATE), "--per-condition-timeout", str(timeout_s), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_the_gate_passes_contracts_confirmed_over_all_paths():
    result = _gate("domain/accrual.py", timeout_s=20)
    assert result.returncode == 0, result.stdout
    assert "conditions confirmed over all paths" in result.stdout


def test_the_gate_fails_on_a_condition_crosshair_could_not_confirm():
    result = _gate(str(FIXTURES / "unprovable.py"))
    assert result.returncode == 1
    assert "Not confirmed" in result.stdout


def test_the_gate_fails_on_a_counterexample_and_the_fixtures_are_all_refuted():
    known_bugs = str(FIXTURES / "known_bugs.py")
    assert _gate(known_bugs).returncode == 1
    caught = _gate("--expect-counterexample", known_bugs)
    assert caught.returncode == 0, caught.stdout
    assert "all 4 known bugs caught" in caught.stdout


def test_expecting_counterexamples_fails_when_the_code_is_correct():
    result = _gate("--expect-counterexample", "domain/fixedpoint.py")
    assert result.returncode == 1
    assert "NOT caught" in result.stdout
