"""The keeper: accrue, settle or pull the ripcord, and run due rebalances, for every
product at one moment, in one commit; on a simulated clock it first runs at every moment a
product had work due on the way to the moment asked for."""

from __future__ import annotations

import threading

from attrs import define, field

from adapters.clock import Clock, SimulatedClock
from adapters.rejections import AdapterError
from adapters.service.commits import Commits, ProductResult, events_of
from adapters.service.reads import load_product
from adapters.store.node import Node
from domain import commands as cmd
from domain import events as ev
from domain.rebalancing import next_keeper_due
from domain.validation import NODE_ID_MARK

WALL_TICK_TOLERANCE_S = 5
CATCH_UP_STEPS_MAX = 100_000  # keeper wake-ups within one simulated Tick (a year of 5-min chunks)


class WallClockTick(AdapterError):
    """Tick(now) on a node that runs on the wall clock, with a ``now`` that is not now."""


@define
class Keeper:
    node: Node
    clock: Clock
    commits: Commits
    _lock: threading.Lock = field(factory=threading.Lock)  # guards the simulated clock

    def tick(self, now: int | None) -> tuple[int, list[ProductResult]]:
        """The keeper over every product; a simulated clock first moves to ``now``, running
        the keeper on the way at every moment a product had work due (a TWAP chunk
        ``twap_cooldown_s`` after the last, a scheduled rebalance at its time of day), as a
        node on the wall clock wakes its keeper then: time passes, and nothing else happens
        between two Ticks of a simulated clock."""
        with self._lock:
            clock = self.clock
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

    def next_due(self, after: int) -> int | None:
        """The earliest moment after ``after`` at which a product has keeper work due (a TWAP
        chunk, a scheduled rebalance), from the products' states; None when none has."""
        dues = [next_keeper_due(load_product(self.node, pid).state, after) for pid in self.node.product_ids()]
        return min((d for d in dues if d is not None), default=None)

    def _catch_up(self, clock: SimulatedClock, now: int) -> None:
        for _ in range(CATCH_UP_STEPS_MAX):
            due = self.next_due(clock.now())
            if due is None or due >= now:
                return
            clock.advance_to(due)
            self._tick_at(due)

    def _tick_at(self, moment: int) -> list[ProductResult]:
        ticks = ((pid, cmd.Tick(), self.request_id(pid, moment)) for pid in self.node.product_ids())
        results = self.commits.each(ticks, moment)
        for result in results:
            if result.outcome is not None:
                self.commits.applied(result.outcome)
        observer = self.commits.observer
        if observer is not None:
            observer.observe_keeper(
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

    def request_id(self, product_id: str, now: int) -> str:
        """The keeper's request id for ``product_id`` at ``now``. It names the stream version
        the keeper saw: two keepers that saw the same log tick the product once, and a tick
        after new events at the same moment (a fresh price, say) is decided again. It starts
        with '#', which no client id contains: no client can take, block or replay it."""
        loaded = self.node.load(product_id)
        return f"{NODE_ID_MARK}keeper:{product_id}:{now}:{loaded.version if loaded else 0}"
