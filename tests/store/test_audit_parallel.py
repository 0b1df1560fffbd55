"""An audit in several processes, each replaying a share of the store's streams, finds
exactly what an audit in one process finds, in the same order, on both stores — with a
violation planted in every product, a request applied in two products, and an unreadable
row; it reports progress as one process does, and stays truthful while a node writes."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.audit import parallel as audit_pool
from adapters.audit.parallel import AuditProcessFailed, plan_shares, replay_in_processes
from adapters.audit.report import audit
from adapters.audit.rows import Share
from adapters.store.event_store import Loaded
from adapters.store.node import Node
from adapters.store.records import product_stream_id, request_stream_id
from domain import commands as cmd
from domain.params import default_params
from tests.store.factory import open_node
from tests.store.tamper import Tamperer
from tests.store.test_node import T0
from tests.support import DEFAULT_COMPONENTS, DEFAULT_PRICES, USDC

PRODUCTS = ("P0", "P1", "P2", "P3")
STEPS = (
    ("m1", cmd.Mint("alice", 1_000 * USDC, 0)),
    ("m2", cmd.Mint("bob", 500 * USDC, 0)),
    ("t1", cmd.Transfer("alice", "carol", 10**18)),
    ("r1", cmd.Redeem("bob", 10**20, 0)),
    ("m3", cmd.Mint("dave", 200 * USDC, 0)),
)


def _trading_store(url: str, between: Callable[[], None] | None = None) -> Node:
    """Four products trading in turn, so that their events interleave in the store; a small
    snapshot interval, so that every product has snapshots. ``between`` runs halfway."""
    node = open_node(url)
    for p in PRODUCTS:
        node.execute(p, cmd.LaunchProduct(p, DEFAULT_COMPONENTS, default_params()), f"{p}-launch", T0)
        for symbol, price in DEFAULT_PRICES.items():
            node.execute(p, cmd.ReportPrice(symbol, price, T0, "r1"), f"{p}-price-{symbol}", T0)
    for at, (name, command) in enumerate(STEPS, start=1):
        if at == 4 and between is not None:
            between()
            node = open_node(url)
        for p in PRODUCTS:
            node.execute(p, command, f"{p}-{name}", T0 + at)
    return node


def _key(url: str, stream: UUID) -> str:
    return stream.hex if url.startswith("sqlite") else str(stream)


@pytest.fixture
def planted(store_url) -> str:
    """A violation in every product, some across products, unreadable rows all over."""
    tamperer = Tamperer(store_url)

    def rows(product_id: str):
        return tamperer.product_rows(_key(store_url, product_stream_id(product_id)))

    def marker(request_id: str):
        (row,) = tamperer.product_rows(_key(store_url, request_stream_id(request_id)))
        return row

    def reuse_a_request_of_p2_in_p3() -> None:
        """Halfway: P2's marker of t1 lost, and t1 sent to P3, which applies it again."""
        tamperer.delete(marker("P2-t1"))
        Node.open(store_url).execute("P3", cmd.Transfer("alice", "carol", 10**18), "P2-t1", T0 + 3)

    _trading_store(store_url, between=reuse_a_request_of_p2_in_p3)
    # P0: an edited payload in the middle of its stream.
    tamperer.edit_payload(rows("P0")[7], lambda p: p.update(at=p["at"] + 1))
    # P1: its last decision cut off the end (its marker remains), and a snapshot beyond the log.
    node = Node.open(store_url)
    last = [r for r in node.stored_events("P1") if r.request_id == "P1-m3"]
    for row in rows("P1")[-len(last) :]:
        tamperer.delete(row)
    loaded = Node.open(store_url).load("P1")
    node.snapshot("P1", Loaded(loaded.state, loaded.version + 3, loaded.last_hash))
    # P2: a request applied twice in its own stream (its marker lost, then retried).
    tamperer.delete(marker("P2-m1"))
    Node.open(store_url).execute("P2", cmd.Mint("alice", 1_000 * USDC, 0), "P2-m1", T0 + 9)
    # Unreadable markers, in every product, early and late.
    for request_id in ("P0-m1", "P1-m2", "P2-r1", "P3-m2", "P3-m3", "P0-m3"):
        tamperer.set_state(marker(request_id), b"not json")
    return store_url


@pytest.mark.parametrize("processes", [2, 3, 4])
def test_a_parallel_audit_finds_exactly_what_a_serial_one_finds(planted, processes):
    serial = audit(Node.open(planted), processes=1)
    parallel = audit(Node.open(planted), processes=processes)
    assert serial.processes == 1
    assert parallel.processes > 1
    assert parallel.findings == serial.findings
    assert (parallel.events_checked, parallel.invariants_checked, parallel.products) == (
        serial.events_checked,
        serial.invariants_checked,
        serial.products,
    )
    # ...and what it finds is every planted violation.
    found = {(f.product_id, f.invariant) for f in serial.findings}
    assert {("P0", "hash_chain"), ("P1", "idempotency"), ("P1", "snapshot_matches_log")} <= found
    unreadable = (str(request_stream_id("P3-m2")), "replayable")
    assert {("P2", "idempotency"), ("P3", "idempotency"), unreadable} <= found
    across = [f for f in serial.findings if f.product_id == "P3" and "applied again" in f.detail]
    assert len(across) == 1
    assert "product P2" in across[0].detail
    # Findings of single rows come first, in store order, whichever process found them.
    of_markers = ("would not be recognised", "not in the log")
    rows = [f.position for f in serial.findings if f.position and not f.detail.endswith(of_markers)]
    assert rows == sorted(rows)
    assert across[0].position < rows[-1]


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_every_way_of_starting_the_processes_gives_the_same_findings(planted, method, monkeypatch):
    serial = audit(Node.open(planted), processes=1)
    monkeypatch.setattr(audit_pool, "_context", lambda: multiprocessing.get_context(method))
    parallel = audit(Node.open(planted), processes=2)
    assert parallel.processes == 2
    assert parallel.findings == serial.findings


def test_a_parallel_audit_reports_progress_as_a_serial_one_does(planted):
    calls: dict[int, list[tuple[int, int]]] = {1: [], 2: []}
    for processes, seen in calls.items():
        node = Node.open(planted)
        audit(node, progress=lambda *c, s=seen: s.append(c), progress_every=7, processes=processes)
    assert calls[2] == calls[1]
    assert len(calls[1]) > 5


def test_a_clean_store_audited_in_parallel_is_clean(store_url):
    _trading_store(store_url)
    report = audit(Node.open(store_url), processes=2)
    assert report.ok, report.findings
    assert report.processes == 2
    assert report.products == len(PRODUCTS)


def test_a_record_filed_under_another_products_stream_is_judged_by_a_replay_in_store_order(store_url):
    """Two shares meet the same product only if a record sits in another product's stream:
    the audit then replays the store in one process, which alone judges that exactly."""
    node = _trading_store(store_url)
    first, second = plan_shares(node, node.recorder.max_notification_id(), 2)
    a = next(p for p in PRODUCTS if product_stream_id(p) in first.own)
    b = next(p for p in PRODUCTS if product_stream_id(p) in second.own)
    tamperer = Tamperer(store_url)
    a_rows = tamperer.product_rows(_key(store_url, product_stream_id(a)))
    b_rows = tamperer.product_rows(_key(store_url, product_stream_id(b)))
    tamperer.set_state(b_rows[-1], a_rows[-1][3])
    serial = audit(Node.open(store_url), processes=1)
    parallel = audit(Node.open(store_url), processes=2)
    assert not serial.ok
    assert parallel.processes == 1
    assert parallel.findings == serial.findings


def test_a_process_that_cannot_audit_its_share_fails_the_audit(store_url):
    """A process that finds fewer rows than the audit saw is not on the same store."""
    node = _trading_store(store_url)
    beyond = node.recorder.max_notification_id() + 5
    middle = UUID(int=1 << 127)
    with pytest.raises(AuditProcessFailed, match="fewer than"):
        replay_in_processes(node, [Share(beyond, high=middle), Share(beyond, low=middle)], None, None, 100)


def test_a_parallel_audit_of_a_live_store_reports_nothing_false(store_url):
    """Audits in several processes while a node keeps writing to every product: each judges
    the store as it was when it began, and later audits see more."""
    node = _trading_store(store_url)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            p = PRODUCTS[written[0] % len(PRODUCTS)]
            node.execute(p, cmd.Transfer("alice", "bob", 1), f"live-{written[0]}", T0 + 9)
            written[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        reports = [audit(Node.open(store_url), processes=2)]
        while len(reports) < 4 or reports[-1].events_checked == reports[0].events_checked:
            assert len(reports) < 500, "the writer made no progress"
            reports.append(audit(Node.open(store_url), processes=2))
    finally:
        stop.set()
        writer.join()
    assert [r.findings for r in reports if not r.ok] == []
    assert {r.processes for r in reports} == {2}
    assert reports[-1].events_checked > reports[0].events_checked
    assert audit(Node.open(store_url), processes=2).ok


def test_iit_audit_in_several_processes_prints_what_one_process_prints(planted):
    from tests.store.test_audit import _iit_audit  # noqa: PLC0415

    one = _iit_audit("--store", planted, "--processes", "1")
    two = _iit_audit("--store", planted, "--processes", "2")
    assert one.returncode == two.returncode == 1
    assert two.stdout == one.stdout


SPAN = 1 << 128
IDS = st.integers(0, SPAN - 1).map(lambda n: UUID(int=n))


@given(
    st.dictionaries(IDS, st.integers(0, 10_000), max_size=12),
    st.integers(0, 50_000),
    st.integers(2, 6),
    st.lists(IDS, max_size=20),
)
def test_the_shares_hold_every_stream_once_and_about_equal_work(weights, others, count, ids):
    """Each product's stream is in one share, every other id in one share's range, and no
    share has more work (its products, and its range's part of the other rows) than an equal
    share or its products alone, nor do its products weigh more than an equal share plus the
    heaviest product."""
    shares = audit_pool.shares_of(weights, others, 100, count)
    assert 1 <= len(shares) <= count
    bounds = {b for s in shares for b in (s.low, s.high) if b is not None}
    near = {UUID(int=n) for b in bounds for n in (b.int - 1, b.int, b.int + 1) if 0 <= n < SPAN}
    for stream in {*weights, *ids, *near, UUID(int=0), UUID(int=SPAN - 1)}:
        assert sum(s.reads(stream) for s in shares) == 1, stream
    total = sum(weights.values()) + others
    heaviest = max(weights.values(), default=0)
    loads = [sum(weights[p] for p in share.own) for share in shares]
    for share, load in zip(shares, loads, strict=True):
        low = share.low.int if share.low else 0
        high = share.high.int if share.high else SPAN
        spread = others * max(high - low, 0) / SPAN if share.has_range else 0
        assert load <= sum(weights.values()) / count + heaviest
        assert load + spread <= max(total / count, *loads) + 1


@pytest.mark.parametrize("count", [2, 3, 5])
def test_with_many_products_the_shares_are_ranges_of_every_stream(count):
    shares = audit_pool.ranges_of_every_stream(100, count)
    assert len(shares) == count
    for n in (0, 1, SPAN // count - 1, SPAN // count, SPAN // 2, SPAN - 1):
        assert sum(s.reads(UUID(int=n)) for s in shares) == 1


def test_four_products_of_equal_length_make_two_shares_of_two_and_halve_the_other_rows():
    weights = {UUID(int=SPAN // 8 * k): 100 for k in (1, 3, 5, 7)}
    first, second = audit_pool.shares_of(weights, 1_000, 100, 2)
    assert (len(first.own), len(second.own)) == (2, 2)
    assert first.high == second.low == UUID(int=SPAN // 2)


def test_markers_keyed_by_time_are_split_evenly_between_the_shares(store_url):
    """UUIDv7 request ids are their markers' keys (``adapters/store/key_format.py``): all
    in a narrow band of ids, not spread over them. The cut between shares is where half of
    those rows lie, not the middle of the id space (which would leave one share them all)."""
    node = Node.open(store_url)
    for product_id in ("A", "B"):
        node.execute(
            product_id,
            cmd.LaunchProduct(product_id, DEFAULT_COMPONENTS, default_params()),
            f"l{product_id}",
            T0,
        )
        for symbol, price in DEFAULT_PRICES.items():
            node.execute(product_id, cmd.ReportPrice(symbol, price, T0, "r1"), f"{product_id}{symbol}", T0)
    base = 0x019A8B2C3D4E  # a millisecond in 2025, then one per command
    ids = [str(UUID(int=(base + n) << 80 | 7 << 76 | 0b10 << 62 | n)) for n in range(60)]
    for n, request_id in enumerate(ids):
        node.execute("AB"[n % 2], cmd.Mint("alice", 10 * USDC, 0), request_id, T0 + 1)
    keys = [request_stream_id(i, node.key_format) for i in ids]
    assert keys == [UUID(i) for i in ids]
    first, second = plan_shares(node, node.recorder.max_notification_id(), 2)
    in_first = sum(first.reads(k) for k in keys)
    assert sum(second.reads(k) for k in keys) == len(keys) - in_first
    assert 15 <= in_first <= 45, in_first
