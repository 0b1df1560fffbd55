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

import attrs
from attrs import define, field, frozen

from adapters.audit.report import AuditReport, Progress
from adapters.audit.report import audit as run_audit
from adapters.clock import SimulatedClock, SystemClock
from adapters.grpc.errors import TooManyStreams, WallClockTick
from adapters.grpc.metrics import Metrics
from adapters.rejections import REJECTIONS, Rejection
from adapters.store import price_reports
from adapters.store.activity import ActivityModel
from adapters.store.codec import command_fingerprint
from adapters.store.nav_history import NavHistory
from adapters.store.node import Loaded, Node, Outcome, RequestIdReused
from adapters.store.records import PriceReportRecorded, StoredProductEvent
from adapters.store.service import NodeService
from domain import commands as cmd
from domain import events as ev
from domain.accrual import accrue
from domain.decide import decide_and_apply
from domain.draft import Draft
from domain.errors import InsufficientBalance, InvalidArgument, InvalidPriceReport, ProductNotFound
from domain.model import LOCKED_HOLDER, ProductState
from domain.rebalancing import next_keeper_due
from domain.validation import check_client_request_id, check_reporter_id, shown

ClockMode = Literal["wall", "simulated"]
E = TypeVar("E", bound=ev.Event)
WALL_TICK_TOLERANCE_S = 5
CATCH_UP_STEPS_MAX = 100_000  # keeper wake-ups within one simulated Tick (a year of 5-min chunks)


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
    max_streams: int = 16
    _activity: ActivityModel | None = None
    _lock: threading.RLock = field(factory=threading.RLock)
    _commits: threading.Condition = field(factory=threading.Condition)
    _committed: int = 0
    _streams: int = 0
    _nav_history: NavHistory | None = None

    @classmethod
    def open(
        cls,
        store_url: str,
        clock_mode: ClockMode,
        start: int | None = None,
        metrics: Metrics | None = None,
        max_streams: int = 16,
    ) -> NodeApp:
        node = Node.open(store_url)
        clock: SimulatedClock | SystemClock
        if clock_mode == "simulated":
            clock = SimulatedClock(
                start if start is not None else last_event_time(node) or SystemClock().now()
            )
        else:
            clock = SystemClock()
        return cls(NodeService(node, clock), store_url, clock_mode, metrics, max_streams)

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
        """A price is a round of one (see ``report_prices``)."""
        report = cmd.ReportPrice(symbol, price_wad, observed_at, reporter_id)
        return self._report(report, reporter_id, observed_at, ((symbol, price_wad),), request_id)

    def report_prices(
        self, reporter_id: str, observed_at: int, prices: tuple[tuple[str, int], ...], request_id: str
    ) -> list[PriceResult]:
        """Record a round once in the oracle's book (whether or not a product holds its
        symbols), then fan it out to every product holding any of them, each judging it as
        one update and keeping its rejection apart: when every product rejects, the first
        rejection is raised (the round stays in the book: a fact about the assets)."""
        round_ = cmd.ReportPrices(reporter_id, observed_at, prices)
        return self._report(round_, reporter_id, observed_at, prices, request_id)

    def _report(
        self,
        command: cmd.Command,
        reporter_id: str,
        observed_at: int,
        prices: tuple[tuple[str, int], ...],
        request_id: str,
    ) -> list[PriceResult]:
        require_request_id(request_id)
        check_reporter_id(reporter_id)
        for symbol, price in prices:
            if price <= 0:
                raise InvalidPriceReport(f"price of {symbol} must be positive (WAD), got {price}")
        fingerprint = command_fingerprint("", command)
        every_id = self.service.request_ids(self.product_ids(), request_id)
        first, handled = price_reports.first_answer(self.node, request_id, every_id)
        if first is not None:
            return self._report_again(first, command, fingerprint)
        # A repeat of a report that every product it went to applied (or that was answered
        # before records existed): those products only, each answering its first outcome,
        # whichever products hold the symbols now.
        ids = handled or self.service.fan_out_ids(tuple(symbol for symbol, _ in prices), request_id)
        now = self.now()
        if not handled:
            self.service.refuse_if_stale_everywhere(ids, observed_at, now)
        # Recorded once in the oracle book, whether or not a product holds the symbols (a
        # repeat finds its marker and records nothing).
        self.node.record_round(request_id, reporter_id, observed_at, prices, now)
        results = self._fan_out(command, ids, now)
        applied = [r for r in results if r.outcome is not None]
        if results and not applied:
            assert results[0].error is not None
            raise results[0].error
        if len(applied) < len(results) or not results:
            # Applied by some, rejected by others (or held by no product): keep which
            # products it went to and what the ones that rejected it said (no marker holds
            # that), for a repeat.
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

    def _fan_out(self, report: cmd.Command, ids: dict[str, str], now: int | None = None) -> list[PriceResult]:
        now = self.now() if now is None else now
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
        self, first: PriceReportRecorded, report: cmd.Command, fingerprint: str
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

    def next_due(self, after: int) -> int | None:
        """The earliest moment after ``after`` at which a product has keeper work due (a TWAP
        chunk, a scheduled rebalance), from the products' states; None when none has."""
        dues = [next_keeper_due(self.load(pid).state, after) for pid in self.product_ids()]
        return min((d for d in dues if d is not None), default=None)

    def tick(self, now: int | None) -> tuple[int, list[TickResult]]:
        """The keeper over every product; a simulated clock first moves to ``now``, running
        the keeper on the way at every moment a product had work due (a TWAP chunk
        ``twap_cooldown_s`` after the last, a scheduled rebalance at its time of day), as a
        node on the wall clock wakes its keeper then: time passes, and nothing else happens
        between two Ticks of a simulated clock."""
        with self._lock:
            clock = self.service.clock
            if isinstance(clock, SimulatedClock):
                if now is not None:
                    self._catch_up(clock, now)
                    clock.advance_to(now)
            elif now is not None and abs(now - clock.now()) > WALL_TICK_TOLERANCE_S:
                raise WallClockTick(
                    f"this node runs on the wall clock (now {clock.now()}); Tick(now={now}) can "
                    "only run at the current time: leave `now` unset, or serve with --clock simulated"
                )
            moment = clock.now()
        return moment, self._tick_at(moment)

    def _catch_up(self, clock: SimulatedClock, now: int) -> None:
        for _ in range(CATCH_UP_STEPS_MAX):
            due = self.next_due(clock.now())
            if due is None or due >= now:
                return
            clock.advance_to(due)
            self._tick_at(due)

    def _tick_at(self, moment: int) -> list[TickResult]:
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
        if self.metrics is not None:
            self.metrics.observe_keeper(
                (
                    r.product_id,
                    str(trades[0].reason) if (trades := events_of(r.outcome, ev.Rebalanced)) else None,
                    bool(events_of(r.outcome, ev.Settled)),
                    False,
                )
                if r.outcome is not None
                else (r.product_id, None, False, True)
                for r in results
            )
        return results

    # Reads -------------------------------------------------------------------------------

    def load(self, product_id: str) -> Loaded:
        loaded = self.node.load(product_id)
        if loaded is None:
            raise ProductNotFound(f"no product {shown(product_id)}: launch it first")
        return loaded

    def product_ids(self) -> tuple[str, ...]:
        return self.node.product_ids()

    @property
    def activity(self) -> ActivityModel:
        """The holders' activity read model, caught up with the log."""
        with self._lock:
            if self._activity is None:
                self._activity = ActivityModel(self.node)
        self._activity.catch_up()
        return self._activity

    def accrued(self, product_id: str) -> tuple[Loaded, ProductState, int]:
        """The product as stored, and as accrued to the node's clock (nothing written):
        what GetProduct shows."""
        loaded = self.load(product_id)
        now = self.now()
        draft = Draft(loaded.state)
        accrue(draft, now)
        return loaded, draft.state, now

    def quote(self, product_id: str, command: cmd.Mint | cmd.Redeem) -> tuple[Draft, int]:
        """What ``command`` would do now: the very decision the writer would make on the
        product as stored, at the node's clock, with nothing stored (ERC-4626's previews).

        A redemption quote holds for an anonymous holder credited with the tokens quoted
        (the payout does not depend on whose tokens they are); more than circulate is
        ``InsufficientBalance``."""
        state = self.load(product_id).state
        now = self.now()
        if isinstance(command, cmd.Redeem):
            circulating = state.vault.supply - state.balance_of(LOCKED_HOLDER)
            if command.token_amount > circulating:
                raise InsufficientBalance(
                    f"{circulating} tokens of {product_id} circulate; a redemption of "
                    f"{command.token_amount} cannot be quoted"
                )
            state = attrs.evolve(state, balances={**state.balances, command.holder_id: command.token_amount})
        return decide_and_apply(state, command, now), now

    def read_page(self, after: int, limit: int) -> list[tuple[int, object]]:
        """Stored records with a store position after ``after``: (position, record)."""
        page = self.node.recorder.select_notifications(after + 1, limit)
        return [(n.id, self.node.mapper.to_domain_event(n)) for n in page]

    def audit(self, product_id: str | None, progress: Progress | None = None) -> AuditReport:
        """The audit on a node of its own, so that it neither blocks nor disturbs commands."""
        if product_id is not None and product_id not in self.product_ids():
            raise ProductNotFound(f"no product {shown(product_id)}")
        auditor = Node.open(self.store_url)
        try:
            return run_audit(auditor, product_id, progress)
        finally:
            auditor.close()

    def nav_history(self) -> NavHistory:
        """The NAV history read model of this store (its tables made on first use)."""
        with self._lock:
            if self._nav_history is None:
                self._nav_history = NavHistory(self.node)
            return self._nav_history

    def wait_for_commit(self, seen: int, timeout_s: float) -> int:
        """Block until a command of this process commits after ``seen`` or ``timeout_s``
        passes; return the commit counter (the caller polls the store either way, so
        other processes' commits arrive within ``timeout_s``)."""
        with self._commits:
            if self._committed == seen:
                self._commits.wait(timeout_s)
            return self._committed

    @contextlib.contextmanager
    def stream_slot(self) -> Iterator[None]:
        """Hold one of ``max_streams`` slots for a StreamEvents, or refuse. Replays and
        follows alike: a client that does not read blocks its server thread on flow
        control whichever it asked for, so both are bounded, leaving threads for unary
        calls and health checking (SPEC §7)."""
        with self._commits:
            if self._streams >= self.max_streams:
                raise TooManyStreams(
                    f"{self.max_streams} streams are already open (replays and follows alike); "
                    "retry later, or read the open ones to their end"
                )
            self._streams += 1
        try:
            yield
        finally:
            with self._commits:
                self._streams -= 1

    @property
    def committed(self) -> int:
        with self._commits:
            return self._committed


def require_request_id(request_id: str) -> str:
    """A client's request id: required, 1-128 visible ASCII characters, no '#' (the node's)."""
    if not request_id:
        raise InvalidArgument(
            "request_id is required: a client-chosen idempotency key (1-128 visible ASCII characters, no '#')"
        )
    check_client_request_id(request_id)
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
