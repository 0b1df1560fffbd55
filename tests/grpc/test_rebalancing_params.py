"""The FLI/FTX rebalancing parameters over the wire (issue 14): launched, shown,
validated, updated one field at a time, and a served node whose keeper ticks hourly
still runs TWAP chunks ``twap_cooldown_s`` apart and resets at 00:02 UTC."""

from __future__ import annotations

import itertools
import json

import grpc
import pytest

from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, token_pb2
from tests.grpc.conftest import PRICES, USDC, WAD, Harness
from tests.grpc.helpers import rejected

DAY = 86_400
HOUR = 3_600


def _product(node: Harness) -> common_pb2.Product:
    return node.admin.token.GetProduct(token_pb2.GetProductRequest(product_id="P"), metadata=node.admin.md)


def _rebalances(node: Harness) -> list[dict[str, object]]:
    stream = node.admin.audit.StreamEvents(
        audit_pb2.StreamEventsRequest(from_position=0, product_id="P"), metadata=node.admin.md
    )
    return [json.loads(e.payload_json) for e in stream if e.type == "Rebalanced"]


def _update(node: Harness, rid: str, **params: str | int) -> admin_pb2.UpdateParametersResponse:
    return node.admin.admin.UpdateParameters(
        admin_pb2.UpdateParametersRequest(
            product_id="P",
            params=common_pb2.Params(**params),  # type: ignore[arg-type]
            request_id=rid,
        ),
        metadata=node.admin.md,
    )


def test_the_new_params_take_their_defaults_and_are_shown(node: Harness) -> None:
    product = node.launch("P")
    assert not product.params.HasField("rebalance_time_of_day_s")
    assert product.params.recentering_speed == str(WAD)
    assert product.params.twap_cooldown_s == 0
    pinned = node.launch(
        "Q", rebalance_time_of_day_s=120, recentering_speed=str(WAD // 2), twap_cooldown_s=300
    )
    assert pinned.params.rebalance_time_of_day_s == 120
    assert pinned.params.recentering_speed == str(WAD // 2)
    assert pinned.params.twap_cooldown_s == 300


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"rebalance_time_of_day_s": DAY}, "rebalance_time_of_day_s"),
        ({"rebalance_time_of_day_s": 0, "rebalance_interval_s": 7 * HOUR}, "rebalance_interval_s"),
        ({"recentering_speed": "0"}, "recentering_speed"),
        ({"recentering_speed": str(WAD + 1)}, "recentering_speed"),
        ({"recentering_speed": "0.5"}, "recentering_speed"),
        ({"twap_cooldown_s": -1}, "twap_cooldown_s"),
    ],
)
def test_a_bad_value_is_invalid_argument_naming_the_field_and_writes_nothing(
    node: Harness, params: dict[str, str | int], field: str
) -> None:
    before = node.stored_count()
    rejected(lambda: node.launch("P", **params), grpc.StatusCode.INVALID_ARGUMENT, field)
    assert node.stored_count() == before


def test_update_parameters_pins_the_reset_to_0002_utc_and_can_unpin_it(ready: Harness) -> None:
    ready.mint("alice", 10_000 * USDC, "m1")
    response = _update(ready, "pin", rebalance_time_of_day_s=120)
    assert response.product.params.rebalance_time_of_day_s == 120
    assert response.product.params.mint_fee_bps == 10  # one field sent, the others kept
    # A day of hourly keeper ticks with hourly prices: the reset lands at 00:02, not on an hour.
    for hour in range(1, 26):
        ready.advance(HOUR - 60)
        ready.report({s: p * (1000 + hour) // 1000 for s, p in PRICES.items()})
        ready.advance(60)
    scheduled = [r for r in _rebalances(ready) if r["reason"] == "schedule"]
    assert scheduled
    assert {int(str(r["at"])) % DAY for r in scheduled} == {120}
    unpinned = _update(ready, "unpin", rebalance_time_of_day_s=-1)
    assert not unpinned.product.params.HasField("rebalance_time_of_day_s")


def test_twap_chunks_are_the_cooldown_apart_with_a_one_hour_keeper(node: Harness) -> None:
    node.launch("P", max_trade_notional=str(50_000 * USDC), twap_cooldown_s=600, max_oracle_age_s=2 * HOUR)
    node.report(PRICES)
    node.mint("alice", 1_000_000 * USDC, "m1")
    node.advance(60)
    node.report({s: p * 113 // 100 for s, p in PRICES.items()})  # |leverage| ~1.30: out of the band
    for _ in range(3):  # the keeper every hour, and nothing else
        node.advance(HOUR)
    chunks = _rebalances(node)
    assert len(chunks) >= 6
    assert [c["reason"] for c in chunks[1:]] == ["continuation"] * (len(chunks) - 1)
    times = [int(str(c["at"])) for c in chunks]
    assert {b - a for a, b in itertools.pairwise(times)} == {600}
    assert not chunks[-1]["capped"]
    assert _product(node).leverage.startswith("-1000000000")  # back on target to rounding
