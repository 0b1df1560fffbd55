"""OracleService.ReportPrices over a real server: a round judged as one update, recorded
once whatever products hold its symbols; trips that dismiss themselves; reconstitution
priced by the oracle."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.grpc.stubs import admin_pb2, common_pb2, oracle_pb2, token_pb2
from tests.grpc.conftest import WAD, Harness
from tests.grpc.helpers import rejected

ACTIVE = common_pb2.PRODUCT_STATUS_ACTIVE
HALTED = common_pb2.PRODUCT_STATUS_HALTED


def round_(
    node: Harness, prices: dict[str, int], rid: str, reporter: str = "r1"
) -> oracle_pb2.ReportPricesResponse:
    client = getattr(node, reporter)
    return client.oracle.ReportPrices(
        oracle_pb2.ReportPricesRequest(
            reporter_id=reporter,
            observed_at=Timestamp(seconds=node.now),
            prices=[oracle_pb2.RoundPrice(symbol=s, price=str(p)) for s, p in prices.items()],
            request_id=rid,
        ),
        metadata=client.md,
    )


def status(node: Harness) -> int:
    return node.alice.token.GetProduct(
        token_pb2.GetProductRequest(product_id="P"), metadata=node.alice.md
    ).status


def test_a_cross_move_in_one_round_trips_nothing(ready):
    ready.mint("alice", 1_000 * 10**6, "m1")
    response = round_(ready, {"BTC": 75_000 * WAD, "ETH": 1_500 * WAD}, "cross")  # 750 + 150 = 900
    [outcome] = response.outcomes
    assert (outcome.applied, outcome.halted, outcome.price_accepted) == (True, False, True)
    assert outcome.product.index_price == str(900 * WAD)
    again = round_(ready, {"BTC": 75_000 * WAD, "ETH": 1_500 * WAD}, "cross")
    assert again.outcomes[0].product.index_price == str(900 * WAD)


def test_a_cross_move_reported_one_symbol_at_a_time_dismisses_its_own_trip(ready):
    ready.report({"BTC": 90_000 * WAD})  # 900 + 300 = 1 200: BTC alone is +33 %, it trips
    assert status(ready) == HALTED
    ready.report({"ETH": 1_000 * WAD})  # 900 + 100 = 1 000: +11 %, within the band
    assert status(ready) == ACTIVE


def test_a_round_of_symbols_no_product_holds_is_recorded_with_no_outcome(ready):
    before = ready.stored_count()
    response = round_(ready, {"SOL": 150 * WAD, "DOGE": WAD // 10}, "alts")
    assert list(response.outcomes) == []
    # The round and its request's marker in the oracle book, and the first answer (no
    # product) that a repeat gives again.
    assert ready.stored_count() == before + 3
    again = round_(ready, {"SOL": 150 * WAD, "DOGE": WAD // 10}, "alts")
    assert list(again.outcomes) == []
    assert ready.stored_count() == before + 3


def test_a_malformed_round_is_invalid_and_writes_nothing(ready):
    before = ready.stored_count()
    rejected(lambda: round_(ready, {}, "empty"), grpc.StatusCode.INVALID_ARGUMENT, "at least one price")
    rejected(lambda: round_(ready, {"BTC": 0}, "zero"), grpc.StatusCode.INVALID_ARGUMENT, "positive")
    rejected(
        lambda: round_(ready, {"bad symbol": WAD}, "sym"), grpc.StatusCode.INVALID_ARGUMENT, "symbol must be"
    )
    assert ready.stored_count() == before


def test_another_reporters_round_is_permission_denied(ready):
    call = lambda: ready.r2.oracle.ReportPrices(  # noqa: E731
        oracle_pb2.ReportPricesRequest(
            reporter_id="r1",
            observed_at=Timestamp(seconds=ready.now),
            prices=[oracle_pb2.RoundPrice(symbol="BTC", price=str(WAD))],
            request_id="as-r1",
        ),
        metadata=ready.r2.md,
    )
    rejected(call, grpc.StatusCode.PERMISSION_DENIED)


def test_a_reconstitution_without_an_oracle_report_is_a_failed_precondition(ready):
    call = lambda: ready.admin.admin.Reconstitute(  # noqa: E731
        admin_pb2.ReconstituteRequest(
            product_id="P",
            components=[
                common_pb2.Component(symbol="BTC", quantity=str(WAD // 100)),
                common_pb2.Component(symbol="SOL", quantity=str(WAD)),
            ],
            new_symbol_prices=[admin_pb2.SymbolPrice(symbol="SOL", price=str(150 * WAD))],
            request_id="recon",
        ),
        metadata=ready.admin.md,
    )
    before = ready.stored_count()
    rejected(call, grpc.StatusCode.FAILED_PRECONDITION, "SOL has no oracle report")
    assert ready.stored_count() == before
