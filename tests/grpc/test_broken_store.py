"""A store that breaks under the node (SPEC §7): UNAVAILABLE, never INTERNAL. And a store
poisoned before the node refused poison: an event already stored that
does not decode, one whose evolve raises, one that leaves a time no client can be shown
(the issue's launch with a 2^63-ish rebalance interval), a row that is not even JSON.

Planted in a real SQLite file and a real PostgreSQL schema, as the old node wrote them
(through the library's event store, hash-chained, with their request markers) or as an
edit of the row by hand, then served: the node starts; the broken product answers
DATA_LOSS naming itself and the version where its log breaks; every other product keeps
working (a price fans out to it and the response names the broken one); the keeper ticks
the others; the audit reports a finding, over the wire and from ``iit audit``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import psycopg
import pytest
from click.testing import CliRunner
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.cli import main
from adapters.grpc import auth
from adapters.grpc.server import NodeConfig, start_node
from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, oracle_pb2, token_pb2
from adapters.store.codec import chain_hash
from adapters.store.node import Node
from adapters.store.records import (
    REGISTRY_STREAM_ID,
    ProductListed,
    RequestRecorded,
    StoredProductEvent,
    product_stream_id,
    request_stream_id,
)
from tests.grpc.conftest import ENTRIES, PRICES, T0, USDC, WAD, Harness
from tests.grpc.helpers import rejected
from tests.store.conftest import fresh_store, require_store
from tests.store.tamper import Tamperer

DATA_LOSS = grpc.StatusCode.DATA_LOSS


def _serve(store_url: str) -> Harness:
    config = NodeConfig(
        store_url=store_url, listen="127.0.0.1:0", clock="simulated", start=T0, auth=auth.build(ENTRIES)
    )
    return Harness(start_node(config), store_url)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    require_store(request.param)
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/iit.db"
        return
    with fresh_store("postgres") as url:
        yield url


def _market(store_url: str) -> None:
    """P holds BTC and ETH, Q holds ETH only; alice holds tokens of both."""
    node = _serve(store_url)
    try:
        node.launch("P")
        node.admin.admin.LaunchProduct(
            admin_pb2.LaunchProductRequest(
                product_id="Q",
                components=[common_pb2.Component(symbol="ETH", quantity=str(WAD))],
                request_id="launch-Q",
            ),
            metadata=node.admin.md,
        )
        node.report(PRICES)
        node.mint("alice", 1_000 * USDC, "m-P", "P")
        node.mint("alice", 1_000 * USDC, "m-Q", "Q")
    finally:
        node.close()


def _append(store_url: str, product_id: str, type_name: str, schema: int, payload: dict[str, Any]) -> int:
    """Store one event at the end of ``product_id``'s stream as the node did before it loaded
    events back: hash-chained, with its request's marker, in one transaction (a launch also
    lists the product). Nothing checks that it decodes or applies. Its version."""
    node = Node.open(store_url)
    try:
        stored = list(node.stored_events(product_id))
        version = len(stored) + 1
        prev_hash = stored[-1].hash if stored else "0" * 64
        request_id = f"old-node-{version}"
        digest = chain_hash(product_id, version, type_name, schema, payload, request_id, True, prev_hash)
        records: list[Any] = [
            StoredProductEvent(
                originator_id=product_stream_id(product_id),
                originator_version=version,
                product_id=product_id,
                type=type_name,
                schema=schema,
                payload=payload,
                request_id=request_id,
                decision_end=True,
                prev_hash=prev_hash,
                hash=digest,
            ),
            RequestRecorded(
                originator_id=request_stream_id(request_id),
                originator_version=1,
                request_id=request_id,
                product_id=product_id,
                fingerprint="0" * 64,
                first_version=version,
                event_count=1,
            ),
        ]
        if not stored:
            records.append(
                ProductListed(
                    originator_id=REGISTRY_STREAM_ID,
                    originator_version=len(node.product_ids()) + 1,
                    product_id=product_id,
                )
            )
        node.events.put(records)
        return version
    finally:
        node.close()


def _first_event(store_url: str, product_id: str) -> StoredProductEvent:
    node = Node.open(store_url)
    try:
        return next(node.stored_events(product_id))
    finally:
        node.close()


def _undecodable(store_url: str) -> tuple[str, int]:
    """A Minted event that lacks every field of one."""
    return "Q", _append(store_url, "Q", "Minted", 1, {"holder_id": "alice"})


def _evolve_raises(store_url: str) -> tuple[str, int]:
    """A second ProductLaunched: it decodes, and evolve refuses it."""
    launched = _first_event(store_url, "Q")
    return "Q", _append(store_url, "Q", launched.type, launched.schema, launched.payload)


def _unshowable_launch(store_url: str) -> tuple[str, int]:
    """The issue's poison as the old node stored it: a product launched with
    rebalance_interval_s 9223372036854689407, whose next rebalance no Timestamp can hold."""
    launched = _first_event(store_url, "Q")
    payload = json.loads(json.dumps(launched.payload))
    payload["product_id"] = "S"
    payload["params"]["rebalance_interval_s"] = 9223372036854689407
    return "S", _append(store_url, "S", launched.type, launched.schema, payload)


def _not_json(store_url: str) -> tuple[str, int]:
    """Q's last row rewritten by hand into bytes that are not a record at all."""
    stream = product_stream_id("Q")
    tamperer = Tamperer(store_url)
    rows = tamperer.product_rows(stream.hex if store_url.startswith("sqlite") else str(stream))
    tamperer.set_state(rows[-1], b"\x00 not a record")
    return "Q", rows[-1][2]


POISONS = {
    "undecodable": _undecodable,
    "evolve_raises": _evolve_raises,
    "unshowable_launch": _unshowable_launch,
    "not_json": _not_json,
}


def _product(node: Harness, product_id: str) -> common_pb2.Product:
    return node.viewer.token.GetProduct(
        token_pb2.GetProductRequest(product_id=product_id), metadata=node.viewer.md
    )


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_a_poisoned_product_is_data_loss_and_every_other_product_keeps_working(store_url, poison):
    _market(store_url)
    broken, version = POISONS[poison](store_url)
    node = _serve(store_url)  # it starts: the old node's poison does not stop it
    try:
        said = rejected(
            lambda: _product(node, broken), DATA_LOSS, f"product {broken!r}", f"version {version}"
        )
        assert "data corruption" in said.details()
        assert _product(node, "P").supply != "0"

        # Commands: the broken product's are refused and write nothing; the others' apply.
        before = node.stored_count()
        rejected(lambda: node.mint("alice", 10 * USDC, "m-broken", broken), DATA_LOSS, repr(broken))
        assert node.stored_count() == before
        assert int(node.mint("alice", 10 * USDC, "m-P-2", "P").tokens_minted) > 0

        # A price fans out to the healthy products and names the broken one.
        report = node.r1.oracle.ReportPrice(
            oracle_pb2.ReportPriceRequest(
                symbol="ETH",
                price=str(3_010 * WAD),
                observed_at=Timestamp(seconds=T0),
                reporter_id="r1",
                request_id="eth-after-poison",
            ),
            metadata=node.r1.md,
        )
        outcomes = {o.product_id: o for o in report.outcomes}
        assert outcomes["P"].applied
        assert not outcomes[broken].applied
        assert outcomes[broken].error_code == "DATA_LOSS"
        assert outcomes[broken].error.startswith("ProductUnreadable: ")
        if broken != "Q":
            assert outcomes["Q"].applied

        # The keeper ticks the others and reports the broken one.
        ticked = {o.product_id: o for o in node.advance(60).outcomes}
        assert not ticked["P"].error
        assert ticked[broken].error.startswith("ProductUnreadable: ")

        # Reads of the other products and of the holders go on.
        activity = node.admin.token.ListActivity(
            token_pb2.ListActivityRequest(holder_id="alice", product_id="P"), metadata=node.admin.md
        )
        assert [e.request_id for e in activity.entries] == ["m-P", "m-P-2"]
        history = node.admin.audit.GetNavHistory(
            audit_pb2.GetNavHistoryRequest(product_id="P"), metadata=node.admin.md
        )
        assert history.points

        # The audit: a finding about the broken product, not a traceback.
        audited = node.admin.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=node.admin.md)
        assert not audited.ok
        assert broken in {v.product_id for v in audited.violations}, audited.violations
        assert "P" not in {v.product_id for v in audited.violations}, audited.violations
    finally:
        node.close()
    cli = CliRunner().invoke(main, ["audit", "--store", store_url, "--processes", "1"])
    assert cli.exit_code == 1, cli.output  # 1: violations found (2 would be: could not audit)
    assert "Traceback" not in cli.output


def test_streaming_the_log_stops_at_a_row_that_does_not_decode_naming_its_position(tmp_path):
    store_url = f"sqlite:///{tmp_path}/iit.db"
    _market(store_url)
    _, _version = _not_json(store_url)
    node = _serve(store_url)
    try:
        node.mint("alice", 10 * USDC, "m-P-2", "P")
        received: list[int] = []

        def stream() -> None:
            for event in node.admin.audit.StreamEvents(
                audit_pb2.StreamEventsRequest(), metadata=node.admin.md
            ):
                received.append(event.position)

        said = rejected(stream, DATA_LOSS, "RecordUnreadable", "position")
        position = int(said.details().split("position ")[1].split()[0])
        assert received, "the events before it were sent"
        assert max(received) < position
        after = list(
            node.admin.audit.StreamEvents(
                audit_pb2.StreamEventsRequest(from_position=position), metadata=node.admin.md
            )
        )
        assert [e.type for e in after] == ["Minted"]  # resumed past it: P's mint since
        assert after[0].position > position
    finally:
        node.close()


def _drop_the_events_table(store_url: str) -> None:
    """The store fails under the node: its events table is gone (another program, an
    operator's mistake), so every read of the log fails in the driver."""
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            conn.execute("DROP TABLE stored_events")
        return
    schema = parse_qs(urlsplit(store_url).query)["schema"][0]
    with psycopg.connect(store_url.split("?", maxsplit=1)[0], autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{schema}".iit_events CASCADE')


def test_a_store_failing_under_the_node_is_unavailable_not_internal(store_url):
    """SPEC §7: an unexpected failure of the store is UNAVAILABLE (retry with the same id),
    for reads, commands and streams alike."""
    _market(store_url)
    node = _serve(store_url)
    try:
        _drop_the_events_table(store_url)
        unavailable = grpc.StatusCode.UNAVAILABLE
        for call in (
            lambda: _product(node, "P"),
            lambda: node.mint("alice", 10 * USDC, "m-after-drop", "P"),
            lambda: list(
                node.admin.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=node.admin.md)
            ),
        ):
            said = rejected(
                call, unavailable, "StoreUnavailable: the store failed", "retry with the same request_id"
            )
            assert "Traceback" not in said.details()
    finally:
        node.close()


def _garble_snapshots(store_url: str) -> int:
    """Every stored snapshot rewritten into bytes that are not a record; how many."""
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            return conn.execute("UPDATE stored_snapshots SET state = ?", (b"\x00 not a record",)).rowcount
    schema = parse_qs(urlsplit(store_url).query)["schema"][0]
    with psycopg.connect(store_url.split("?", maxsplit=1)[0], autocommit=True) as conn:
        return conn.execute(
            f'UPDATE "{schema}".iit_snapshots SET state = %s',  # noqa: S608 - the test's own schema
            (b"\x00 not a record",),
        ).rowcount


def test_a_snapshot_that_does_not_decode_is_passed_over_and_reported_by_the_audit(store_url, monkeypatch):
    """A snapshot is derived from the events: one that does not decode costs a longer load,
    not the product; the audit reports it as a finding, not a traceback."""
    monkeypatch.setenv("IIT_SNAPSHOT_INTERVAL", "2")
    _market(store_url)
    node = _serve(store_url)
    try:
        shown = {pid: _product(node, pid) for pid in ("P", "Q")}
    finally:
        node.close()
    assert _garble_snapshots(store_url) >= 2
    node = _serve(store_url)
    try:
        assert {pid: _product(node, pid) for pid in ("P", "Q")} == shown
        assert int(node.mint("alice", 10 * USDC, "m-P-2", "P").tokens_minted) > 0
        audited = node.admin.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=node.admin.md)
        assert not audited.ok
        assert {v.invariant for v in audited.violations} == {"snapshot_matches_log"}
        assert all("does not decode" in v.detail for v in audited.violations)
    finally:
        node.close()
    cli = CliRunner().invoke(main, ["audit", "--store", store_url, "--processes", "1"])
    assert cli.exit_code == 1, cli.output


def test_a_request_marker_that_does_not_decode_is_data_loss_for_its_retry_only(store_url):
    """A stored record outside a product's stream that does not decode (here the marker of
    the request m-P) is DATA_LOSS where the node meets it, not INTERNAL; a new request
    goes through."""
    _market(store_url)
    stream = request_stream_id("m-P")
    tamperer = Tamperer(store_url)
    (marker,) = tamperer.product_rows(stream.hex if store_url.startswith("sqlite") else str(stream))
    tamperer.set_state(marker, b"\x00 not a record")
    node = _serve(store_url)
    try:
        rejected(
            lambda: node.mint("alice", 1_000 * USDC, "m-P", "P"),
            DATA_LOSS,
            "RecordUnreadable",
            "data corruption",
        )
        assert int(node.mint("alice", 10 * USDC, "m-P-new", "P").tokens_minted) > 0
    finally:
        node.close()
