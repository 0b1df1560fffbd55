"""Settlement, and the check that ends every decision that reads the vault: a wiped-out
vault settles; a leverage past the ripcord is cut back in the same decision.
"""

from __future__ import annotations

from domain import events as ev
from domain.draft import Draft
from domain.model import MARKET, VAULT, Movement, RebalanceReason
from domain.oracle import is_fresh
from domain.rebalancing import rebalance, rebalance_reason
from domain.valuation import current_equity, debt_value


def settle(draft: Draft, now: int, reason: str) -> None:
    """Close the debt at the accepted price; what cash cannot cover is the lender's bad debt."""
    state = draft.state
    owed = debt_value(state)
    repaid = min(max(state.vault.cash, 0), owed)
    draft.emit(
        ev.Settled(
            at=now,
            reason=reason,
            price_wad=state.index_price_wad,
            debt_units_closed_wad=state.vault.debt_units_wad,
            debt_value=owed,
            repaid=repaid,
            bad_debt=owed - repaid,
            cash_after=state.vault.cash - repaid,
            movements=(Movement(VAULT, MARKET, repaid),) if repaid else (),
        )
    )


def settle_or_ripcord(draft: Draft, now: int) -> None:
    """End-of-decision safety: a wiped-out vault settles; a leverage past the ripcord is
    cut back at once (on a fresh price, when not halted)."""
    state = draft.state
    if state.settled or state.vault.supply == 0 or state.index_price_wad == 0:
        return
    if current_equity(state) <= 0:
        settle(draft, now, "equity wiped out")
        return
    if state.halted or not is_fresh(state.price_observed_at, now, state.params.max_oracle_age_s):
        return
    if rebalance_reason(state, now) is RebalanceReason.RIPCORD:
        rebalance(draft, now, RebalanceReason.RIPCORD)
