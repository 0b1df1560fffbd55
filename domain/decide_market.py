"""Decisions driven by the market: price reports (with the circuit breaker and the
ripcord in the same decision), funding rates, rebalancing and the keeper's tick."""

from __future__ import annotations

from domain import events as ev
from domain.accrual import accrue
from domain.commands import Rebalance, ReportFundingRate, ReportPrice, ReportPrices, Tick
from domain.draft import Draft
from domain.errors import InvalidArgument, InvalidPriceReport
from domain.fixedpoint import WAD
from domain.guards import require_fresh_price, require_not_halted, require_not_settled
from domain.model import PendingPrice, ProductState, Report
from domain.oracle import (
    Candidate,
    candidate_from,
    candidate_price,
    fresh_median,
    is_fresh,
    merged_books,
    move_wad,
    moved_beyond,
)
from domain.rebalancing import rebalance, rebalance_reason
from domain.settlement import settle_or_ripcord
from domain.validation import check_reporter_id, check_symbol

FUNDING_RATE_MAX_WAD = 10 * WAD  # 1000 % a year: beyond it a report is an error
CONFIRMATION_QUORUM_MIN = 2  # a tripped move is confirmed by at least two distinct reporters


def _check_round(state: ProductState, command: ReportPrices, now: int) -> tuple[tuple[str, Report], ...]:
    """The round's reports of the symbols this product holds, once the whole round is
    valid: a round is judged as one update, so one bad price rejects all of it."""
    check_reporter_id(command.reporter_id)
    if not command.prices:
        raise InvalidPriceReport("a round needs at least one price")
    if command.observed_at > now:
        raise InvalidPriceReport(f"observed_at {command.observed_at} is in the future (now {now})")
    if not is_fresh(command.observed_at, now, state.params.max_oracle_age_s):
        raise InvalidPriceReport(
            f"report observed at {command.observed_at} is already stale "
            f"(max_oracle_age_s={state.params.max_oracle_age_s}, now {now})"
        )
    seen: set[str] = set()
    held: list[tuple[str, Report]] = []
    for symbol, price in command.prices:
        check_symbol(symbol)
        if symbol in seen:
            raise InvalidPriceReport(f"{symbol!r} appears twice in one round")
        seen.add(symbol)
        if price <= 0:
            raise InvalidPriceReport(f"price of {symbol} must be positive (WAD), got {price}")
        if symbol not in state.symbols:
            continue
        previous = state.reports.get(symbol, {}).get(command.reporter_id)
        if previous is not None and command.observed_at < previous.observed_at:
            raise InvalidPriceReport(
                f"reporter {command.reporter_id} already reported {symbol} observed at "
                f"{previous.observed_at}; a report observed at {command.observed_at} is out of order"
            )
        held.append((symbol, Report(command.reporter_id, price, command.observed_at)))
    if not held:
        listed = ", ".join(symbol for symbol, _ in command.prices)
        raise InvalidPriceReport(
            f"{listed} {'is not a component' if len(seen) == 1 else 'are not components'} of "
            f"{state.product_id} ({', '.join(state.symbols)})"
        )
    return tuple(held)


def decide_report_price(state: ProductState, command: ReportPrice, now: int) -> Draft:
    """A single price is a round of one."""
    round_ = ReportPrices(command.reporter_id, command.observed_at, ((command.symbol, command.price_wad),))
    return decide_report_prices(state, round_, now)


def decide_report_prices(state: ProductState, command: ReportPrices, now: int) -> Draft:
    """Record the round's reports of this product's components, then judge the whole index
    once (SPEC §2, Oracle): accept it, trip the breaker, or, while halted, re-judge the
    trip (dismiss it, confirm it, or keep waiting)."""
    held = _check_round(state, command, now)
    if state.settled:
        return Draft(state)  # a settled product has no use for prices; the fan-out skips it quietly
    draft = Draft(state)
    accrue(draft, now)
    for symbol, report in held:
        draft.emit(
            ev.PriceReported(
                at=now,
                symbol=symbol,
                price_wad=report.price_wad,
                observed_at=report.observed_at,
                reporter_id=report.reporter_id,
            )
        )
    if draft.state.halted:
        _rejudge_trip(draft, now)
    else:
        _judge(draft, now, held)
    settle_or_ripcord(draft, now)
    return draft


def _judge(draft: Draft, now: int, held: tuple[tuple[str, Report], ...]) -> None:
    """An update while not halted: the index of every component's fresh median (quorum
    met) is accepted within ``max_price_move`` of the last accepted one, or trips (and the
    trip is at once re-judged by the reports since it, the update's own)."""
    state = draft.state
    params = state.params
    candidate = candidate_price(
        state.components, state.reports, now, params.max_oracle_age_s, params.oracle_quorum
    )
    if candidate is None:
        return
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
                tripping_reports=held,
            )
        )
        # The tripping update's own reports are the first reports since the trip: when they
        # alone already price every component back within the band, the trip is dismissed
        # in the same decision, as the next report would dismiss it (never halted on an
        # index the rule of dismissal already accepts).
        _rejudge_trip(draft, now)
    else:
        draft.emit(_accepted(now, last, move, candidate))


def _accepted(now: int, last: int, move: int, candidate: Candidate) -> ev.PriceAccepted:
    return ev.PriceAccepted(
        at=now,
        index_price_wad=candidate.index_price_wad,
        previous_index_price_wad=last,
        move_wad=move,
        component_prices=candidate.component_prices,
        observed_at=candidate.observed_at,
    )


def since_trip_candidate(state: ProductState, now: int) -> Candidate | None:
    """The index of the reports received since the trip (the tripping update's and every
    later one), each component the median of at least ``oracle_quorum`` fresh reports of
    distinct reporters; None until every component has them. Only this index, made of
    actual reports of every component, may end a halt by the reports' or an admin's word."""
    params = state.params
    book = merged_books(state.trip_reports, state.confirmations)
    prices: dict[str, tuple[int, int, int]] = {}
    for component in state.components:
        found = fresh_median(
            book.get(component.symbol, {}).values(), now, params.max_oracle_age_s, params.oracle_quorum
        )
        if found is None:
            return None
        prices[component.symbol] = found
    return candidate_from(state.components, prices)


def _confirmed_candidate(state: ProductState, now: int) -> Candidate | None:
    """The index a quorum confirms: each component that moved beyond ``max_price_move``
    since the last accepted index priced by ``max(2, oracle_quorum)`` distinct reporters
    whose reports came after the trip; the others by the reports since the trip."""
    params = state.params
    since = since_trip_candidate(state, now)
    if since is None:
        return None
    accepted = dict(state.component_prices)
    quorum = max(CONFIRMATION_QUORUM_MIN, params.oracle_quorum)
    prices: dict[str, tuple[int, int, int]] = {}
    for symbol, price in since.component_prices:
        if moved_beyond(accepted.get(symbol), price, params.max_price_move_wad):
            found = fresh_median(
                state.confirmations.get(symbol, {}).values(), now, params.max_oracle_age_s, quorum
            )
            if found is None:
                return None
            prices[symbol] = found
        else:
            book = merged_books(state.trip_reports, state.confirmations).get(symbol, {})
            found = fresh_median(book.values(), now, params.max_oracle_age_s, params.oracle_quorum)
            assert found is not None, "since_trip_candidate priced it"
            prices[symbol] = found
    return candidate_from(state.components, prices)


def _rejudge_trip(draft: Draft, now: int) -> None:
    """Every report after a trip judges the whole index again (SPEC §2, Oracle):

    1. the index of every component's fresh median (as any update is judged), or else the
       index of the reports received since the trip, back within ``max_price_move`` of the
       last accepted index: the trip is dismissed by itself and that index accepted;
    2. otherwise, once every component that moved is confirmed by ``max(2, oracle_quorum)``
       distinct reporters after the trip (and every other component has been reported
       since the trip), the move is confirmed and that index (of actual reports only)
       accepted;
    3. otherwise the product stays halted."""
    state = draft.state
    params = state.params
    last = state.index_price_wad
    pending = state.pending_price
    assert pending is not None
    whole = candidate_price(
        state.components, state.reports, now, params.max_oracle_age_s, params.oracle_quorum
    )
    for candidate in (whole, since_trip_candidate(state, now)):
        if candidate is None:
            continue
        move = move_wad(last, candidate.index_price_wad)
        if move <= params.max_price_move_wad:
            draft.emit(ev.HaltResolved(at=now, accepted=False, resolved_by="reports", pending=pending))
            draft.emit(_accepted(now, last, move, candidate))
            return
    confirmed = _confirmed_candidate(state, now)
    if confirmed is None:
        return
    move = move_wad(last, confirmed.index_price_wad)
    draft.emit(ev.HaltResolved(at=now, accepted=True, resolved_by="quorum", pending=pending))
    draft.emit(_accepted(now, last, move, confirmed))


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
