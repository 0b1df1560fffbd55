"""Decisions of the admin: launch, pause and resume, parameters, halt resolution,
index reconstitution and wind-down settlement."""

from __future__ import annotations

from domain import events as ev
from domain.accrual import accrue
from domain.commands import (
    ClaimFees,
    LaunchProduct,
    Pause,
    ReconstituteIndex,
    ResolveHalt,
    Resume,
    SettleProduct,
    UpdateParameters,
)
from domain.decide_market import since_trip_candidate
from domain.draft import Draft
from domain.errors import (
    InsufficientBalance,
    InvalidArgument,
    InvalidParameters,
    InvalidTransition,
    OracleStale,
    PriceUnavailable,
    ProductAlreadyExists,
    ProductNotHalted,
)
from domain.evolve import evolve
from domain.guards import require_fresh_price, require_not_halted, require_not_settled
from domain.model import TREASURY_HOLDER, ProductState, Report
from domain.oracle import fresh_median, index_price_wad, move_wad, reconstituted_components
from domain.params import Params, first_schedule_after, patched, validate_params
from domain.settlement import settle, settle_or_ripcord
from domain.validation import check_components, check_holder_id, check_positive, check_product_id
from domain.valuation import current_leverage_wad


def decide_launch(state: ProductState | None, command: LaunchProduct, now: int) -> Draft:
    check_product_id(command.product_id)
    if state is not None:
        raise ProductAlreadyExists(f"product {command.product_id} exists already")
    check_components(command.components)
    validate_params(command.params)
    launched = ev.ProductLaunched(
        at=now,
        product_id=command.product_id,
        components=command.components,
        params=command.params,
    )
    return Draft(evolve(None, launched), [launched])


def decide_pause(state: ProductState, command: Pause, now: int) -> Draft:
    require_not_settled(state)
    if state.paused:
        raise InvalidTransition(f"product {state.product_id} is paused already")
    return Draft.of(state, ev.Paused(at=now))


def decide_resume(state: ProductState, command: Resume, now: int) -> Draft:
    require_not_settled(state)
    if not state.paused:
        raise InvalidTransition(f"product {state.product_id} is not paused")
    return Draft.of(state, ev.Resumed(at=now))


def decide_update_parameters(state: ProductState, command: UpdateParameters, now: int) -> Draft:
    require_not_settled(state)
    params = patched(state.params, command.changes)  # merged here: the decision's own state
    validate_params(params)
    if params.collateral_decimals != state.params.collateral_decimals:
        raise InvalidParameters("collateral_decimals cannot change after launch")
    draft = Draft(state)
    accrue(draft, now)  # fees up to now accrue at the old rates
    leverage = current_leverage_wad(draft.state)
    if leverage is not None and -leverage >= params.ripcord_leverage_wad:
        raise InvalidParameters(
            f"current |leverage| {-leverage} is at or past the new ripcord_leverage "
            f"{params.ripcord_leverage_wad}: rebalance first"
        )
    draft.emit(
        ev.ParametersUpdated(
            at=now,
            previous=state.params,
            params=params,
            next_rebalance_at=_moved_schedule(state, params, now),
        )
    )
    settle_or_ripcord(draft, now)
    return draft


def _moved_schedule(state: ProductState, params: Params, now: int) -> int | None:
    """The next scheduled rebalance when a change pins the schedule to a new time of day or
    changes the interval of a pinned one (then it follows the new grid at once); None keeps it."""
    old = state.params
    moved = (params.rebalance_time_of_day_s, params.rebalance_interval_s) != (
        old.rebalance_time_of_day_s,
        old.rebalance_interval_s,
    )
    if not moved or params.rebalance_time_of_day_s is None:
        return None
    return first_schedule_after(now, params)


def decide_resolve_halt(state: ProductState, command: ResolveHalt, now: int) -> Draft:
    """An admin ends a halt. Rejecting keeps the last accepted index. Accepting applies
    the index of the reports received since the trip (every component reported, fresh,
    with the quorum): never a partial index that no market showed, nor the tripped one
    when later reports changed it."""
    require_not_settled(state)
    if not state.halted or state.pending_price is None:
        raise ProductNotHalted(f"product {state.product_id} is not halted")
    pending = state.pending_price
    candidate = since_trip_candidate(state, now) if command.accept else None
    if command.accept and candidate is None:
        missing = [
            c.symbol
            for c in state.components
            if c.symbol not in state.trip_reports and c.symbol not in state.confirmations
        ]
        detail = f" (not reported since: {', '.join(missing)})" if missing else " (too few fresh reports)"
        raise PriceUnavailable(
            f"product {state.product_id}: an accepted index must be made of reports of every "
            f"component received since the trip, fresh and with oracle_quorum={state.params.oracle_quorum}"
            f"{detail}; wait for them, or reject the move"
        )
    draft = Draft(state)
    accrue(draft, now)
    draft.emit(ev.HaltResolved(at=now, accepted=command.accept, resolved_by="admin", pending=pending))
    if candidate is not None:
        draft.emit(
            ev.PriceAccepted(
                at=now,
                index_price_wad=candidate.index_price_wad,
                previous_index_price_wad=state.index_price_wad,
                move_wad=move_wad(state.index_price_wad, candidate.index_price_wad),
                component_prices=candidate.component_prices,
                observed_at=candidate.observed_at,
            )
        )
    settle_or_ripcord(draft, now)
    return draft


def _new_symbol_prices(
    state: ProductState, command: ReconstituteIndex, new_symbols: list[str], now: int
) -> tuple[dict[str, tuple[int, int, int]], tuple[tuple[str, Report], ...]]:
    """The oracle's price of each new symbol: the median of its fresh reports (quorum met),
    with the reports used; FAILED_PRECONDITION when one is missing or stale."""
    params = state.params
    books: dict[str, tuple[Report, ...]] = {}
    for symbol, reports in command.oracle_reports:
        latest: dict[str, Report] = {}
        for report in reports:
            if report.price_wad <= 0 or report.observed_at > now:
                raise InvalidArgument(f"an oracle report of {symbol} is not a valid price: {report}")
            latest[report.reporter_id] = report
        books[symbol] = tuple(latest.values())
    prices: dict[str, tuple[int, int, int]] = {}
    used: list[tuple[str, Report]] = []
    for symbol in new_symbols:
        reports = books.get(symbol, ())
        found = fresh_median(reports, now, params.max_oracle_age_s, params.oracle_quorum)
        if found is None:
            raise (OracleStale if reports else PriceUnavailable)(
                f"{symbol} has {'no fresh' if reports else 'no'} oracle report"
                f"{'s enough' if reports else ''}: a new component is priced by at least "
                f"oracle_quorum={params.oracle_quorum} reports no older than "
                f"max_oracle_age_s={params.max_oracle_age_s}, received before the reconstitution; "
                f"report {symbol} first"
            )
        prices[symbol] = found
        used += [(symbol, r) for r in reports if r.observed_at >= now - params.max_oracle_age_s]
    return prices, tuple(used)


def decide_reconstitute(state: ProductState, command: ReconstituteIndex, now: int) -> Draft:
    """Replace the index's components, scaled so the index price does not jump. Symbols
    already held keep their accepted price; new ones are priced by the oracle's fresh
    reports (``command.oracle_reports``, filled by the node), never by a typed price
    (``new_symbol_prices`` is ignored)."""
    require_not_settled(state)
    require_not_halted(state)
    require_fresh_price(state, now)
    check_components(command.components)
    current = dict(state.component_prices)
    new_symbols = [c.symbol for c in command.components if c.symbol not in current]
    oracle, used = _new_symbol_prices(state, command, new_symbols, now)
    prices = {**current, **{symbol: found[0] for symbol, found in oracle.items()}}
    components = reconstituted_components(command.components, prices, state.index_price_wad)
    if any(c.quantity_wad <= 0 for c in components):
        raise InvalidArgument("a component's quantity rounds to zero at these prices")
    after = index_price_wad(components, prices)
    draft = Draft(state)
    accrue(draft, now)
    draft.emit(
        ev.IndexReconstituted(
            at=now,
            previous_components=state.components,
            components=components,
            component_prices=tuple((c.symbol, prices[c.symbol]) for c in components),
            index_price_before_wad=state.index_price_wad,
            index_price_after_wad=after,
            new_symbol_reports=used,
            observed_at=min([state.price_observed_at, *(found[1] for found in oracle.values())]),
        )
    )
    settle_or_ripcord(draft, now)
    return draft


def decide_settle(state: ProductState, command: SettleProduct, now: int) -> Draft:
    require_not_settled(state)
    require_not_halted(state)
    require_fresh_price(state, now)
    draft = Draft(state)
    accrue(draft, now)
    settle(draft, now, "admin wind-down")
    return draft


def decide_claim_fees(state: ProductState, command: ClaimFees, now: int) -> Draft:
    """Move fee tokens from the treasury to ``to_holder_id`` (SPEC §2): the streaming fee is
    accrued to ``now`` first, so what has accrued can be claimed."""
    check_holder_id(command.to_holder_id, "to_holder_id")
    check_positive(command.token_amount, "token_amount")
    draft = Draft(state)
    accrue(draft, now)
    treasury = draft.state.balance_of(TREASURY_HOLDER)
    if treasury < command.token_amount:
        raise InsufficientBalance(
            f"the treasury holds {treasury} tokens of {state.product_id}, "
            f"asked to claim {command.token_amount}"
        )
    draft.emit(
        ev.FeesClaimed(
            at=now,
            to_holder_id=command.to_holder_id,
            tokens=command.token_amount,
            treasury_after=treasury - command.token_amount,
        )
    )
    return draft
