"""Checking a whole log: replay from the first event, every invariant after every event
(and the per-command laws after the last event of every command).

This is the pure core of the audit (SPEC §4); the adapters add the store, the hash
chain and the comparison with the state the node would load.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from attrs import frozen

from domain.events import Event
from domain.evolve import evolve
from domain.model import ProductState
from invariants.state import check_decision_end, check_state
from invariants.transition import check_transition


@frozen
class Violation:
    position: int
    invariant: str
    detail: str


@frozen
class LogReport:
    events_checked: int
    violations: tuple[Violation, ...]
    state: ProductState | None

    @property
    def ok(self) -> bool:
        return not self.violations


def check_log(
    decisions: Iterable[Sequence[Event]], first_position: int = 0, stop_at_first: bool = False
) -> LogReport:
    """Replay the events of each decision (one command's events, in order) and check every
    invariant; positions count events from ``first_position``. An event that cannot be
    applied is itself a violation and ends the check."""
    state: ProductState | None = None
    violations: list[Violation] = []
    position = first_position - 1
    for decision in decisions:
        for index, event in enumerate(decision):
            position += 1
            try:
                after = evolve(state, event)
            except (AssertionError, KeyError, NotImplementedError, TypeError) as error:
                violations.append(Violation(position, "replayable", f"{type(event).__name__}: {error}"))
                return LogReport(position - first_position + 1, tuple(violations), state)
            last = index == len(decision) - 1
            found = [
                *check_transition(state, event, after),
                *(check_decision_end(after) if last else check_state(after)),
            ]
            violations.extend(Violation(position, v.invariant, v.detail) for v in found)
            state = after
            if violations and stop_at_first:
                return LogReport(position - first_position + 1, tuple(violations), state)
    return LogReport(position - first_position + 1, tuple(violations), state)


def replay(events: Iterable[Event]) -> ProductState | None:
    """The state that ``events`` build from nothing."""
    state: ProductState | None = None
    for event in events:
        state = evolve(state, event)
    return state
