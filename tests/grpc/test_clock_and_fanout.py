"""The node's clock modes, and a price fanned out to products that judge it differently."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.grpc import auth
from adapters.grpc.server import NodeConfig, start_node
from adapters.grpc.stubs import keeper_pb2, oracle_pb2, token_pb2
from tests.grpc.conftest import ENTRIES, PRICES, T0, USDC, WAD, Harness, start
from tests.grpc.helpers import rejected


def test_a_wall_clock_node_ticks_now_and_refuses_another_moment(tmp_path):
    config = NodeConfig(
        store_url=f"sqlite:///{tmp_path}/iit.db",
        listen="127.0.0.1:0",
        clock="wall",
        auth=auth.build(ENTRIES),
        keeper_interval_s=3_600,
    )
    node = Harness(start_node(config), config.store_url)
    try:
        response = node.admin.keeper.Tick(keeper_pb2.TickRequest(), metadata=node.admin.md)
        assert abs(response.now.seconds - node.running.service.now()) <= 2
        rejected(
            lambda: node.admin.keeper.Tick(
                keeper_pb2.TickRequest(now=Timestamp(seconds=T0)), metadata=node.admin.md
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "WallClockTick",
            "runs on the wall clock",
        )
    finally:
        node.close()


def test_a_simulated_node_restarted_on_its_store_resumes_at_its_last_event(tmp_path):
    node = start(tmp_path)
    node.ready()
    node.mint("alice", 1_000 * USDC, "m1")  # a supply, so that the tick's accrual moves tokens
    node.advance(5_000)
    node.close()
    config = NodeConfig(
        store_url=node.store_url, listen="127.0.0.1:0", clock="simulated", auth=auth.build(ENTRIES)
    )
    again = Harness(start_node(config), config.store_url)
    try:
        assert again.running.service.now() == T0 + 5_000
    finally:
        again.close()


def test_a_price_one_product_rejects_still_reaches_the_others(node):
    node.launch("LONG-AGE")
    node.launch("SHORT-AGE", max_oracle_age_s=60)
    node.advance(120)
    response = node.r1.oracle.ReportPrice(
        oracle_pb2.ReportPriceRequest(
            symbol="BTC",
            price=str(PRICES["BTC"]),
            observed_at=Timestamp(seconds=T0 + 30),  # 90 s old: stale for SHORT-AGE only
            reporter_id="r1",
            request_id="p",
        ),
        metadata=node.r1.md,
    )
    outcomes = {o.product_id: o for o in response.outcomes}
    assert outcomes["LONG-AGE"].applied
    assert not outcomes["SHORT-AGE"].applied
    assert outcomes["SHORT-AGE"].error_code == "INVALID_ARGUMENT"
    assert "already stale" in outcomes["SHORT-AGE"].error


def test_a_price_every_product_rejects_fails_and_writes_nothing(node):
    node.launch("A", max_oracle_age_s=60)
    node.launch("B", max_oracle_age_s=60)
    node.advance(120)
    before = node.stored_count()
    rejected(
        lambda: node.r1.oracle.ReportPrice(
            oracle_pb2.ReportPriceRequest(
                symbol="BTC",
                price=str(WAD),
                observed_at=Timestamp(seconds=T0),
                reporter_id="r1",
                request_id="p",
            ),
            metadata=node.r1.md,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "already stale",
    )
    assert node.stored_count() == before
    product = node.admin.token.GetProduct(token_pb2.GetProductRequest(product_id="A"), metadata=node.admin.md)
    assert product.index_price == "0"


def test_a_client_id_of_the_longest_length_fans_out_to_every_product(node):
    """The node's ids live apart from the client's (``<id>#<product>``) and are allowed to
    be longer: a 128-character id, the longest a client may send, reaches every product
    whatever the length of their ids."""
    node.launch("S")
    node.launch("A-PRODUCT-WITH-A-MUCH-LONGER-ID-" + "X" * 32)
    request_id = "p" * 128
    response = node.r1.oracle.ReportPrice(
        oracle_pb2.ReportPriceRequest(
            symbol="BTC",
            price=str(PRICES["BTC"]),
            observed_at=Timestamp(seconds=T0),
            reporter_id="r1",
            request_id=request_id,
        ),
        metadata=node.r1.md,
    )
    assert [o.applied for o in response.outcomes] == [True, True]
    rejected(
        lambda: node.r1.oracle.ReportPrice(
            oracle_pb2.ReportPriceRequest(
                symbol="BTC",
                price=str(PRICES["BTC"]),
                observed_at=Timestamp(seconds=T0),
                reporter_id="r1",
                request_id=request_id + "p",
            ),
            metadata=node.r1.md,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "request_id must be 1-128",
    )
