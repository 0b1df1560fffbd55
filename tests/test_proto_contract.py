"""The contract protects itself: buf (from npm) lints proto/, finds no breaking change
against main's previous contract, and does fail on a renamed field in a scratch copy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUF = ROOT / "node_modules" / ".bin" / "buf"


def _buf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert BUF.exists(), "buf is missing: run `npm ci` (make test does)"
    command = [str(BUF), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603


def test_proto_check_passes_on_this_tree() -> None:
    done = subprocess.run(  # noqa: S603
        [str(ROOT / "scripts" / "proto_check.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no breaking change" in done.stdout


def test_buf_breaking_fails_on_a_renamed_field_in_a_scratch_copy(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    shutil.copytree(ROOT / "proto", scratch / "proto")
    shutil.copy(ROOT / "buf.yaml", scratch / "buf.yaml")
    token = scratch / "proto" / "iit" / "v1" / "token.proto"
    text = token.read_text()
    assert "  string collateral_amount = 3;" in text
    token.write_text(text.replace("  string collateral_amount = 3;", "  string collateral = 3;", 1))
    assert _buf("lint", cwd=scratch).returncode == 0  # still well-formed: only the contract broke
    done = _buf("breaking", "--against", str(ROOT / "proto"), cwd=scratch)
    assert done.returncode != 0
    assert 'changed name from "collateral_amount" to "collateral"' in done.stdout + done.stderr
    # The unchanged copy is not a breaking change (the check is not always failing).
    token.write_text(text)
    assert _buf("breaking", "--against", str(ROOT / "proto"), cwd=scratch).returncode == 0


def test_buf_lint_fails_on_a_badly_named_message(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    shutil.copytree(ROOT / "proto", scratch / "proto")
    shutil.copy(ROOT / "buf.yaml", scratch / "buf.yaml")
    common = scratch / "proto" / "iit" / "v1" / "common.proto"
    common.write_text(common.read_text() + "\nmessage bad_name {}\n")
    done = _buf("lint", cwd=scratch)
    assert done.returncode != 0
    assert "bad_name" in done.stdout
