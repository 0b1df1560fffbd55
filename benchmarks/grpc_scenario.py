"""Row 1 of ``make bench``: a real node served in its own process (``iit serve`` on a fresh
SQLite store, simulated clock, development mode on loopback) and a client here keeping 16
calls in flight: first Mint (each answered only once its group commit is durable), then
the standard health Check on the same server. Requests/s, p50 and p99 of each, and the
server process's peak RSS (VmHWM)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapters.grpc.stubs import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    oracle_pb2,
    oracle_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from benchmarks.uuid7 import uuid7

Figures = dict[str, Any]
IN_FLIGHT = 16
T0 = 1_700_000_000
WAD = 10**18


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _in_flight(send: Callable[[int], grpc.Future[Any]], total: int) -> tuple[float, list[float]]:
    """Keep ``IN_FLIGHT`` calls outstanding until ``total`` are answered; (seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()
    issued = 0
    answered = 0

    def issue() -> None:
        nonlocal issued
        with lock:
            if issued >= total:
                return
            number = issued
            issued += 1
        began = time.perf_counter()
        future = send(number)

        def finished(call: grpc.Future[Any]) -> None:
            nonlocal answered
            call.result()  # a failed call fails the benchmark, not a figure
            with lock:
                latencies.append(time.perf_counter() - began)
                answered += 1
                if answered == total:
                    done.set()
            issue()

        future.add_done_callback(finished)

    began = time.perf_counter()
    for _ in range(IN_FLIGHT):
        issue()
    if not done.wait(600):
        raise TimeoutError(f"only {answered} of {total} calls answered")
    return time.perf_counter() - began, latencies


def _summary(prefix: str, seconds: float, latencies: list[float]) -> Figures:
    ordered = sorted(latencies)
    return {
        f"{prefix}_per_s": len(ordered) / seconds,
        f"{prefix}_p50_ms": ordered[len(ordered) // 2] * 1000,
        f"{prefix}_p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
    }


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def grpc_mint(args: Figures) -> Figures:
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own CLI with this interpreter
        [
            sys.executable,
            "-c",
            "from adapters.cli import main; main()",
            "serve",
            "--store",
            f"sqlite:///{args['dir']}/grpc.db",
            "--listen",
            f"127.0.0.1:{port}",
            "--clock",
            "simulated",
            "--start",
            str(T0),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        oracle = oracle_pb2_grpc.OracleServiceStub(channel)
        token = token_pb2_grpc.TokenServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        admin.LaunchProduct(
            admin_pb2.LaunchProductRequest(
                product_id="B",
                components=[common_pb2.Component(symbol="BTC", quantity=str(WAD // 100))],
                params=common_pb2.Params(),
                request_id="launch",
            )
        )
        oracle.ReportPrice(
            oracle_pb2.ReportPriceRequest(
                symbol="BTC",
                price=str(60_000 * WAD),
                observed_at=Timestamp(seconds=T0),
                reporter_id="r1",
                request_id="price",
            )
        )
        total = args["calls"]

        def mint(number: int) -> grpc.Future[Any]:
            request = token_pb2.MintRequest(
                product_id="B",
                holder_id=f"h{number % 64}",
                collateral_amount=str(1_000 * 10**6),
                request_id=uuid7(),  # the recommended form (SPEC §2)
            )
            return token.Mint.future(request)

        def check(number: int) -> grpc.Future[Any]:
            answer: grpc.Future[Any] = health.Check.future(health_pb2.HealthCheckRequest())
            return answer

        _in_flight(check, IN_FLIGHT * 10)  # warm the channel and the server's threads
        figures = _summary("mint", *_in_flight(mint, total))
        figures |= _summary("check", *_in_flight(check, total))
        figures["server_peak_rss_mb"] = _peak_rss_mb(server.pid)
        channel.close()
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)
