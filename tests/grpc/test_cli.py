"""The `iit` commands as a user runs them: `serve` in a subprocess with an auth file and
metrics, `events` against it, `demo` end to end, and the development-mode guard."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.cli import main
from adapters.grpc.client import Client
from adapters.grpc.stubs import admin_pb2, common_pb2, oracle_pb2, token_pb2

IIT = str(Path(sys.prefix) / "bin" / "iit")
ADMIN = "cli-admin-token-0000000001"
ALICE = "cli-alice-token-0000000001"
ORACLE = "cli-oracle-token-000000001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(address: str, timeout_s: float = 20) -> None:
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    finally:
        channel.close()


@pytest.fixture
def served(tmp_path):
    auth_file = tmp_path / "auth.toml"
    auth_file.write_text(
        f'[[tokens]]\ntoken = "{ADMIN}"\nrole = "admin"\n\n'
        f'[[tokens]]\ntoken = "{ALICE}"\nrole = "holder"\nholder_id = "alice"\n\n'
        f'[[tokens]]\ntoken = "{ORACLE}"\nrole = "oracle"\nreporter_id = "r1"\n'
    )
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IIT_")}
    process = subprocess.Popen(  # noqa: S603
        [
            IIT,
            "serve",
            "--store",
            f"sqlite:///{tmp_path}/served.db",
            "--listen",
            f"127.0.0.1:{port}",
            "--auth-file",
            str(auth_file),
            "--metrics-listen",
            f"127.0.0.1:{metrics_port}",
            "--keeper-interval",
            "0.2",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(f"127.0.0.1:{port}")
        yield f"127.0.0.1:{port}", metrics_port, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def test_serve_answers_writes_json_logs_serves_metrics_and_stops_on_sigterm(served):
    address, metrics_port, process = served
    channel = grpc.insecure_channel(address)
    admin = Client(channel, ADMIN)
    admin.admin.LaunchProduct(
        admin_pb2.LaunchProductRequest(
            product_id="P",
            components=[common_pb2.Component(symbol="BTC", quantity=str(10**18))],
            request_id="l",
        ),
        metadata=admin.md,
    )
    with pytest.raises(grpc.RpcError) as caught:
        admin.as_(None).token.GetProduct(token_pb2.GetProductRequest(product_id="P"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    assert (
        'grpc_server_handled_total{grpc_code="OK",grpc_method="LaunchProduct",'
        'grpc_service="iit.v1.AdminService",grpc_type="unary"} 1.0'
    ) in metrics
    assert (
        'iit_rejections_total{grpc_method="GetProduct",grpc_service="iit.v1.TokenService",'
        'reason="Unauthenticated"} 1.0'
    ) in metrics
    assert "grpc_server_handling_seconds_bucket" in metrics
    assert 'iit_nav_per_token{product_id="P"} 1.0' in metrics
    # A price and a holder: the streaming fee now accrues, so the keeper's ticks write events
    # (an idle product's ticks write nothing, and the keeper logs only what it wrote).
    channel = grpc.insecure_channel(address)
    oracle, alice = Client(channel, ORACLE), Client(channel, ALICE)
    oracle.oracle.ReportPrice(
        oracle_pb2.ReportPriceRequest(
            symbol="BTC",
            price=str(60_000 * 10**18),
            observed_at=Timestamp(seconds=int(time.time())),
            reporter_id="r1",
            request_id="p",
        ),
        metadata=oracle.md,
    )
    alice.token.Mint(
        token_pb2.MintRequest(
            product_id="P", holder_id="alice", collateral_amount="1000000000", request_id="m"
        ),
        metadata=alice.md,
    )
    channel.close()
    time.sleep(2.5)  # the wall-clock keeper ticks on its own (once a second at most per product)
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    lines = [json.loads(line) for line in process.stderr.read().splitlines() if line.startswith("{")]
    assert any(line["msg"] == "serving" and line["clock"] == "wall" for line in lines)
    rpcs = [line for line in lines if line["msg"] == "rpc"]
    assert {"method": "AdminService/LaunchProduct", "code": "OK", "caller": "admin"}.items() <= rpcs[
        0
    ].items()
    assert not any("DEVELOPMENT MODE" in line["msg"] for line in lines)
    assert any(line["msg"] == "keeper" and line["product_id"] == "P" for line in lines)


def test_events_tails_a_running_node_human_readable_and_as_json(served):
    address, _, _ = served
    channel = grpc.insecure_channel(address)
    admin = Client(channel, ADMIN)
    admin.admin.LaunchProduct(
        admin_pb2.LaunchProductRequest(
            product_id="P",
            components=[common_pb2.Component(symbol="BTC", quantity=str(10**18))],
            request_id="l",
        ),
        metadata=admin.md,
    )
    channel.close()
    runner = CliRunner()
    text = runner.invoke(main, ["events", "--address", address, "--token", ADMIN])
    assert text.exit_code == 0, text.output
    assert "ProductLaunched" in text.output
    as_json = runner.invoke(main, ["events", "--address", address, "--token", ADMIN, "--json"])
    first = json.loads(as_json.output.splitlines()[0])
    assert first["type"] == "ProductLaunched"
    assert first["prev_hash"] == "0" * 64
    assert first["payload"]["product_id"] == "P"
    refused = runner.invoke(main, ["events", "--address", address])
    assert refused.exit_code == 2
    assert "UNAUTHENTICATED" in refused.output


def test_serve_without_credentials_refuses_a_public_address(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IIT_")}
    done = subprocess.run(  # noqa: S603
        [IIT, "serve", "--store", f"sqlite:///{tmp_path}/x.db", "--listen", "0.0.0.0:0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "development mode" in done.stderr


def test_serve_without_credentials_warns_loudly_on_loopback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IIT_")}
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [IIT, "serve", "--store", f"sqlite:///{tmp_path}/x.db", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(f"127.0.0.1:{port}")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
    assert "DEVELOPMENT MODE" in process.stderr.read()


def test_demo_tells_the_story_and_ends_with_a_clean_audit():
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    for moment in (
        "rebalance (ripcord)",
        "rejected: FAILED_PRECONDITION: ProductPaused",
        "3 of 3 rounds accepted, 0 halts",
        "HALTED",
        "rejected: FAILED_PRECONDITION: ProductHalted",
        "halt resolved by quorum",
        "rebalance (schedule)",
    ):
        assert moment in result.output, moment
    assert result.output.rstrip().endswith("clean")


@pytest.mark.parametrize("command", ["serve", "demo", "audit", "events"])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output


def test_events_follow_streams_a_mint_as_it_commits(ready):
    from tests.grpc.conftest import TOKENS, USDC  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if not k.startswith("IIT_")}
    process = subprocess.Popen(  # noqa: S603
        [IIT, "events", "--address", ready.address, "--token", TOKENS["admin"], "--follow", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    try:
        assert json.loads(lines.get(timeout=20))["type"] == "ProductLaunched"  # the replay first
        ready.mint("alice", 1_000 * USDC, "live")
        while True:
            event = json.loads(lines.get(timeout=20))  # queue.Empty fails the test
            if event["type"] == "Minted":
                break
        assert event["payload"]["holder_id"] == "alice"
        assert event["request_id"] == "live"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
