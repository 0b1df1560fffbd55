"""The store's key format (``adapters/store/key_format.py``): a store created now keys the
request ids that carry time (UUIDv7, ULID) by that time; a store written before formats
were recorded keeps the keys it was written with, for every id, so no retry of a request
it handled is applied twice; no id, hostile or not, can take another's key."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from uuid import UUID, uuid5

import pytest
from eventsourcing.persistence import StoredEvent

from adapters.store import price_reports
from adapters.store.contract import RequestIdReused
from adapters.store.key_format import CURRENT_KEYS, LEGACY_KEYS, TIME_KEYS, id_time_ms, time_key
from adapters.store.node import Node
from adapters.store.records import (
    NAMESPACE,
    STORE_FORMAT_STREAM_ID,
    OracleRequestRecorded,
    RequestRecorded,
    StoreFormatRecorded,
    oracle_request_stream_id,
    price_report_stream_id,
    product_stream_id,
    request_stream_id,
)
from adapters.store.sql import batch_view
from adapters.store.url import store_env
from benchmarks.workload import Appender
from domain import commands as cmd
from domain.fixedpoint import WAD
from domain.params import default_params
from tests.store.test_node import DEFAULT_COMPONENTS, T0, USDC, launched_node

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "format1_store.json").read_text())
IDS: dict[str, str] = FIXTURE["ids"]
# The commands the fixture's store was written with (fixtures/write_format1_store.py).
COMMANDS: dict[str, cmd.Command] = {
    "mint_v7": cmd.Mint("alice", 1_000 * USDC, 0),
    "mint_v7_upper": cmd.Mint("bob", 500 * USDC, 0),
    "mint_ulid": cmd.Mint("carol", 300 * USDC, 0),
    "mint_ulid_lower": cmd.Mint("dave", 200 * USDC, 0),
    "transfer_v7": cmd.Transfer("alice", "bob", WAD),
    "mint_free": cmd.Mint("erin", 100 * USDC, 0),
}
V7 = "019a8b2c-3d4e-7f60-8a1b-2c3d4e5f6071"
ULID = "01K9XJ8KMEABCDEFGHJKMNPQRS"


def _old_store(url: str) -> None:
    """The fixture's rows, exactly as the node wrote them before key formats, in a new store."""
    app = Appender(store_env(url))
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=base64.b64decode(row["state"]),
            )
            for row in FIXTURE["rows"]
        ]
    )
    app.close()


def _rows(node: Node) -> int:
    return node.recorder.max_notification_id() or 0


def _marker_key(node: Node, request_id: str) -> UUID:
    _, found = batch_view(node, [request_stream_id(request_id, node.key_format)])
    [(key, marker)] = found.items()
    assert isinstance(marker, RequestRecorded)
    assert marker.request_id == request_id
    return key


def test_a_store_written_before_key_formats_replays_every_id_it_handled(store_url):
    _old_store(store_url)
    node = Node.open(store_url)
    assert node.key_format == LEGACY_KEYS
    rows = _rows(node)
    assert rows == len(FIXTURE["rows"])  # opening an old store writes nothing
    first = Node.open(store_url).load("P")
    assert first is not None

    for name, command in COMMANDS.items():
        again = node.execute("P", command, IDS[name], T0 + 50)
        assert again.replayed, name
        assert again.events, name
    # A different command under an old time-carrying id is still a reuse, not a new request.
    with pytest.raises(RequestIdReused):
        node.execute("P", cmd.Mint("zed", 7 * USDC, 0), IDS["mint_v7"], T0 + 50)
    round_again = node.record_round(IDS["round_v7"], "r1", T0 + 1, (("BTC", 61_000 * WAD),), T0 + 50)
    assert round_again.replayed
    report, handled = price_reports.first_answer(node, IDS["report_v7"], {"P": IDS["report_v7"] + "#P"})
    assert report is not None
    assert report.fingerprint == "fingerprint-of-the-report"
    assert handled == {"P": IDS["report_v7"] + "#P"}

    assert _rows(node) == rows  # nothing applied twice: not a row written
    loaded = Node.open(store_url).load("P")
    assert loaded is not None
    assert loaded.state == first.state


def test_an_old_store_keeps_the_old_keys_for_new_time_carrying_ids(store_url):
    _old_store(store_url)
    node = Node.open(store_url)
    node.execute("P", cmd.Mint("alice", 9 * USDC, 0), V7, T0 + 60)
    assert _marker_key(node, V7) == uuid5(NAMESPACE, "request:" + V7)
    again = Node.open(store_url)
    assert again.key_format == LEGACY_KEYS
    assert again.execute("P", cmd.Mint("alice", 9 * USDC, 0), V7, T0 + 61).replayed


def test_a_new_store_records_its_format_once_and_keys_time_carrying_ids_by_their_time(store_url):
    node = launched_node(store_url)
    assert node.key_format == CURRENT_KEYS == TIME_KEYS
    formats = list(node.events.get(STORE_FORMAT_STREAM_ID))
    assert len(formats) == 1
    assert isinstance(formats[0], StoreFormatRecorded)
    assert formats[0].request_keys == TIME_KEYS

    free = "mint-free-form"
    for request_id in (V7, ULID, free):
        node.execute("P", cmd.Mint("alice", 10 * USDC, 0), request_id, T0 + 1)
    assert _marker_key(node, V7) == UUID(V7)  # a UUIDv7 is its own key
    ulid_key = _marker_key(node, ULID)
    assert ulid_key.version == 8
    assert ulid_key.int >> 80 == id_time_ms(ULID)  # the ULID's time leads its key
    assert _marker_key(node, free) == uuid5(NAMESPACE, "request:" + free)  # as before

    reopened = Node.open(store_url)
    assert reopened.key_format == TIME_KEYS
    assert list(reopened.events.get(STORE_FORMAT_STREAM_ID)) == formats  # not recorded twice
    rows = _rows(reopened)
    for request_id in (V7, ULID, free):
        again = reopened.execute("P", cmd.Mint("alice", 10 * USDC, 0), request_id, T0 + 2)
        assert again.replayed
    assert _rows(reopened) == rows


def test_keys_sort_in_the_order_of_the_times_their_ids_carry():
    earlier_v7 = "019a8b2c-3d4e-7fff-bfff-ffffffffffff"
    later_v7 = "019a8b2c-3d4f-7000-8000-000000000000"
    earlier_ulid = "01K9XJ8KMEZZZZZZZZZZZZZZZZ"
    later_ulid = "01K9XJ8KMF0000000000000000"
    for kind in ("request", "price-report", "oracle-request"):
        for earlier, later in ((earlier_v7, later_v7), (earlier_ulid, later_ulid), (earlier_ulid, later_v7)):
            first, second = time_key(kind, earlier), time_key(kind, later)
            assert first is not None
            assert second is not None
            assert (id_time_ms(earlier) or 0) < (id_time_ms(later) or 0)
            assert first.bytes < second.bytes, (kind, earlier, later)


@pytest.mark.parametrize(
    "request_id",
    [
        "mint-1",
        "P#P",
        V7 + "#P",  # a fan-out's own id: the node's, with a '#'
        "{" + V7 + "}",
        V7.replace("-", ""),
        "019a8b2c-3d4e-4f60-8a1b-2c3d4e5f6071",  # a UUIDv4
        "019a8b2c-3d4e-7f60-ca1b-2c3d4e5f6071",  # version 7 but not the RFC variant
        "81K9XJ8KMEABCDEFGHJKMNPQRS",  # more than 48 bits of time: not a ULID
        "01K9XJ8KMEABCDEFGHJKMNPQRI",  # 'I' is not Crockford's
    ],
)
def test_ids_that_carry_no_time_keep_their_keys(request_id):
    assert id_time_ms(request_id) is None
    for kind, derive in (
        ("request", request_stream_id),
        ("price-report", price_report_stream_id),
        ("oracle-request", oracle_request_stream_id),
    ):
        assert derive(request_id, TIME_KEYS) == derive(request_id, LEGACY_KEYS)
        assert derive(request_id, TIME_KEYS) == uuid5(NAMESPACE, f"{kind}:{request_id}")


def _as_ulid(key: UUID) -> str:
    """A ULID string that spells the 128 bits of ``key``."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "".join(alphabet[(key.int >> (5 * (25 - i))) & 31] for i in range(26))


def test_an_id_spelling_another_streams_key_cannot_take_that_stream(store_url):
    """A ULID whose 128 bits are a product's stream id (or a UUIDv7 that is another case of
    a victim's id) is keyed apart: it neither blocks that product's launch nor replays, nor
    is replayed by, another request."""
    node = launched_node(store_url)
    hostile = _as_ulid(product_stream_id("Q"))
    assert id_time_ms(hostile) is not None
    assert node.execute("P", cmd.Mint("mallory", 10 * USDC, 0), hostile, T0 + 1).events
    assert request_stream_id(hostile, node.key_format) != product_stream_id("Q")
    launch = cmd.LaunchProduct("Q", DEFAULT_COMPONENTS, default_params())
    assert node.execute("Q", launch, "launch-Q", T0 + 1).events  # Q's stream is Q's: it launches
    assert Node.open(store_url).load("Q") is not None

    victim = node.execute("P", cmd.Mint("alice", 10 * USDC, 0), V7, T0 + 1)
    upper = node.execute("P", cmd.Mint("alice", 10 * USDC, 0), V7.upper(), T0 + 1)
    assert not victim.replayed
    assert not upper.replayed  # another id: applied, not answered with the victim's reply
    assert upper.version == victim.version + 1
    # The raw ULID spelling the victim's UUIDv7 is another id too.
    spelled = _as_ulid(UUID(V7))
    assert not node.execute("P", cmd.Mint("alice", 10 * USDC, 0), spelled, T0 + 1).replayed


def test_one_time_carrying_id_has_a_key_of_its_own_in_each_kind_of_record(store_url):
    """The same UUIDv7 as a command's id and as a price round's id: two records, two keys
    (as with free-form ids), each found again by its own kind."""
    node = launched_node(store_url)
    keys = {
        request_stream_id(V7, TIME_KEYS),
        price_report_stream_id(V7, TIME_KEYS),
        oracle_request_stream_id(V7, TIME_KEYS),
        request_stream_id(V7 + "#P", TIME_KEYS),
    }
    assert len(keys) == 4
    assert node.execute("P", cmd.Mint("alice", 10 * USDC, 0), V7, T0 + 1).events
    recorded = node.record_round(V7, "r1", T0 + 1, (("BTC", 61_000 * WAD),), T0 + 1)
    assert not recorded.replayed
    assert node.record_round(V7, "r1", T0 + 1, (("BTC", 61_000 * WAD),), T0 + 2).replayed
    [marker] = node.events.get(oracle_request_stream_id(V7, TIME_KEYS))
    assert isinstance(marker, OracleRequestRecorded)
    assert node.execute("P", cmd.Mint("alice", 10 * USDC, 0), V7, T0 + 2).replayed


def test_two_nodes_opening_one_empty_store_agree_on_its_format(store_url):
    first, second = Node.open(store_url), Node.open(store_url)
    assert first.key_format == second.key_format == TIME_KEYS
    assert len(list(first.events.get(STORE_FORMAT_STREAM_ID))) == 1
