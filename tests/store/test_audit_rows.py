"""The audit reads the log with its own queries and builds records without the library's
``Notification`` objects: row for row, it gets what the library's mapper gets — the same
record, or the same error — on both stores, odd rows included."""

from __future__ import annotations

import json

import pytest

from adapters.audit.parallel import shares_of
from adapters.audit.rows import Share, UnreadableRow, decoded_rows, stored_payload_json
from adapters.store.codec import chain_hash_encoded
from adapters.store.node import Node
from adapters.store.records import REGISTRY_STREAM_ID, StoredProductEvent, product_stream_id
from domain import commands as cmd
from tests.store.tamper import Tamperer
from tests.store.test_node import T0, launched_node
from tests.support import USDC


def _library_reading(node: Node) -> list[tuple[int, int, object]]:
    """(position, version, record or the mapper's error) of every row, the library's way."""
    rows: list[tuple[int, int, object]] = []
    start = 1
    while page := node.recorder.select_notifications(start, 3):
        for notification in page:
            try:
                record: object = node.mapper.to_domain_event(notification)
            except Exception as error:  # the error is what is compared
                record = UnreadableRow(notification.originator_id, error)
            rows.append((notification.id, notification.originator_version, record))
        start = page[-1].id + 1
    return rows


def _comparable(record: object) -> object:
    """A record's type and fields, but its stream id (the audit keeps it as stored), or an
    unreadable row's stream id and error message."""
    if isinstance(record, UnreadableRow):
        return ("unreadable", str(record.stream_id), type(record.error), str(record.error))
    return type(record), {k: v for k, v in vars(record).items() if k != "originator_id"}


@pytest.fixture
def odd_store(store_url):
    node = launched_node(store_url)
    for n in range(4):
        node.execute("P", cmd.Mint(f"h{n}", 1_000 * USDC, 0), f"m{n}", T0 + 1 + n)
    tamperer = Tamperer(store_url)
    stream = product_stream_id("P")
    rows = tamperer.product_rows(stream.hex if store_url.startswith("sqlite") else str(stream))

    def edit(row, change) -> None:
        record = json.loads(row[3])
        change(record)
        tamperer.set_state(row, json.dumps(record).encode())

    # A field the mapper drops (the library's class_version), a value in the transcoder's own
    # notation (a UUID), bytes that are not UTF-8, JSON that is not an object, JSON that is
    # not JSON, and a topic that names no record type of the node.
    edit(rows[2], lambda r: r.update(class_version=1))
    edit(rows[3], lambda r: r["payload"].update(note={"_type_": "uuid_hex", "_data_": stream.hex}))
    tamperer.set_state(rows[4], b"\xff\xfe not utf-8")
    tamperer.set_state(rows[5], b"[1, 2, 3]")
    tamperer.set_state(rows[6], b'{"product_id": "P", ')
    tamperer.set_topic(rows[7], "adapters.store.records:NoSuchRecord")
    return store_url


def test_the_audit_reads_every_row_as_the_librarys_mapper_does(odd_store):
    node = Node.open(odd_store)
    expected = _library_reading(node)
    read = list(decoded_rows(node, Share(node.recorder.max_notification_id())))
    assert [(p, v, _comparable(r)) for p, v, r, _ in read] == [(p, v, _comparable(r)) for p, v, r in expected]
    assert [state for *_, state in read] == [n.state for n in node.recorder.select_notifications(1, 100)]
    assert sum(isinstance(r, UnreadableRow) for _, _, r, _ in read) == 4
    assert any(hasattr(r, "payload") and "note" in r.payload for _, _, r, _ in read)


def test_the_audit_reads_only_the_rows_of_its_share(odd_store):
    node = Node.open(odd_store)
    stop = node.recorder.max_notification_id()

    def read(share: Share) -> list[tuple[int, int, object]]:
        return [(p, v, _comparable(r)) for p, v, r, _ in decoded_rows(node, share)]

    whole = read(Share(stop))
    # The registry's stream id cuts the ids in two: the product's is below it.
    assert product_stream_id("P") < REGISTRY_STREAM_ID
    low, high = read(Share(stop, high=REGISTRY_STREAM_ID)), read(Share(stop, low=REGISTRY_STREAM_ID))
    assert sorted(low + high, key=lambda row: row[0]) == whole

    def types(rows: list[tuple[int, int, object]]) -> set[str]:
        return {c[0].__name__ for _, _, c in rows if isinstance(c[0], type)}

    assert "StoredProductEvent" in types(low) - types(high)
    assert "ProductListed" in types(high) - types(low)
    assert read(Share(stop - 5)) == whole[: len(whole) - 5]


def test_a_share_reads_its_own_streams_and_the_others_in_its_range_exactly(odd_store):
    """Shares as a parallel audit plans them (the product whole in one, the other streams by
    ranges of ids), and a share of the product alone: each reads exactly the rows whose
    stream it holds."""
    node = Node.open(odd_store)
    stop = node.recorder.max_notification_id()
    streams = {n.id: n.originator_id for n in node.recorder.select_notifications(1, stop + 1)}
    product = product_stream_id("P")
    planned = shares_of({product: 8 * 5}, len(streams) - 5, stop, 3)
    alone = Share(stop, REGISTRY_STREAM_ID, REGISTRY_STREAM_ID, own=(product,), listed=(product,))
    for share in [*planned, alone]:
        read = [position for position, *_ in decoded_rows(node, share)]
        assert read == sorted(p for p, stream in streams.items() if share.reads(stream))
    assert sorted(p for s in planned for p, *_ in decoded_rows(node, s)) == sorted(streams)
    kinds = {type(r).__name__ for _, _, r, _ in decoded_rows(node, alone)}
    assert kinds == {"StoredProductEvent", "UnreadableRow"}


def test_the_node_stores_each_payload_as_the_json_its_chain_hash_was_made_of(store_url):
    """What lets the audit hash a payload without encoding it again (it still encodes it
    when this does not hold, so a change of layout would only slow the audit down)."""
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1)
    node.execute("P", cmd.Redeem("alice", 10**20, 0), "r1", T0 + 2)
    rows = [(r, state) for _, _, r, state in decoded_rows(node, Share(node.recorder.max_notification_id()))]
    events = [(r, state) for r, state in rows if isinstance(r, StoredProductEvent)]
    assert len(events) > 5
    for record, state in events:
        payload_json = stored_payload_json(state)
        assert payload_json is not None
        fields = (record.product_id, record.originator_version, record.type, record.schema)
        rest = (record.request_id, record.decision_end, record.prev_hash)
        assert chain_hash_encoded(*fields, payload_json, *rest) == record.hash
