"""Decisions of the admin: launch, pause and resume, parameters, halt resolution,
index reconstitution and wind-down settlement."""

from __future__ import annotations

from domain import events as ev
from domain.commands import (
    LaunchProduct,
    Pause,
    ReconstituteIndex,
    ResolveHalt,
    Resume,
    SettleProduct,
    UpdateParameters,
)
from domain.draft import (
    Draft,
    accrue,
    current_leverage_wad,
    require_fresh_price,
    require_not_halted,
    require_not_settled,
    settle,
    settle_or_ripcord,
)
from domain.errors import (
    InvalidArgument,
    InvalidParameters,
    InvalidTransition,
    ProductAlreadyExists,
    ProductNotHalted,
)
from domain.evolve import evolve
from domain.model import ProductState
from domain.oracle import index_price_wad, reconstituted_components
from domain.params import patched, validate_params
from domain.validation import check_components, check_product_id


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
    draft.emit(ev.ParametersUpdated(at=now, previous=state.params, params=params))
    settle_or_ripcord(draft, now)
    return draft


def decide_resolve_halt(state: ProductState, command: ResolveHalt, now: int) -> Draft:
    require_not_settled(state)
    if not state.halted or state.pending_price is None:
        raise ProductNotHalted(f"product {state.product_id} is not halted")
    pending = state.pending_price
    draft = Draft(state)
    accrue(draft, now)
    draft.emit(ev.HaltResolved(at=now, accepted=command.accept, resolved_by="admin", pending=pending))
    if command.accept:
        draft.emit(
            ev.PriceAccepted(
                at=now,
                index_price_wad=pending.index_price_wad,
                previous_index_price_wad=state.index_price_wad,
                move_wad=pending.move_wad,
                component_prices=pending.component_prices,
                observed_at=pending.observed_at,
            )
        )
    settle_or_ripcord(draft, now)
    return draft


def decide_reconstitute(state: ProductState, command: ReconstituteIndex, now: int) -> Draft:
    require_not_settled(state)
    require_not_halted(state)
    require_fresh_price(state, now)
    check_components(command.components)
    current = dict(state.component_prices)
    new_symbols = {c.symbol for c in command.components} - set(current)
    supplied = dict(command.new_symbol_prices)
    if set(supplied) != new_symbols:
        raise InvalidArgument(
            f"new_symbol_prices must price exactly the new symbols {sorted(new_symbols)}, "
            f"got {sorted(supplied)}"
        )
    for symbol, price in supplied.items():
        if price <= 0:
            raise InvalidArgument(f"price of {symbol} must be positive (WAD), got {price}")
    prices = {**current, **supplied}
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
