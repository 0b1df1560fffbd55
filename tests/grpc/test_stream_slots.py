"""SPEC §7, bounded resources: clients that open StreamEvents and never read cannot starve
the other callers. Each stream (replay or follow) holds a server thread while its client
does not read (flow control blocks the send), so streams take slots from a bounded pool
and unary calls and health checking keep the rest of the threads."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapters.grpc.server import MAX_STREAMS, MAX_WORKERS
from adapters.grpc.stubs import audit_pb2, audit_pb2_grpc, token_pb2
from adapters.store.contract import Request
from adapters.store.node import Node
from domain import commands as cmd
from domain.params import default_params
from tests.grpc.conftest import TOKENS, start
from tests.support import DEFAULT_COMPONENTS, DEFAULT_PRICES, USDC

T0 = 1_700_000_000
PROMPT_S = 15  # generous: the machine is shared; without the bound these calls never answer


def _a_long_log(url: str, mints: int = 2_000) -> None:
    """More events than any flow-control window holds: an unread replay blocks its sender."""
    node = Node.open(url)
    node.execute("P", cmd.LaunchProduct("P", DEFAULT_COMPONENTS, default_params()), "launch", T0)
    for symbol, price in DEFAULT_PRICES.items():
        node.execute("P", cmd.ReportPrice(symbol, price, T0, "r1"), f"px-{symbol}", T0)
    for first in range(0, mints, 500):
        node.execute_batch(
            [
                Request("P", cmd.Mint("alice", 10 * USDC, 0), f"seed-{i}", T0)
                for i in range(first, first + 500)
            ]
        )
    node.close()


def test_unread_streams_twice_the_worker_count_do_not_starve_unary_calls_or_health(tmp_path):
    _a_long_log(f"sqlite:///{tmp_path}/iit.db")
    node = start(tmp_path)
    channels: list[grpc.Channel] = []
    calls = []
    try:
        metadata = (("authorization", f"Bearer {TOKENS['admin']}"),)
        for index in range(2 * MAX_WORKERS):
            # One connection each, with no window growth: the client buffers little.
            channel = grpc.insecure_channel(node.address, options=[("grpc.http2.bdp_probe", 0)])
            channels.append(channel)
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            request = audit_pb2.StreamEventsRequest(from_position=0, follow=index % 2 == 1)
            calls.append(stub.StreamEvents(request, metadata=metadata))  # started, never read
        health = health_pb2_grpc.HealthStub(node.channel)
        for attempt in range(3):
            answer = health.Check(health_pb2.HealthCheckRequest(), timeout=PROMPT_S)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            product = node.admin.token.GetProduct(
                token_pb2.GetProductRequest(product_id="P"), metadata=node.admin.md, timeout=PROMPT_S
            )
            assert product.product_id == "P"
            minted = node.alice.token.Mint(
                token_pb2.MintRequest(
                    product_id="P", holder_id="alice", collateral_amount=str(USDC), request_id=f"m-{attempt}"
                ),
                metadata=node.alice.md,
                timeout=PROMPT_S,
            )
            assert minted.tokens_minted
        # The streams beyond the bound were told so at once; those within it stream on.
        refused = 0
        for call in calls:
            if call.done():
                assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, call.code()
                refused += 1
        assert refused >= 2 * MAX_WORKERS - MAX_STREAMS
        held = [call for call in calls if not call.done()]
        assert next(held[0]).type == "ProductLaunched"
    finally:
        for call in calls:
            call.cancel()
        for channel in channels:
            channel.close()
        node.close()
