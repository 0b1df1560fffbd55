"""The draft every decision writes into: it applies events as they are decided, so that
each step of a decision reads the state the previous steps left.
"""

from __future__ import annotations

import attrs
from attrs import define

from domain import events as ev
from domain.evolve import evolve
from domain.model import ProductState
from domain.valuation import debt_value


@define
class Draft:
    """The state as it will be after the events decided so far. A decision returns its
    draft: the events it caused and the state they leave, so that whoever stores them
    need not apply them a second time."""

    state: ProductState
    events: list[ev.Event] = attrs.Factory(list)
    # An accrual that moved no base unit: written only if the decision writes something
    # else (so that the next accrual starts from the right notional), else dropped.
    pending_accrual: ev.Accrued | None = None

    @classmethod
    def of(cls, state: ProductState, *events: ev.Event) -> Draft:
        """A draft of ``events`` applied to ``state``."""
        draft = cls(state)
        for event in events:
            draft.emit(event)
        return draft

    def emit(self, event: ev.Event) -> None:
        after = evolve(self.state, event)
        if self.pending_accrual is not None and _accrual_inputs(after) != _accrual_inputs(self.state):
            # The event changes what the next accrual would use: settle the period first.
            accrual, self.pending_accrual = self.pending_accrual, None
            self.emit(accrual)
            after = evolve(self.state, event)
        self.state = after
        self.events.append(event)

    def defer_accrual(self, accrual: ev.Accrued) -> None:
        """Hold an accrual that moves nothing until another event needs it written first.
        Dropping it is exact: funding is linear in time and the carry is unchanged, so the
        next written accrual, from the same ``accrued_at``, settles the whole period."""
        self.pending_accrual = accrual


def _accrual_inputs(state: ProductState) -> tuple[int, int, int, int, bool]:
    """What an accrual over a period depends on: while none of it changes, an accrual that
    moved nothing may be merged into the next one exactly."""
    notional = debt_value(state) if state.index_price_wad else 0
    return notional, state.funding_rate_wad, state.vault.supply, state.params.streaming_fee_bps, state.settled
