"""The durable NAV history read model, on both stores: it follows the log, keeps its
position in the store across restarts, is shared by two nodes, and rebuilds to the same."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

from adapters.clock import SimulatedClock
from adapters.service.use_cases import Service
from adapters.store.nav_history import NavHistory, NavPoint, thin
from adapters.store.node import Node
from adapters.store.projections import rebuild
from domain import commands as cmd
from domain.fixedpoint import WAD
from domain.valuation import current_leverage_wad, nav_wad
from tests.service.test_service import T0, two_products
from tests.support import USDC


@pytest.fixture
def node_of(store_url) -> Iterator[Callable[[], Node]]:
    """Opens more nodes on the store (other processes, restarts), each closed afterwards:
    a PostgreSQL connection pool apiece, shared with every other test on the server."""
    opened: list[Node] = []

    def open_node() -> Node:
        opened.append(Node.open(store_url))
        return opened[-1]

    yield open_node
    for node in opened:
        node.close()


@pytest.fixture
def service(store_url) -> Iterator[Service]:
    """Two launched, priced products; the service and its node closed afterwards."""
    running = two_products(store_url)
    yield running
    running.close()


def activity(service: Service) -> None:
    clock = service.clock
    assert isinstance(clock, SimulatedClock)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m-A")
    service.commands.execute("B", cmd.Mint("bob", 500 * USDC, 0), "m-B")
    clock.advance_to(T0 + 3_600)
    service.prices.report_price("BTC", 63_000 * WAD, T0 + 3_600, "r1", "btc-2")
    service.commands.execute("A", cmd.Redeem("alice", 100 * WAD, 0), "r-A")


def reference(url: str) -> list[NavPoint]:
    """The in-memory read model's points (the projection the node had before)."""
    node = Node.open(url)
    try:
        return [
            NavPoint(
                p.position,
                p.product_id,
                p.at,
                p.index_price_wad,
                p.nav_per_token_wad,
                p.leverage_wad,
                p.supply,
            )
            for p in rebuild(node).nav_history
        ]
    finally:
        node.close()


def every_point(history: NavHistory) -> list[NavPoint]:
    points = history.points("A", max_points=10**6) + history.points("B", max_points=10**6)
    return sorted(points, key=lambda p: p.position)


def test_the_history_follows_the_log_and_ends_at_the_product_as_stored(service, store_url):
    history = NavHistory(service.node)
    assert history.catch_up() > 0
    activity(service)
    history.catch_up()
    assert every_point(history) == reference(store_url)
    for product_id in ("A", "B"):
        state = service.node.load(product_id).state
        last = history.points(product_id)[-1]
        assert (last.nav_per_token_wad, last.leverage_wad, last.supply, last.index_price_wad) == (
            nav_wad(state),
            current_leverage_wad(state),
            state.vault.supply,
            state.index_price_wad,
        )
    assert history.position == service.node.recorder.max_notification_id()


def test_its_position_is_kept_in_the_store_and_a_restart_goes_on_from_it(service, store_url, node_of):
    first = NavHistory(node_of())
    first.catch_up(limit=4)  # part of the log, then the process "stops"
    assert first.position == 4
    activity(service)
    restarted = NavHistory(node_of())  # a new process: nothing in memory
    assert restarted.position == 4
    total = service.node.recorder.max_notification_id()
    assert restarted.catch_up() == total - 4  # only what came after
    # Products met mid-stream were loaded as of the event before: the same points as a replay.
    assert every_point(restarted) == reference(store_url)


def test_two_nodes_catching_up_on_one_store_write_each_point_once(service, store_url, node_of):
    one, other = NavHistory(node_of()), NavHistory(node_of())
    one.catch_up(limit=3)
    other.catch_up()
    activity(service)
    one.catch_up()
    other.catch_up()
    assert every_point(one) == every_point(other) == reference(store_url)


def test_a_rebuild_replays_the_log_to_the_same_points(service, store_url):
    activity(service)
    history = NavHistory(service.node)
    history.catch_up()
    before = every_point(history)
    assert history.rebuild() == service.node.recorder.max_notification_id()
    assert every_point(history) == before


def test_points_by_time_and_position_and_thinned_keeping_the_ends(service, store_url):
    activity(service)
    history = NavHistory(service.node)
    history.catch_up()
    points = history.points("A")
    assert [p.at for p in history.points("A", start=T0 + 1)] == [p.at for p in points if p.at >= T0 + 1]
    assert all(p.at <= T0 for p in history.points("A", end=T0))
    cut = points[1].position
    assert history.points("A", after_position=cut) == [p for p in points if p.position > cut]
    two = history.points("A", max_points=2)
    assert two == [points[0], points[-1]]
    assert thin(list(range(10)), 4) == [0, 3, 6, 9]
    assert thin(list(range(3)), 5) == [0, 1, 2]


class _Racing(NavHistory):
    """A catch-up that pauses before its write until the other one has written: both read
    the same page from the same persisted position, as two processes may."""

    def __init__(self, node: Node, barrier: threading.Barrier) -> None:
        super().__init__(node)
        self.barrier = barrier

    def _write(self, points: Sequence[NavPoint], position: int) -> None:
        self.barrier.wait(timeout=30)
        super()._write(points, position)


def test_a_race_between_two_nodes_on_the_same_page_stores_each_point_once(service, store_url, node_of):
    activity(service)
    barrier = threading.Barrier(2)
    racers = [_Racing(node_of(), barrier) for _ in range(2)]
    failures: list[BaseException] = []

    def run(history: NavHistory) -> None:
        try:
            history.catch_up()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(r,)) for r in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert all(r.position == racers[0].node.recorder.max_notification_id() for r in racers)
    assert every_point(NavHistory(node_of())) == reference(store_url)
