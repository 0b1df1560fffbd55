"""What the servicers call: the node's use cases, with the clock mode, the keeper,
per-product price fan-out, the audit and a signal of new commits.

Every write goes to the store's single group-commit writer (``NodeService.writer``):
the commands of all the server's threads that arrive while a commit is being made share
the next one, and each is answered only once its commit is durable. Reads load from the
node's cache, fast-forwarded from the store. A lock guards only the simulated clock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Literal, TypeVar

from attrs import define, field, frozen

from adapters.clock import SimulatedClock, SystemClock
from adapters.grpc.errors import TooManyFollowers, WallClockTick
from adapters.grpc.metrics import Metrics
from adapters.rejections import REJECTIONS, Rejection
from adapters.store import price_reports
from adapters.store.audit import AuditReport, Progress
from adapters.store.audit import audit as run_audit
from adapters.store.codec import command_fingerprint
from adapters.store.node import Loaded, Node, Outcome, RequestIdReused
from adapters.store.records import PriceReportRecorded, StoredProductEvent
from adapters.store.service import NodeService
from domain import commands as cmd
from domain import events as ev
from domain.errors import InvalidArgument, InvalidPriceReport, ProductNotFound
from domain.validation import check_reporter_id

ClockMode = Literal["wall", "simulated"]
E = TypeVar("E", bound=ev.Event)
WALL_TICK_TOLERANCE_S = 5


@frozen
class PriceResult:
    product_id: str
    outcome: Outcome | None
    error: Rejection | None


@frozen
class TickResult:
    product_id: str
    outcome: Outcome | None
    error: Rejection | None


@define
class NodeApp:
    service: NodeService
    store_url: str
    clock_mode: ClockMode
    metrics: Metrics | None = None
    max_followers: int = 16
    _lock: threading.RLock = field(factory=threading.RLock)
    _commits: threading.Condition = field(factory=threading.Condition)
    _committed: int = 0
    _followers: int = 0

    @classmethod
    def open(
        cls,
        store_url: str,
        clock_mode: ClockMode,
        start: int | None = None,
        metrics: Metrics | None = None,
        max_followers: int = 16,
    ) -> NodeApp:
        node = Node.open(store_url)
        clock: SimulatedClock | SystemClock
        if clock_mode == "simulated":
            clock = SimulatedClock(
                start if start is not None else last_event_time(node) or SystemClock().now()
            )
        else:
            clock = SystemClock()
        return cls(NodeService(node, clock), store_url, clock_mode, metrics, max_followers)

    @property
    def node(self) -> Node:
        return self.service.node

    def now(self) -> int:
        return self.service.clock.now()

    # Commands ----------------------------------------------------------------------------

    def execute(self, product_id: str, command: cmd.Command, request_id: str) -> Outcome:
        outcome = self.service.command(product_id, command, require_request_id(request_id))
        self._after(product_id, outcome)
        return outcome

    def _after(self, product_id: str, outcome: Outcome) -> None:
        if self.metrics is not None and outcome.state is not None:
            self.metrics.observe_state(outcome.state)
        if outcome.events and not outcome.replayed:
            with self._commits:
                self._committed += 1
                self._commits.notify_all()

    def report_price(
        self, symbol: str, price_wad: int, observed_at: int, reporter_id: str, request_id: str
    ) -> list[PriceResult]:
        """Fan a price out to every product holding ``symbol`` (as ``NodeService`` does),
        keeping each product's rejection apart: when every product rejects, nothing was
        written and the first rejection is raised."""
        require_request_id(request_id)
        check_reporter_id(reporter_id)
        if price_wad <= 0:
            raise InvalidPriceReport(f"price must be positive (WAD), got {price_wad}")
        report = cmd.ReportPrice(symbol, price_wad, observed_at, reporter_id)
        fingerprint = command_fingerprint("", report)
        every_id = self.service.request_ids(self.product_ids(), request_id)
        first, handled = price_reports.first_answer(self.node, request_id, every_id)
        if first is not None:
            return self._report_again(first, report, fingerprint)
        # A repeat of a report that every product it went to applied (or that was answered
        # before records existed): those products only, each answering its first outcome,
        # whichever products hold the symbol now.
        ids = handled or self.service.fan_out_ids(symbol, request_id)
        results = self._fan_out(report, ids)
        applied = [r for r in results if r.outcome is not None]
        if not applied:
            assert results[0].error is not None
            raise results[0].error
        if len(applied) < len(results):
            # Applied by some, rejected by others: keep which products it went to and what
            # the ones that rejected it said (no marker holds that), for a repeat.
            price_reports.record(
                self.node,
                request_id,
                fingerprint,
                [(r.product_id, ids[r.product_id] if r.outcome else None, r.error) for r in results],
            )
        for result in applied:
            assert result.outcome is not None
            self._after(result.product_id, result.outcome)
        return results

    def _fan_out(self, report: cmd.ReportPrice, ids: dict[str, str]) -> list[PriceResult]:
        now = self.now()
        writer = self.service.writer
        pending = [(pid, writer.submit(pid, report, rid, now)) for pid, rid in ids.items()]
        results: list[PriceResult] = []
        for pid, future in pending:
            try:
                results.append(PriceResult(pid, future.result(), None))
            except REJECTIONS as error:
                results.append(PriceResult(pid, None, error))
        return results

    def _report_again(
        self, first: PriceReportRecorded, report: cmd.ReportPrice, fingerprint: str
    ) -> list[PriceResult]:
        """A repeat of a recorded fan-out: the same products in the same order; those that
        applied it answer their first outcome (their markers), the others their first
        rejection, and products launched since are not sent it."""
        if first.fingerprint != fingerprint:
            raise RequestIdReused(
                f"request_id {first.request_id!r} was used for a different price report; use a new request id"
            )
        report_ids = {row["product_id"]: row["request_id"] for row in first.outcomes if "request_id" in row}
        replays = {r.product_id: r for r in self._fan_out(report, report_ids)}
        results = []
        for row in first.outcomes:
            pid = row["product_id"]
            if pid in replays:
                results.append(replays[pid])
            else:
                results.append(
                    PriceResult(pid, None, price_reports.rejection_of(row["error"], row["message"]))
                )
        return results

    def tick(self, now: int | None) -> tuple[int, list[TickResult]]:
        """The keeper over every product; a simulated clock first moves to ``now``."""
        with self._lock:
            clock = self.service.clock
            if isinstance(clock, SimulatedClock):
                if now is not None:
                    clock.advance_to(now)
            elif now is not None and abs(now - clock.now()) > WALL_TICK_TOLERANCE_S:
                raise WallClockTick(
                    f"this node runs on the wall clock (now {clock.now()}); Tick(now={now}) can "
                    "only run at the current time: leave `now` unset, or serve with --clock simulated"
                )
            moment = clock.now()
        writer = self.service.writer
        pending = [
            (pid, writer.submit(pid, cmd.Tick(), self.service.keeper_request_id(pid, moment), moment))
            for pid in self.node.product_ids()
        ]
        results: list[TickResult] = []
        for pid, future in pending:
            try:
                results.append(TickResult(pid, future.result(), None))
            except REJECTIONS as error:
                results.append(TickResult(pid, None, error))
        for result in results:
            if result.outcome is not None:
                self._after(result.product_id, result.outcome)
        return moment, results

    # Reads -------------------------------------------------------------------------------

    def load(self, product_id: str) -> Loaded:
        loaded = self.node.load(product_id)
        if loaded is None:
            raise ProductNotFound(f"no product {product_id!r}: launch it first")
        return loaded

    def product_ids(self) -> tuple[str, ...]:
        return self.node.product_ids()

    def read_page(self, after: int, limit: int) -> list[tuple[int, object]]:
        """Stored records with a store position after ``after``: (position, record)."""
        page = self.node.recorder.select_notifications(after + 1, limit)
        return [(n.id, self.node.mapper.to_domain_event(n)) for n in page]

    def audit(self, product_id: str | None, progress: Progress | None = None) -> AuditReport:
        """The audit on a node of its own, so that it neither blocks nor disturbs commands."""
        if product_id is not None and product_id not in self.product_ids():
            raise ProductNotFound(f"no product {product_id!r}")
        auditor = Node.open(self.store_url)
        try:
            return run_audit(auditor, product_id, progress)
        finally:
            auditor.close()

    def wait_for_commit(self, seen: int, timeout_s: float) -> int:
        """Block until a command of this process commits after ``seen`` or ``timeout_s``
        passes; return the commit counter (the caller polls the store either way, so
        other processes' commits arrive within ``timeout_s``)."""
        with self._commits:
            if self._committed == seen:
                self._commits.wait(timeout_s)
            return self._committed

    @contextlib.contextmanager
    def follower_slot(self) -> Iterator[None]:
        """Hold one of ``max_followers`` slots for a following stream, or refuse."""
        with self._commits:
            if self._followers >= self.max_followers:
                raise TooManyFollowers(
                    f"{self.max_followers} streams already follow the log; retry later or read without follow"
                )
            self._followers += 1
        try:
            yield
        finally:
            with self._commits:
                self._followers -= 1

    @property
    def committed(self) -> int:
        with self._commits:
            return self._committed


def require_request_id(request_id: str) -> str:
    if not request_id:
        raise InvalidArgument("request_id is required: a client-chosen idempotency key (1-128 characters)")
    return request_id


def last_event_time(node: Node) -> int | None:
    """The ``at`` of the store's last event, to resume a simulated clock where it stopped."""
    last = node.recorder.max_notification_id() or 0
    found: int | None = None
    for notification in node.recorder.select_notifications(max(1, last - 100), 101):
        record = node.mapper.to_domain_event(notification)
        if isinstance(record, StoredProductEvent) and isinstance(record.payload.get("at"), int):
            found = max(found or 0, record.payload["at"])
    return found


def events_of(outcome: Outcome, kind: type[E]) -> list[E]:
    return [e for e in outcome.events if isinstance(e, kind)]
