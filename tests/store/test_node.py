"""The node's event log on both stores: durable, idempotent, concurrent, snapshotted,
chained, upcast — each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import gc
import itertools
import json
import threading
import weakref

import pytest

from adapters.audit.report import audit
from adapters.store.codec import chain_hash, decode_event
from adapters.store.contract import RequestIdReused
from adapters.store.event_store import SNAPSHOT_INTERVAL
from adapters.store.node import Node
from adapters.store.records import product_stream_id
from domain import commands as cmd
from domain.errors import InsufficientBalance, InvalidArgument, ProductNotFound
from domain.params import default_params
from tests.store.tamper import Tamperer
from tests.support import DEFAULT_COMPONENTS, DEFAULT_PRICES, USDC

T0 = 1_700_000_000


def launched_node(url: str, product_id: str = "P") -> Node:
    node = Node.open(url)
    launch = cmd.LaunchProduct(product_id, DEFAULT_COMPONENTS, default_params())
    node.execute(product_id, launch, "launch", T0)
    for symbol, price in DEFAULT_PRICES.items():
        node.execute(product_id, cmd.ReportPrice(symbol, price, T0, "r1"), f"price-{symbol}", T0)
    return node


def event_count(node: Node, product_id: str = "P") -> int:
    return sum(1 for _ in node.stored_events(product_id))


def test_a_reopened_node_loads_exactly_the_state_it_saved(store_url):
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1)
    reopened = Node.open(store_url)
    assert reopened.load("P") == node.load("P")
    assert reopened.load("P").state.balance_of("alice") > 0


def test_repeating_a_request_id_returns_the_first_result_and_writes_nothing(store_url):
    node = launched_node(store_url)
    first = node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1)
    count = event_count(node)
    again = Node.open(store_url).execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 5)
    assert again.replayed
    assert not first.replayed
    assert again.events == first.events
    assert event_count(node) == count


def test_reusing_a_request_id_for_another_command_is_an_error_that_writes_nothing(store_url):
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1)
    count = event_count(node)
    with pytest.raises(RequestIdReused, match="different command"):
        node.execute("P", cmd.Mint("alice", 2_000 * USDC, 0), "m1", T0 + 1)
    assert event_count(node) == count


def test_a_rejected_command_writes_nothing_and_its_request_id_stays_free(store_url):
    node = launched_node(store_url)
    count = event_count(node)
    with pytest.raises(InsufficientBalance):
        node.execute("P", cmd.Redeem("alice", 1, 0), "r1", T0 + 1)
    assert event_count(node) == count
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "r1", T0 + 2)
    assert node.load("P").state.balance_of("alice") > 0


def test_a_command_on_an_unknown_product_is_not_found(store_url):
    with pytest.raises(ProductNotFound):
        Node.open(store_url).execute("nope", cmd.Tick(), "t1", T0)


@pytest.mark.parametrize("request_id", ["", "x" * 257, "bad\nid"])
def test_a_malformed_request_id_is_rejected(store_url, request_id):
    with pytest.raises(InvalidArgument, match="request_id"):
        launched_node(store_url).execute("P", cmd.Tick(), request_id, T0)


def test_two_nodes_writing_one_product_lose_no_update(store_url):
    launched_node(store_url).execute("P", cmd.Mint("alice", 10_000 * USDC, 0), "seed", T0 + 1)
    nodes = [Node.open(store_url) for _ in range(2)]
    errors: list[BaseException] = []

    def transfer(node: Node, prefix: str) -> None:
        try:
            for i in range(40):
                node.execute("P", cmd.Transfer("alice", prefix, 1), f"{prefix}-{i}", T0 + 2)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=transfer, args=(n, f"h{i}")) for i, n in enumerate(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    state = Node.open(store_url).load("P").state
    assert state.balance_of("h0") == 40
    assert state.balance_of("h1") == 40


def test_a_cold_load_uses_the_latest_snapshot_and_equals_the_replay(store_url):
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m", T0 + 1)
    for i in range(SNAPSHOT_INTERVAL + 10):
        node.execute("P", cmd.Transfer("alice", "bob", 1), f"t{i}", T0 + 1)
    snapshots = list(node.snapshots.get(product_stream_id("P")))
    assert [s.originator_version for s in snapshots] == [SNAPSHOT_INTERVAL]
    cold = Node.open(store_url)
    assert cold.load("P") == node.load("P")
    assert audit(cold).ok


def test_every_stored_event_carries_the_hash_of_its_predecessor(store_url):
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m", T0 + 1)
    records = list(node.stored_events("P"))
    assert records[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert len({r.hash for r in records}) == len(records)


def test_an_event_stored_in_an_old_schema_is_upcast_when_loaded(store_url):
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0)  # a supply for the fee to accrue on
    node.execute("P", cmd.Tick(), "tick", T0 + 60)
    record = next(r for r in node.stored_events("P") if r.type == "Accrued")
    assert record.schema == 2
    # Rewrite it as schema v1 wrote it (before the funding carry existed), with the chain
    # hash a v1 writer would have stored; a fresh node must still load and audit it.
    payload = {k: v for k, v in record.payload.items() if k != "funding_carry"}
    tamperer = Tamperer(store_url)
    stream = product_stream_id("P")
    row = next(
        r
        for r in tamperer.product_rows(stream.hex if store_url.startswith("sqlite") else str(stream))
        if r[2] == record.originator_version
    )
    assert decode_event("Accrued", 1, payload).funding_carry == 0
    old = json.loads(row[3])
    old.update(schema=1, payload=payload)
    old["hash"] = chain_hash(
        "P", record.originator_version, "Accrued", 1, payload, "tick", True, record.prev_hash
    )
    assert record.originator_version == node.load("P").version  # the last event: nothing chains on it
    tamperer.set_state(row, json.dumps(old).encode())
    assert audit(Node.open(store_url)).ok
    reloaded = Node.open(store_url).load("P")
    assert reloaded is not None
    assert reloaded.state.funding_carry == 0
    assert reloaded.state == node.load("P").state


def test_the_audit_of_a_store_written_by_the_node_is_clean(store_url):
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m", T0 + 1)
    node.execute("P", cmd.Redeem("alice", 10**20, 0), "r", T0 + 2)
    report = audit(Node.open(store_url))
    assert report.ok, report.findings
    assert report.products == 1
    assert report.events_checked == event_count(node)


def test_a_node_shared_by_threads_lists_each_product_once(store_url):
    """A served node answers from many threads; its registry cache must not list a product
    twice (it would then skip later ones, and number the next launch's listing wrongly)."""
    writer = Node.open(store_url)
    reader = Node.open(store_url)
    for trial in range(10):
        for i in range(4):
            product_id = f"P{trial}-{i}"
            launch = cmd.LaunchProduct(product_id, DEFAULT_COMPONENTS, default_params())
            writer.execute(product_id, launch, f"launch-{product_id}", T0)
        barrier = threading.Barrier(4)

        def read(start: threading.Barrier) -> None:
            start.wait()
            reader.product_ids()

        threads = [threading.Thread(target=read, args=(barrier,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert reader.product_ids() == writer.product_ids()
    assert len(set(reader.product_ids())) == 40


def test_a_node_sees_what_another_node_wrote_since_its_own_last_commit(store_url):
    a = launched_node(store_url)
    launch = cmd.LaunchProduct("Q", DEFAULT_COMPONENTS, default_params())
    a.execute("Q", launch, "launch-Q", T0)
    for symbol, price in DEFAULT_PRICES.items():
        a.execute("Q", cmd.ReportPrice(symbol, price, T0, "r1"), f"price-Q-{symbol}", T0)
    a.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1)  # a caches P and Q
    b = Node.open(store_url)
    b.execute("P", cmd.Mint("bob", 1_000 * USDC, 0), "m2", T0 + 1)
    b.execute("Q", cmd.Mint("bob", 1_000 * USDC, 0), "m3", T0 + 1)
    # a's next commit is on P alone: its cache of Q must still count as behind the store.
    assert a.execute("P", cmd.Transfer("bob", "carol", 1), "t1", T0 + 1).state.balance_of("carol") == 1
    assert a.execute("Q", cmd.Transfer("bob", "dave", 5), "t2", T0 + 1).state.balance_of("dave") == 5
    assert a.load("Q") == Node.open(store_url).load("Q")


def test_a_warm_node_answers_repeats_and_stale_rejections_as_a_cold_one_would(store_url):
    """A node whose caches are current decides without first reading markers; what that
    could get wrong is each case here: a repeat whose events would now be rejected, a
    repeat whose events would be accepted again, a repeat reusing the id for another
    command, and a rejection decided on a state another node has since moved on."""
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1)
    tokens = node.load("P").state.balance_of("alice")
    first = node.execute("P", cmd.Redeem("alice", tokens, 0), "all-out", T0 + 1)
    count = event_count(node)

    again = node.execute("P", cmd.Redeem("alice", tokens, 0), "all-out", T0 + 2)  # now 0 tokens
    assert again.replayed
    assert again.events == first.events
    assert node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 2).replayed
    with pytest.raises(RequestIdReused):
        node.execute("P", cmd.Redeem("alice", 1, 0), "m1", T0 + 2)
    assert event_count(node) == count

    Node.open(store_url).execute("P", cmd.Mint("bob", 1_000 * USDC, 0), "m2", T0 + 2)
    moved = node.execute("P", cmd.Transfer("bob", "carol", 1), "t1", T0 + 2)  # bob: 0 in the cache
    assert moved.state.balance_of("carol") == 1


def test_a_dropped_node_is_freed_at_once_with_its_connections(store_url):
    """A node nobody holds is freed when its last reference goes, not whenever the cyclic
    garbage collector runs: a reference cycle inside it (the store's parts pointing back at
    the node) kept every dropped node's PostgreSQL pool open, and a suite opening many nodes
    ran the server out of connections."""
    gc.disable()
    try:
        node = Node.open(store_url)
        node.product_ids()
        freed = weakref.ref(node)
        del node
        assert freed() is None
    finally:
        gc.enable()


def test_nodes_started_together_on_a_fresh_store_all_open_it(store_url):
    """Nodes started at the same moment on a store nobody opened yet race to create its
    tables; on PostgreSQL the library's CREATE TABLE IF NOT EXISTS then fails for the loser
    (a duplicate catalog row). Every node must open the store all the same."""
    starting = threading.Barrier(6)
    failures: list[BaseException] = []

    def start() -> None:
        starting.wait()
        try:
            Node.open(store_url).close()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
