"""Decisions driven by the market: price reports (with the circuit breaker and the
ripcord in the same decision), funding rates, rebalancing and the keeper's tick."""

from __future__ import annotations

from domain import events as ev
from domain.commands import Rebalance, ReportFundingRate, ReportPrice, Tick
from domain.draft import (
    Draft,
    accrue,
    rebalance,
    rebalance_reason,
    require_fresh_price,
    require_not_halted,
    require_not_settled,
    settle_or_ripcord,
)
from domain.errors import InvalidArgument, InvalidPriceReport
from domain.fixedpoint import WAD
from domain.model import PendingPrice, ProductState
from domain.oracle import Candidate, candidate_price, is_fresh, move_wad
from domain.validation import check_reporter_id

FUNDING_RATE_MAX_WAD = 10 * WAD  # 1000 % a year: beyond it a report is an error
CONFIRMATION_QUORUM_MIN = 2  # a tripped move is confirmed by at least two distinct reporters


def _check_report(state: ProductState, command: ReportPrice, now: int) -> None:
    check_reporter_id(command.reporter_id)
    if command.symbol not in state.symbols:
        raise InvalidPriceReport(
            f"{command.symbol!r} is not a component of {state.product_id} ({', '.join(state.symbols)})"
        )
    if command.price_wad <= 0:
        raise InvalidPriceReport(f"price must be positive (WAD), got {command.price_wad}")
    if command.observed_at > now:
        raise InvalidPriceReport(f"observed_at {command.observed_at} is in the future (now {now})")
    if not is_fresh(command.observed_at, now, state.params.max_oracle_age_s):
        raise InvalidPriceReport(
            f"report observed at {command.observed_at} is already stale "
            f"(max_oracle_age_s={state.params.max_oracle_age_s}, now {now})"
        )
    previous = state.reports.get(command.symbol, {}).get(command.reporter_id)
    if previous is not None and command.observed_at < previous.observed_at:
        raise InvalidPriceReport(
            f"reporter {command.reporter_id} already reported {command.symbol} observed at "
            f"{previous.observed_at}; a report observed at {command.observed_at} is out of order"
        )


def decide_report_price(state: ProductState, command: ReportPrice, now: int) -> Draft:
    _check_report(state, command, now)
    if state.settled:
        return Draft(state)  # a settled product has no use for prices; the fan-out skips it quietly
    draft = Draft(state)
    accrue(draft, now)
    draft.emit(
        ev.PriceReported(
            at=now,
            symbol=command.symbol,
            price_wad=command.price_wad,
            observed_at=command.observed_at,
            reporter_id=command.reporter_id,
        )
    )
    state = draft.state
    params = state.params
    if state.halted:
        _confirm_if_quorum(draft, now)
        settle_or_ripcord(draft, now)
        return draft
    candidate = candidate_price(
        state.components, state.reports, now, params.max_oracle_age_s, params.oracle_quorum
    )
    if candidate is None:
        return draft
    last = state.index_price_wad
    move = move_wad(last, candidate.index_price_wad) if last else 0
    if move > params.max_price_move_wad:
        draft.emit(
            ev.CircuitBreakerTripped(
                at=now,
                pending=PendingPrice(
                    index_price_wad=candidate.index_price_wad,
                    component_prices=candidate.component_prices,
                    observed_at=candidate.observed_at,
                    move_wad=move,
                ),
                last_index_price_wad=last,
                max_price_move_wad=params.max_price_move_wad,
            )
        )
    else:
        draft.emit(_accepted(now, last, move, candidate))
    settle_or_ripcord(draft, now)
    return draft


def _accepted(now: int, last: int, move: int, candidate: Candidate) -> ev.PriceAccepted:
    return ev.PriceAccepted(
        at=now,
        index_price_wad=candidate.index_price_wad,
        previous_index_price_wad=last,
        move_wad=move,
        component_prices=candidate.component_prices,
        observed_at=candidate.observed_at,
    )


def _confirm_if_quorum(draft: Draft, now: int) -> None:
    """While halted, reports received since the trip confirm the move when at least
    ``max(2, oracle_quorum)`` distinct reporters of every component, fresh, put the index
    beyond ``max_price_move`` from the last accepted price again."""
    state = draft.state
    params = state.params
    quorum = max(CONFIRMATION_QUORUM_MIN, params.oracle_quorum)
    candidate = candidate_price(state.components, state.confirmations, now, params.max_oracle_age_s, quorum)
    if candidate is None:
        return
    last = state.index_price_wad
    move = move_wad(last, candidate.index_price_wad)
    if move <= params.max_price_move_wad:
        return
    assert state.pending_price is not None
    draft.emit(ev.HaltResolved(at=now, accepted=True, resolved_by="quorum", pending=state.pending_price))
    draft.emit(_accepted(now, last, move, candidate))


def decide_report_funding_rate(state: ProductState, command: ReportFundingRate, now: int) -> Draft:
    if abs(command.funding_rate_wad) > FUNDING_RATE_MAX_WAD:
        raise InvalidArgument(
            f"funding_rate must be within ±{FUNDING_RATE_MAX_WAD} (WAD per year), "
            f"got {command.funding_rate_wad}"
        )
    require_not_settled(state)
    draft = Draft(state)
    accrue(draft, now)  # funding up to now accrues at the old rate
    draft.emit(
        ev.FundingRateSet(
            at=now,
            funding_rate_wad=command.funding_rate_wad,
            previous_funding_rate_wad=state.funding_rate_wad,
        )
    )
    settle_or_ripcord(draft, now)
    return draft


def decide_rebalance(state: ProductState, command: Rebalance, now: int) -> Draft:
    """A client's rebalance: rejected when no price may be used, a no-op when not due."""
    require_not_settled(state)
    require_not_halted(state)
    require_fresh_price(state, now)
    return _run_keeper(Draft(state), now)


def decide_tick(state: ProductState, command: Tick, now: int) -> Draft:
    """The keeper: never rejected; does what the product's status allows."""
    if state.settled:
        return Draft(state)
    draft = Draft(state)
    if (
        state.halted
        or state.index_price_wad == 0
        or not is_fresh(state.price_observed_at, now, state.params.max_oracle_age_s)
    ):
        accrue(draft, now)
        settle_or_ripcord(draft, now)
        return draft
    return _run_keeper(draft, now)


def _run_keeper(draft: Draft, now: int) -> Draft:
    accrue(draft, now)
    settle_or_ripcord(draft, now)
    if draft.state.settled:
        return draft
    reason = rebalance_reason(draft.state, now)
    if reason is not None:
        rebalance(draft, now, reason)
    return draft
