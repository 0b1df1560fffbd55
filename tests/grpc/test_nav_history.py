"""AuditService.GetNavHistory over the wire: a point per NAV-moving event, ranges, thinning,
new points only, validation, and a history that survives a restart of the node."""

from __future__ import annotations

import json

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.grpc.stubs import audit_pb2, token_pb2
from tests.grpc.conftest import T0, USDC, WAD, start
from tests.grpc.helpers import rejected


def history(node, **fields) -> audit_pb2.GetNavHistoryResponse:
    request = audit_pb2.GetNavHistoryRequest(product_id=fields.pop("product_id", "P"), **fields)
    return node.viewer.audit.GetNavHistory(request, metadata=node.viewer.md)


def nav_moving_events(node) -> list[audit_pb2.Event]:
    kinds = {"PriceAccepted", "Minted", "Redeemed", "Rebalanced", "Settled", "Accrued"}
    events = node.admin.audit.StreamEvents(
        audit_pb2.StreamEventsRequest(product_id="P"), metadata=node.admin.md
    )
    return [e for e in events if e.type in kinds]


def test_a_point_per_nav_moving_event_ending_at_the_product(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    ready.advance(3_600)
    ready.report({"BTC": 62_000 * WAD, "ETH": 3_100 * WAD})
    ready.mint("bob", 250 * USDC, "m2")
    response = history(ready)
    moving = nav_moving_events(ready)
    assert [p.position for p in response.points] == [e.position for e in moving]
    assert [p.at.seconds for p in response.points] == [e.occurred_at.seconds for e in moving]
    product = ready.viewer.token.GetProduct(
        token_pb2.GetProductRequest(product_id="P"), metadata=ready.viewer.md
    )
    last = response.points[-1]
    assert (last.nav_per_token, last.leverage, last.supply, last.index_price) == (
        product.nav_per_token,
        product.leverage,
        product.supply,
        product.index_price,
    )
    assert response.as_of_position == ready.stored_count()
    # Only what is new after a position; by time; thinned keeping both ends.
    cut = response.points[2].position
    assert list(history(ready, after_position=cut).points) == list(response.points[3:])
    late = history(ready, **{"from": Timestamp(seconds=T0 + 1)}).points
    assert list(late) == [p for p in response.points if p.at.seconds >= T0 + 1]
    early = history(ready, to=Timestamp(seconds=T0)).points
    assert list(early) == [p for p in response.points if p.at.seconds <= T0]
    two = history(ready, max_points=2).points
    assert list(two) == [response.points[0], response.points[-1]]


def test_bad_requests_are_refused_naming_the_field(ready):
    for fields, code, fragment in [
        ({"product_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "product_id"),
        ({"product_id": "NOPE"}, grpc.StatusCode.NOT_FOUND, "NOPE"),
        ({"max_points": -1}, grpc.StatusCode.INVALID_ARGUMENT, "max_points"),
        ({"max_points": 10_001}, grpc.StatusCode.INVALID_ARGUMENT, "max_points"),
        ({"after_position": -1}, grpc.StatusCode.INVALID_ARGUMENT, "after_position"),
        (
            {"from": Timestamp(seconds=T0 + 10), "to": Timestamp(seconds=T0)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "after to",
        ),
        ({"to": Timestamp(seconds=-5)}, grpc.StatusCode.INVALID_ARGUMENT, "to"),
    ]:
        rejected(lambda f=fields: history(ready, **f), code, fragment)


def test_the_history_is_kept_in_the_store_across_a_restart(tmp_path):
    node = start(tmp_path)
    try:
        node.ready()
        node.mint("alice", 1_000 * USDC, "m1")
        before = history(node)
    finally:
        node.close()
    again = start(tmp_path)
    try:
        again.mint("bob", 100 * USDC, "m2")
        after = history(again)
    finally:
        again.close()
    assert list(after.points[: len(before.points)]) == list(before.points)
    assert after.points[-1].supply != before.points[-1].supply
    assert len(after.points) == len(before.points) + 1


def test_iit_nav_prints_the_history_exactly_and_rebuilds_a_store(ready):
    from click.testing import CliRunner  # noqa: PLC0415

    from adapters.cli import main  # noqa: PLC0415
    from tests.grpc.conftest import TOKENS  # noqa: PLC0415

    ready.mint("alice", 1_000 * USDC, "m1")
    points = history(ready).points
    runner = CliRunner()
    args = ["nav", "--product", "P", "--address", ready.address, "--token", TOKENS["viewer"]]
    as_json = runner.invoke(main, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = [json.loads(line) for line in as_json.output.splitlines()]
    assert [(r["position"], r["nav_per_token"], r["supply"]) for r in rows] == [
        (p.position, p.nav_per_token, p.supply) for p in points
    ]
    table = runner.invoke(main, args)
    assert table.exit_code == 0, table.output
    nav = int(points[-1].nav_per_token)
    assert f"{nav // WAD}.{nav % WAD:018d}" in table.output.splitlines()[-2]  # all 18 decimals, exact
    assert f"{len(points)} points of P" in table.output
    refused = runner.invoke(main, [*args[:-1], TOKENS["alice"]])
    assert refused.exit_code == 2
    assert "PERMISSION_DENIED" in refused.output
    rebuilt = runner.invoke(main, ["nav", "--rebuild-store", ready.store_url])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"at position {ready.stored_count()}" in rebuilt.output
    assert list(history(ready).points) == list(points)
