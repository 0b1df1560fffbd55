"""Replaying a log and checking it: the one replay-and-check loop of the project.

``ProductReplay`` steps through one product's events from its first, applying each to the
state the ones before it left and checking every law after it (SPEC §4): the transition
laws, the state laws after every event, and the per-command laws after the last event of
every command. ``check_log`` runs it over a log in memory; the store's audit
(``adapters.audit.engine``) runs it over each product stream it reads, adding the hash chain,
idempotency and snapshots; the state machines run it over every decision they verify.

An event that cannot be applied — whatever error the domain's ``evolve`` raises for it
(``Exception``, not ``BaseException``) — is the verdict ``replayable`` and ends the replay:
a tampered or foreign log is reported, never crashes the check. Errors raised by the laws
themselves are not caught: a law that cannot judge a state is a bug in the checker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from attrs import define, field, frozen

from domain.events import Event
from domain.evolve import evolve
from domain.model import ProductState
from invariants.state import DECISION_INVARIANTS, STATE_INVARIANTS, StreamChecks
from invariants.transition import TRANSITION_INVARIANTS, check_transition
from invariants.verdict import Verdict, violated

REPLAYABLE = "replayable"
# Laws judged for every event: the state, per-command and transition laws.
LAWS_PER_EVENT = len(STATE_INVARIANTS) + len(DECISION_INVARIANTS) + len(TRANSITION_INVARIANTS)


def not_replayable(type_name: str, error: Exception) -> Verdict:
    """The verdict on an event of type ``type_name`` that could not be rebuilt or applied."""
    return violated(REPLAYABLE, f"{type_name}: {error} ({type(error).__name__})")


@define
class ProductReplay:
    """One product's stream, replayed event by event with every law checked after each.

    ``state`` is the state the events so far built (``None`` before the launch); a replay may
    start from a known state. Once an event could not be applied, ``broken`` is set and the
    replay ends: ``state`` stays the one before that event."""

    state: ProductState | None = None
    broken: bool = False
    checks: StreamChecks = field(factory=StreamChecks)

    def step(self, event: Event, decision_end: bool) -> list[Verdict]:
        """Apply ``event`` (the last of its command's events if ``decision_end``) and return the
        verdicts of the laws it breaks, in a fixed order: transition laws, then state laws."""
        if self.broken:
            raise RuntimeError("a broken replay cannot go on: an earlier event could not be applied")
        try:
            after = evolve(self.state, event)
        except Exception as error:  # whatever evolve raises, the event cannot follow this state
            self.broken = True
            return [not_replayable(type(event).__name__, error)]
        found = check_transition(self.state, event, after)
        found += self.checks.after_decision(after) if decision_end else self.checks.after_event(after)
        self.state = after
        return found


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
    replay = ProductReplay()
    violations: list[Violation] = []
    position = first_position - 1
    for decision in decisions:
        last = len(decision) - 1
        for index, event in enumerate(decision):
            position += 1
            found = replay.step(event, index == last)
            violations.extend(Violation(position, v.invariant, v.detail) for v in found)
            if replay.broken or (violations and stop_at_first):
                return LogReport(position - first_position + 1, tuple(violations), replay.state)
    return LogReport(position - first_position + 1, tuple(violations), replay.state)


def replay(events: Iterable[Event]) -> ProductState | None:
    """The state that ``events`` build from nothing (no law checked)."""
    state: ProductState | None = None
    for event in events:
        state = evolve(state, event)
    return state
