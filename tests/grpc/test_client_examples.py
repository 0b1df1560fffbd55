"""The client examples of the README, run against a real node: the Python one, and the
TypeScript one compiled with tsc and run under Node with @grpc/grpc-js (installed by
`npm ci`, which `make test` and `.ci/run` do)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from adapters.grpc.stubs import admin_pb2
from tests.grpc.conftest import TOKENS, USDC, Harness

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "node_modules" / ".bin"


def _example_args(ready: Harness) -> list[str]:
    return ["--address", ready.address, "--product", "P", "--holder", "alice", "--token", TOKENS["alice"],
            "--collateral", str(10 * USDC)]  # fmt: skip


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603


def _check_story(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    quoted = lines[0].split()[1]
    assert lines[0].startswith("quote: ")
    assert lines[1].startswith(f"minted: {quoted} tokens")  # the preview was exact
    assert lines[2].startswith("activity: mint ")


def _check_paused(ready: Harness, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 1
    assert "failed: FAILED_PRECONDITION ProductPaused: ProductPaused: product P is paused" in done.stdout


def _pause(ready: Harness) -> None:
    ready.admin.admin.Pause(
        admin_pb2.PauseRequest(product_id="P", request_id="pause"), metadata=ready.admin.md
    )


def test_the_python_example(ready: Harness) -> None:
    _check_story(_run([sys.executable, "examples/python_client.py", *_example_args(ready)]))
    _pause(ready)
    _check_paused(ready, _run([sys.executable, "examples/python_client.py", *_example_args(ready)]))


def test_the_typescript_example_under_node(ready: Harness) -> None:
    assert (BIN / "tsc").exists(), "node_modules is missing: run `npm ci` (make test does)"
    compiled = _run([str(BIN / "tsc"), "-p", "examples/typescript"])
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    script = "examples/typescript/dist/quote_and_mint.js"
    _check_story(_run(["node", script, *_example_args(ready)]))
    _pause(ready)
    _check_paused(ready, _run(["node", script, *_example_args(ready)]))
