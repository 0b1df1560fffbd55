"""Applying an event to state: a pure function, one case per event type.

``evolve(None, ProductLaunched)`` creates the state; every other event needs one.
Nothing here decides or validates: events are facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import singledispatch

import attrs

from domain import events as ev
from domain.model import LOCKED_HOLDER, TREASURY_HOLDER, Movement, ProductState, Report, Vault
from domain.params import first_schedule_after


def evolve(state: ProductState | None, event: ev.Event) -> ProductState:
    """The state after ``event``."""
    if isinstance(event, ev.ProductLaunched):
        assert state is None, "a product is launched once"
        return ProductState(
            product_id=event.product_id,
            params=event.params,
            components=event.components,
            launched_at=event.at,
            accrued_at=event.at,
            next_rebalance_at=first_schedule_after(event.at, event.params),
        )
    assert state is not None, f"{type(event).__name__} before ProductLaunched"
    return _apply(event, state)


def evolve_all(state: ProductState | None, events: Iterable[ev.Event]) -> ProductState | None:
    """Fold ``events`` into ``state``."""
    for event in events:
        state = evolve(state, event)
    return state


def apply_movements(ledger: Mapping[str, int], movements: Iterable[Movement]) -> dict[str, int]:
    """A new ledger with each movement debited from its source and credited to its destination."""
    updated = dict(ledger)
    for movement in movements:
        updated[movement.source] = updated.get(movement.source, 0) - movement.amount
        updated[movement.destination] = updated.get(movement.destination, 0) + movement.amount
    return updated


def _add_tokens(balances: Mapping[str, int], *changes: tuple[str, int]) -> dict[str, int]:
    updated = dict(balances)
    for holder_id, delta in changes:
        if delta == 0:
            continue
        balance = updated.get(holder_id, 0) + delta
        if balance == 0:
            updated.pop(holder_id, None)
        else:
            updated[holder_id] = balance
    return updated


@singledispatch
def _apply(event: ev.Event, state: ProductState) -> ProductState:
    raise NotImplementedError(f"no evolve case for {type(event).__name__}")


@_apply.register
def _(event: ev.PriceReported, state: ProductState) -> ProductState:
    report = Report(event.reporter_id, event.price_wad, event.observed_at)
    reports = _with_report(state.reports, event.symbol, report)
    if not state.halted:
        return attrs.evolve(state, reports=reports)
    confirmations = _with_report(state.confirmations, event.symbol, report)
    return attrs.evolve(state, reports=reports, confirmations=confirmations)


def _with_report(
    book: Mapping[str, Mapping[str, Report]], symbol: str, report: Report
) -> dict[str, Mapping[str, Report]]:
    updated = dict(book)
    by_reporter = dict(updated.get(symbol, {}))
    by_reporter[report.reporter_id] = report
    updated[symbol] = by_reporter
    return updated


@_apply.register
def _(event: ev.PriceAccepted, state: ProductState) -> ProductState:
    return attrs.evolve(
        state,
        index_price_wad=event.index_price_wad,
        component_prices=event.component_prices,
        price_observed_at=event.observed_at,
        previous_price_observed_at=(
            state.price_observed_at
            if event.observed_at != state.price_observed_at
            else state.previous_price_observed_at
        ),
    )


@_apply.register
def _(event: ev.CircuitBreakerTripped, state: ProductState) -> ProductState:
    trip_reports: dict[str, Mapping[str, Report]] = {}
    for symbol, report in event.tripping_reports:
        trip_reports = _with_report(trip_reports, symbol, report)
    return attrs.evolve(
        state, halted=True, pending_price=event.pending, confirmations={}, trip_reports=trip_reports
    )


@_apply.register
def _(event: ev.HaltResolved, state: ProductState) -> ProductState:
    return attrs.evolve(state, halted=False, pending_price=None, confirmations={}, trip_reports={})


@_apply.register
def _(event: ev.FundingRateSet, state: ProductState) -> ProductState:
    return attrs.evolve(state, funding_rate_wad=event.funding_rate_wad)


@_apply.register
def _(event: ev.Accrued, state: ProductState) -> ProductState:
    return attrs.evolve(
        state,
        vault=attrs.evolve(state.vault, cash=event.cash_after, supply=event.supply_after),
        balances=_add_tokens(state.balances, (TREASURY_HOLDER, event.streaming_fee_tokens)),
        ledger=apply_movements(state.ledger, event.movements),
        funding_carry=event.funding_carry,
        accrued_at=event.at,
    )


@_apply.register
def _(event: ev.Minted, state: ProductState) -> ProductState:
    holder_tokens = event.tokens_minted
    return attrs.evolve(
        state,
        vault=Vault(event.cash_after, event.debt_units_after_wad, event.supply_after),
        balances=_add_tokens(
            state.balances, (event.holder_id, holder_tokens), (LOCKED_HOLDER, event.tokens_locked)
        ),
        ledger=apply_movements(state.ledger, event.movements),
    )


@_apply.register
def _(event: ev.Redeemed, state: ProductState) -> ProductState:
    return attrs.evolve(
        state,
        vault=Vault(event.cash_after, event.debt_units_after_wad, event.supply_after),
        balances=_add_tokens(state.balances, (event.holder_id, -event.tokens_burned)),
        ledger=apply_movements(state.ledger, event.movements),
    )


@_apply.register
def _(event: ev.Transferred, state: ProductState) -> ProductState:
    return attrs.evolve(
        state,
        balances=_add_tokens(
            state.balances, (event.from_holder_id, -event.tokens), (event.to_holder_id, event.tokens)
        ),
    )


@_apply.register
def _(event: ev.FeesClaimed, state: ProductState) -> ProductState:
    return attrs.evolve(
        state,
        balances=_add_tokens(
            state.balances, (TREASURY_HOLDER, -event.tokens), (event.to_holder_id, event.tokens)
        ),
    )


@_apply.register
def _(event: ev.Rebalanced, state: ProductState) -> ProductState:
    return attrs.evolve(
        state,
        vault=attrs.evolve(state.vault, cash=event.cash_after, debt_units_wad=event.debt_units_after_wad),
        ledger=apply_movements(state.ledger, event.movements),
        next_rebalance_at=event.next_rebalance_at,
        rebalance_pending=event.capped,
        rebalance_goal_wad=-event.goal_leverage_wad if event.capped else 0,
        last_rebalance_at=event.at,
    )


@_apply.register
def _(event: ev.Paused, state: ProductState) -> ProductState:
    return attrs.evolve(state, paused=True)


@_apply.register
def _(event: ev.Resumed, state: ProductState) -> ProductState:
    return attrs.evolve(state, paused=False)


@_apply.register
def _(event: ev.ParametersUpdated, state: ProductState) -> ProductState:
    if event.next_rebalance_at is None:
        return attrs.evolve(state, params=event.params)
    return attrs.evolve(state, params=event.params, next_rebalance_at=event.next_rebalance_at)


@_apply.register
def _(event: ev.IndexReconstituted, state: ProductState) -> ProductState:
    symbols = {c.symbol for c in event.components}
    reports: dict[str, Mapping[str, Report]] = {s: r for s, r in state.reports.items() if s in symbols}
    for symbol, report in event.new_symbol_reports:
        reports = _with_report(reports, symbol, report)
    return attrs.evolve(
        state,
        components=event.components,
        component_prices=event.component_prices,
        index_price_wad=event.index_price_after_wad,
        price_observed_at=event.observed_at or state.price_observed_at,
        reports=reports,
    )


@_apply.register
def _(event: ev.Settled, state: ProductState) -> ProductState:
    return attrs.evolve(
        state,
        settled=True,
        vault=attrs.evolve(state.vault, cash=event.cash_after, debt_units_wad=0),
        ledger=apply_movements(state.ledger, event.movements),
        bad_debt=state.bad_debt + event.bad_debt,
        rebalance_pending=False,
    )


@_apply.register
def _(event: ev.SettlementRedeemed, state: ProductState) -> ProductState:
    return attrs.evolve(
        state,
        vault=attrs.evolve(state.vault, cash=event.cash_after, supply=event.supply_after),
        balances=_add_tokens(state.balances, (event.holder_id, -event.tokens_burned)),
        ledger=apply_movements(state.ledger, event.movements),
    )
