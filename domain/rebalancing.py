"""Rebalancing: why a rebalance is due (ripcord, TWAP continuation, band, schedule), the
leverage it aims at, the trade it makes, and when the keeper next has work.
"""

from __future__ import annotations

import attrs

from domain import events as ev
from domain.draft import Draft
from domain.fixedpoint import BPS, WAD, value_up
from domain.model import MARKET, VAULT, Movement, ProductState, RebalanceReason
from domain.oracle import is_fresh
from domain.valuation import current_leverage_wad
from domain.vault_math import RebalanceQuote, leverage_wad, quote_rebalance, recentered_magnitude_wad


def next_schedule_after(next_at: int, now: int, interval_s: int) -> int:
    """The first scheduled time strictly after ``now``, keeping the schedule's phase."""
    if now < next_at:
        return next_at
    return next_at + interval_s * ((now - next_at) // interval_s + 1)


BAND_MARGIN_WAD = WAD // 10_000  # 0.0001 of leverage


def rebalance_goal_wad(state: ProductState, reason: RebalanceReason) -> int:
    """The |leverage| a rebalance for ``reason`` aims at: the ripcord always the target; a
    continuation the goal of the trade it continues; a band or scheduled rebalance
    ``recentering_speed`` of the way back (SPEC §2, Index Coop FLI's recentering), and
    never left outside the band."""
    params = state.params
    target = params.target_magnitude_wad
    if reason is RebalanceReason.RIPCORD:
        return target
    if reason is RebalanceReason.CONTINUATION:
        return state.rebalance_goal_wad or target
    leverage = current_leverage_wad(state)
    if leverage is None or params.recentering_speed_wad >= WAD:
        return target
    recentered = recentered_magnitude_wad(-leverage, target, params.recentering_speed_wad)
    # As FLI does, a recentered leverage outside the band is brought into it (a margin
    # inside, so that the trade's rounding does not leave it on the edge).
    low = min(params.band_low_wad + BAND_MARGIN_WAD, target)
    high = max(params.band_high_wad - BAND_MARGIN_WAD, target)
    return min(max(recentered, low), high)


def quote_rebalance_for(state: ProductState, reason: RebalanceReason) -> RebalanceQuote | None:
    """The trade a rebalance for ``reason`` would make, or None when it would do harm: a
    vault whose whole equity is a few base units (say, only the locked minimum supply left)
    could lose it all to one trade's rounding and cost, or be pushed past the ripcord by a
    trade meant to bring it back to target; it does not trade then."""
    params = state.params
    quote = quote_rebalance(
        state.vault.cash,
        state.vault.debt_units_wad,
        state.index_price_wad,
        params.collateral_decimals,
        rebalance_goal_wad(state, reason),
        params.execution_cost_bps,
        0 if reason is RebalanceReason.RIPCORD else params.max_trade_notional,
    )
    after = value_up(quote.debt_units_after_wad, state.index_price_wad, params.collateral_decimals)
    equity_after = quote.cash_after - after
    if equity_after <= 0:
        return None
    overshoots = leverage_wad(after, equity_after) < -params.ripcord_leverage_wad
    if overshoots and reason is not RebalanceReason.RIPCORD:
        return None  # at dust sizes a band or schedule trade could overshoot past the ripcord
    return quote


def ripcord_can_restore(state: ProductState) -> bool:
    """Whether a ripcord trade from ``state`` brings |leverage| back within the ripcord.
    Only a dust vault fails this: when its equity is a few base units, the rounding of the
    debt's value alone moves its leverage by more than the ripcord's margin."""
    quote = quote_rebalance_for(state, RebalanceReason.RIPCORD)
    if quote is None:
        return False
    vault = attrs.evolve(state.vault, cash=quote.cash_after, debt_units_wad=quote.debt_units_after_wad)
    leverage = current_leverage_wad(attrs.evolve(state, vault=vault))
    return leverage is not None and -leverage <= state.params.ripcord_leverage_wad


def rebalance(draft: Draft, now: int, reason: RebalanceReason) -> None:
    """Trade towards target leverage. A ripcord trade is never capped: it must bring
    leverage back inside the ripcord in this same decision. A trade that would wipe out
    the vault's equity is not made (see ``quote_rebalance_for``)."""
    state = draft.state
    params = state.params
    leverage_before = current_leverage_wad(state)
    assert leverage_before is not None, "rebalance needs a price and positive equity"
    quote = quote_rebalance_for(state, reason)
    # Nothing to trade: nothing recorded (the ripcord trades even dust: it must restore).
    if not is_a_trade(quote, 0 if reason is RebalanceReason.RIPCORD else params.execution_cost_bps):
        return
    assert quote is not None
    goal = rebalance_goal_wad(state, reason)
    movements: tuple[Movement, ...] = (
        (Movement(MARKET, VAULT, quote.notional),)
        if quote.side == "sell"
        else (Movement(VAULT, MARKET, quote.notional),)
    )
    if quote.execution_cost:
        movements += (Movement(VAULT, MARKET, quote.execution_cost),)
    after = attrs.evolve(state.vault, cash=quote.cash_after, debt_units_wad=quote.debt_units_after_wad)
    leverage_after = current_leverage_wad(attrs.evolve(state, vault=after))
    next_at = state.next_rebalance_at
    if reason is RebalanceReason.SCHEDULE:
        # A reset run late (no fresh price at its moment) serves the moments within half
        # an interval after it too: no second reset minutes after the first.
        interval = params.rebalance_interval_s
        next_at = next_schedule_after(next_at, now + interval // 2, interval)
    draft.emit(
        ev.Rebalanced(
            at=now,
            reason=reason,
            side=quote.side,
            units_wad=quote.units_wad,
            notional=quote.notional,
            execution_cost=quote.execution_cost,
            price_wad=state.index_price_wad,
            leverage_before_wad=leverage_before,
            leverage_after_wad=leverage_after if leverage_after is not None else 0,
            capped=quote.capped,
            next_rebalance_at=next_at,
            cash_after=quote.cash_after,
            debt_units_after_wad=quote.debt_units_after_wad,
            movements=movements,
            goal_leverage_wad=-goal,
        )
    )


def rebalance_reason(state: ProductState, now: int) -> RebalanceReason | None:
    """Why a rebalance is due now, the most urgent reason first, or None."""
    if state.vault.supply == 0:
        return None
    leverage = current_leverage_wad(state)
    if leverage is None:
        return None
    magnitude = -leverage
    params = state.params
    if magnitude >= params.ripcord_leverage_wad:
        return RebalanceReason.RIPCORD
    if state.rebalance_pending and _continuation_trades(state):
        # A TWAP in progress (FLI): its next chunk waits for the cooldown, and neither the
        # band nor the schedule starts another trade meanwhile; only the ripcord may. (One
        # left with nothing to trade, the price having done its work, is over.)
        return RebalanceReason.CONTINUATION if now >= continuation_due_at(state) else None
    if not params.band_low_wad <= magnitude <= params.band_high_wad:
        return RebalanceReason.BAND
    if schedule_due(state, now):
        return RebalanceReason.SCHEDULE
    return None


def schedule_due(state: ProductState, now: int) -> bool:
    """Whether a scheduled rebalance is due: its latest moment has passed and it can still
    run for that moment. It can on the price of its moment (observed by then); once a newer
    price has come, only if the price at its moment was stale (it could not run then, so it
    runs at the first fresh price after). A reset that found nothing to trade at its moment
    records nothing, and does not run late at the next price: the next moment is on time."""
    next_at = state.next_rebalance_at
    if now < next_at:
        return False
    params = state.params
    interval = params.rebalance_interval_s
    moment = next_at + (now - next_at) // interval * interval
    if state.price_observed_at <= moment:
        return True
    return not is_fresh(state.previous_price_observed_at, moment, params.max_oracle_age_s)


def is_a_trade(quote: RebalanceQuote | None, cost_bps: int) -> bool:
    """Whether a quote trades anything: not zero units, and not dust whose exact cost is
    under one base unit (its cost, rounded up to a whole unit, would exceed what it fixes:
    after a mint, leverage is off target by a base unit's rounding)."""
    if quote is None or quote.units_wad == 0:
        return False
    return cost_bps == 0 or quote.notional * cost_bps >= BPS


def _continuation_trades(state: ProductState) -> bool:
    return is_a_trade(
        quote_rebalance_for(state, RebalanceReason.CONTINUATION), state.params.execution_cost_bps
    )


def continuation_due_at(state: ProductState) -> int:
    """When the next chunk of a capped trade may run: ``twap_cooldown_s`` after the last."""
    return state.last_rebalance_at + state.params.twap_cooldown_s


def next_keeper_due(state: ProductState, after: int) -> int | None:
    """The first moment after ``after`` at which the keeper may have work for this product
    without a new price: the next TWAP chunk, else the next scheduled moment (None when it
    cannot trade: no supply, no price, halted or settled). A node wakes its keeper then,
    whatever its interval."""
    if state.settled or state.halted or state.vault.supply == 0 or state.index_price_wad == 0:
        return None
    if state.rebalance_pending:
        due = continuation_due_at(state)
        return due if due > after else None
    return next_schedule_after(state.next_rebalance_at, after, state.params.rebalance_interval_s)
