"""The ``grpc.aio`` probe of RESULTS.md (row 1, issue 16): the same minimal Mint path
through the ``GroupCommitWriter`` behind a sync ``grpc.server`` (a pool thread per call,
``writer.execute``) and behind ``grpc.aio`` (the handler awaits ``writer.submit``), each
in its own process on a fresh SQLite store, 16 calls in flight as row 1, then health-style
Checks on the same server. Not part of ``make bench``:

    python -m benchmarks.aio_probe DIR [CALLS] [ROUNDS]

prints one JSON line per server and round (rounds alternate which server goes first)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

from adapters.grpc.stubs import token_pb2
from adapters.store.node import Node
from adapters.store.writer import GroupCommitWriter
from benchmarks.grpc_scenario import _free_port, _in_flight, _summary
from benchmarks.uuid7 import uuid7
from benchmarks.workload import NOW, USDC, launch
from domain import commands as cmd

Figures = dict[str, Any]
SERVICE = "probe.Probe"
SERVING = 1  # HealthCheckResponse.SERVING


def _mint_command(request: Any) -> cmd.Command:  # noqa: ANN401 - a generated message
    return cmd.Mint(request.holder_id, int(request.collateral_amount), 0)


def _handlers(mint: Any, check: Any) -> grpc.GenericRpcHandler[Any, Any]:  # noqa: ANN401 - sync or async behaviours
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Mint": grpc.unary_unary_rpc_method_handler(
                mint, token_pb2.MintRequest.FromString, token_pb2.MintResponse.SerializeToString
            ),
            "Check": grpc.unary_unary_rpc_method_handler(
                check,
                health_pb2.HealthCheckRequest.FromString,
                health_pb2.HealthCheckResponse.SerializeToString,
            ),
        },
    )


def serve(mode: str, path: str, port: int) -> None:
    """Serve the probe's two methods until terminated; print ``ready`` once listening."""
    node = Node({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})
    launch(node, "P")
    writer = GroupCommitWriter(node)
    if mode == "sync":

        def mint(request: Any, context: Any) -> Any:  # noqa: ANN401
            writer.execute(request.product_id, _mint_command(request), request.request_id, NOW)
            return token_pb2.MintResponse()

        def check(request: Any, context: Any) -> Any:  # noqa: ANN401
            return health_pb2.HealthCheckResponse(status=SERVING)

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        server.add_generic_rpc_handlers((_handlers(mint, check),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        print("ready", flush=True)
        server.wait_for_termination()
        return

    async def main() -> None:
        async def mint(request: Any, context: Any) -> Any:  # noqa: ANN401
            submitted = writer.submit(request.product_id, _mint_command(request), request.request_id, NOW)
            await asyncio.wrap_future(submitted)
            return token_pb2.MintResponse()

        async def check(request: Any, context: Any) -> Any:  # noqa: ANN401
            return health_pb2.HealthCheckResponse(status=SERVING)

        server = grpc.aio.server()
        server.add_generic_rpc_handlers((_handlers(mint, check),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        print("ready", flush=True)
        await server.wait_for_termination()

    asyncio.run(main())


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _context_switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            lines = (task / "status").read_text().splitlines()
        except OSError:  # a thread that ended meanwhile
            continue
        total += sum(int(line.split(":")[1]) for line in lines if "ctxt_switches" in line)
    return total


def measure(mode: str, directory: str, calls: int) -> Figures:
    """One server process of ``mode``: Mint then Check rates, server CPU and switches per call."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - this interpreter and module
        [
            sys.executable,
            "-m",
            "benchmarks.aio_probe",
            "--serve",
            mode,
            f"{directory}/{mode}-{time.time_ns()}.db",
            str(port),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the probe's server did not start")
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        mint_call = channel.unary_unary(
            f"/{SERVICE}/Mint",
            request_serializer=token_pb2.MintRequest.SerializeToString,
            response_deserializer=token_pb2.MintResponse.FromString,
        )
        check_call = channel.unary_unary(
            f"/{SERVICE}/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )

        def mint(number: int) -> grpc.Future[Any]:
            request = token_pb2.MintRequest(
                product_id="P",
                holder_id=f"h{number % 64}",
                collateral_amount=str(100 * USDC),
                request_id=uuid7(),
            )
            answer: grpc.Future[Any] = mint_call.future(request)
            return answer

        def check(number: int) -> grpc.Future[Any]:
            answer: grpc.Future[Any] = check_call.future(health_pb2.HealthCheckRequest())
            return answer

        _in_flight(check, 160)  # warm the channel and the server
        figures: Figures = {"mode": mode}
        for name, send in (("mint", mint), ("check", check)):
            cpu, switches = _cpu_s(server.pid), _context_switches(server.pid)
            figures |= _summary(name, *_in_flight(send, calls))
            figures[f"{name}_server_cpu_us"] = (_cpu_s(server.pid) - cpu) / calls * 1e6
            figures[f"{name}_context_switches"] = (_context_switches(server.pid) - switches) / calls
        figures["ratio"] = figures["mint_per_s"] / figures["check_per_s"]
        channel.close()
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    if sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    directory = sys.argv[1]
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 3_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    for number in range(rounds):
        for mode in ("sync", "aio") if number % 2 == 0 else ("aio", "sync"):
            figures = measure(mode, directory, calls)
            print(
                json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}),
                flush=True,
            )


if __name__ == "__main__":
    main()
