"""The composition root: ``bootstrap`` opens a node's store and wires the service layer
around it, with the clock, the single group-commit writer, the keeper and the metrics.
Every entry point that serves a store (``iit serve``, the demos, the tests) starts here.
"""

from __future__ import annotations

from typing import Literal

from adapters.clock import Clock, SimulatedClock, SystemClock
from adapters.grpc.metrics import Metrics
from adapters.service.audits import Audits
from adapters.service.commits import Commits
from adapters.service.execute import Commands
from adapters.service.follow import Follow
from adapters.service.keeper import Keeper
from adapters.service.prices import Prices
from adapters.service.reads import Reads, load_product
from adapters.service.use_cases import Service
from adapters.store.node import Node
from adapters.store.records import StoredProductEvent

ClockMode = Literal["wall", "simulated"]


def bootstrap(
    store_url: str,
    clock: ClockMode | Clock = "wall",
    start: int | None = None,
    metrics: Metrics | None = None,
    max_streams: int = 16,
) -> Service:
    """The service of the store at ``store_url``. ``clock``: the wall clock, a simulated
    one starting at ``start`` (default: the store's last event, or now), or a clock of
    the caller's. ``metrics`` watch the clock, the writer and every product's state."""
    node = Node.open(store_url)
    try:
        time = clock if not isinstance(clock, str) else _clock(node, clock, start)
        commits = Commits.start(node, metrics)
    except BaseException:
        node.close()
        raise
    service = Service(
        node=node,
        clock=time,
        commits=commits,
        commands=Commands(commits, time),
        prices=Prices(node, time, commits),
        keeper=Keeper(node, time, commits),
        audits=Audits(node, store_url),
        follow=Follow(node, commits, max_streams),
        reads=Reads(node, time),
    )
    if metrics is not None:
        try:
            metrics.watch(time.now, commits.counts)
            for product_id in node.product_ids():
                metrics.observe_state(load_product(node, product_id).state)
        except BaseException:
            service.close()
            raise
    return service


def _clock(node: Node, mode: ClockMode, start: int | None) -> Clock:
    if mode == "simulated":
        return SimulatedClock(start if start is not None else last_event_time(node) or SystemClock().now())
    return SystemClock()


def last_event_time(node: Node) -> int | None:
    """The ``at`` of the store's last event, to resume a simulated clock where it stopped."""
    last = node.recorder.max_notification_id() or 0
    found: int | None = None
    for notification in node.recorder.select_notifications(max(1, last - 100), 101):
        record = node.mapper.to_domain_event(notification)
        if isinstance(record, StoredProductEvent) and isinstance(record.payload.get("at"), int):
            found = max(found or 0, record.payload["at"])
    return found
