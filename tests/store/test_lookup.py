"""The batch's one read: the store's last notification id and the markers of its request
ids, on both stores, across the query's chunks of ids."""

from __future__ import annotations

from adapters.rejections import REJECTIONS
from adapters.store.contract import Request
from adapters.store.node import Node
from adapters.store.records import RequestRecorded, request_stream_id
from adapters.store.sql import CHUNK, batch_view
from adapters.store.url import store_env
from benchmarks.workload import Appender, launch
from domain import commands as cmd

NOW = 1_700_000_001


def test_an_empty_store_has_no_last_id_and_no_markers(store_url):
    node = Appender(store_env(store_url))  # the library's tables, empty (a node records its format)
    assert batch_view(node, []) == (0, {})
    assert batch_view(node, [request_stream_id("never")]) == (0, {})


def test_it_finds_exactly_the_handled_ids_and_the_last_id_of_the_same_store(store_url):
    node = Node.open(store_url)
    launch(node, "P")
    handled = [f"mint-{n}" for n in range(3)]
    results = node.execute_batch([Request("P", cmd.Mint("h1", 10**8, 0), rid, NOW) for rid in handled])
    assert not [r for r in results if isinstance(r, REJECTIONS)]
    # More ids than one query takes, with the handled ones in the first and the last chunk.
    asked = [f"new-{n}" for n in range(2 * CHUNK + 10)]
    asked[1:1] = handled[:2]
    asked.append(handled[2])

    store_max, found = batch_view(node, (request_stream_id(r) for r in asked))

    assert store_max == node.recorder.max_notification_id()
    assert set(found) == {request_stream_id(r) for r in handled}
    assert all(isinstance(m, RequestRecorded) for m in found.values())
    assert {m.request_id for m in found.values()} == set(handled)
