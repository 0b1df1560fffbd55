"""Applying an event to state: a pure function, one case per event type.

``evolve(None, ProductLaunched)`` creates the state; every other event needs one.
Nothing here decides or validates: events are facts.

The cases write into a ``Working`` copy of a state, not into a new ``ProductState`` per
event: it copies each mapping it changes once (on its first write) and builds the frozen
state once, when asked. ``evolve`` is one event on a fresh working copy; ``evolve_all``
and a decision's ``Draft`` apply many events to one working copy and freeze once, so a
batch of events pays one copy of ``balances``/``ledger`` and one ``ProductState`` instead
of one per event. A frozen state shares no mapping that a working copy will still write.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from functools import singledispatch
from typing import Any

import attrs

from domain import events as ev
from domain.model import LOCKED_HOLDER, TREASURY_HOLDER, Movement, ProductState, Report, Vault
from domain.params import first_schedule_after

_FIELDS = tuple(a.name for a in attrs.fields(ProductState))
_VALUES = operator.attrgetter(*_FIELDS)
_MAPPINGS = ("balances", "ledger", "reports", "confirmations", "trip_reports")


class Working:
    """A mutable copy of a ``ProductState``: its fields by name, each mapping copied on its
    first write (until then shared with the frozen state it came from, never written)."""

    __slots__ = ("fields", "owned")

    def __init__(self, state: ProductState) -> None:
        self.fields: dict[str, Any] = dict(zip(_FIELDS, _VALUES(state), strict=True))
        self.owned: set[str] = set()

    def mapping(self, name: str) -> dict[str, Any]:
        """The mapping field ``name``, this copy's own (copied on its first write)."""
        if name not in self.owned:
            self.fields[name] = dict(self.fields[name])
            self.owned.add(name)
        value: dict[str, Any] = self.fields[name]
        return value

    def replace(self, name: str, value: Mapping[str, Any]) -> None:
        """Set the mapping field ``name`` to ``value``, a mapping no one else holds."""
        self.fields[name] = value
        self.owned.add(name)

    def freeze(self) -> ProductState:
        """The state as it stands. Its mappings become the frozen state's: the next write
        to any of them copies it first."""
        self.owned.clear()
        return ProductState(**self.fields)

    def apply(self, event: ev.Event) -> None:
        """Apply ``event`` (any but ``ProductLaunched``) to this copy."""
        _apply(event, self)


def launched(event: ev.ProductLaunched) -> ProductState:
    """The state a ``ProductLaunched`` event creates."""
    return ProductState(
        product_id=event.product_id,
        params=event.params,
        components=event.components,
        launched_at=event.at,
        accrued_at=event.at,
        next_rebalance_at=first_schedule_after(event.at, event.params),
    )


def evolve(state: ProductState | None, event: ev.Event) -> ProductState:
    """The state after ``event``."""
    if isinstance(event, ev.ProductLaunched):
        assert state is None, "a product is launched once"
        return launched(event)
    assert state is not None, f"{type(event).__name__} before ProductLaunched"
    working = Working(state)
    _apply(event, working)
    return working.freeze()


def evolve_all(state: ProductState | None, events: Iterable[ev.Event]) -> ProductState | None:
    """Fold ``events`` into ``state`` (on one working copy, frozen once)."""
    working: Working | None = None
    for event in events:
        if isinstance(event, ev.ProductLaunched) or state is None:
            if working is not None:
                state = working.freeze()
                working = None
            state = evolve(state, event)
            continue
        if working is None:
            working = Working(state)
        _apply(event, working)
    return working.freeze() if working is not None else state


def apply_movements(ledger: Mapping[str, int], movements: Iterable[Movement]) -> dict[str, int]:
    """A new ledger with each movement debited from its source and credited to its destination."""
    updated = dict(ledger)
    _move(updated, movements)
    return updated


def _move(ledger: dict[str, int], movements: Iterable[Movement]) -> None:
    for movement in movements:
        ledger[movement.source] = ledger.get(movement.source, 0) - movement.amount
        ledger[movement.destination] = ledger.get(movement.destination, 0) + movement.amount


def _add_tokens(working: Working, *changes: tuple[str, int]) -> None:
    if all(delta == 0 for _, delta in changes):
        return
    balances = working.mapping("balances")
    for holder_id, delta in changes:
        if delta == 0:
            continue
        balance = balances.get(holder_id, 0) + delta
        if balance == 0:
            balances.pop(holder_id, None)
        else:
            balances[holder_id] = balance


def _add_movements(working: Working, movements: tuple[Movement, ...]) -> None:
    if movements:
        _move(working.mapping("ledger"), movements)


def _with_report(working: Working, book: str, symbol: str, report: Report) -> None:
    reports = working.mapping(book)
    by_reporter = dict(reports.get(symbol, {}))
    by_reporter[report.reporter_id] = report
    reports[symbol] = by_reporter


@singledispatch
def _apply(event: ev.Event, working: Working) -> None:
    raise NotImplementedError(f"no evolve case for {type(event).__name__}")


@_apply.register
def _(event: ev.PriceReported, working: Working) -> None:
    report = Report(event.reporter_id, event.price_wad, event.observed_at)
    _with_report(working, "reports", event.symbol, report)
    if working.fields["halted"]:
        _with_report(working, "confirmations", event.symbol, report)


@_apply.register
def _(event: ev.PriceAccepted, working: Working) -> None:
    fields = working.fields
    if event.observed_at != fields["price_observed_at"]:
        fields["previous_price_observed_at"] = fields["price_observed_at"]
    fields["index_price_wad"] = event.index_price_wad
    fields["component_prices"] = event.component_prices
    fields["price_observed_at"] = event.observed_at


@_apply.register
def _(event: ev.CircuitBreakerTripped, working: Working) -> None:
    working.fields["halted"] = True
    working.fields["pending_price"] = event.pending
    working.replace("confirmations", {})
    working.replace("trip_reports", {})
    for symbol, report in event.tripping_reports:
        _with_report(working, "trip_reports", symbol, report)


@_apply.register
def _(event: ev.HaltResolved, working: Working) -> None:
    working.fields["halted"] = False
    working.fields["pending_price"] = None
    working.replace("confirmations", {})
    working.replace("trip_reports", {})


@_apply.register
def _(event: ev.FundingRateSet, working: Working) -> None:
    working.fields["funding_rate_wad"] = event.funding_rate_wad


@_apply.register
def _(event: ev.Accrued, working: Working) -> None:
    fields = working.fields
    fields["vault"] = attrs.evolve(fields["vault"], cash=event.cash_after, supply=event.supply_after)
    _add_tokens(working, (TREASURY_HOLDER, event.streaming_fee_tokens))
    _add_movements(working, event.movements)
    fields["funding_carry"] = event.funding_carry
    fields["accrued_at"] = event.at


@_apply.register
def _(event: ev.Minted, working: Working) -> None:
    working.fields["vault"] = Vault(event.cash_after, event.debt_units_after_wad, event.supply_after)
    _add_tokens(working, (event.holder_id, event.tokens_minted), (LOCKED_HOLDER, event.tokens_locked))
    _add_movements(working, event.movements)


@_apply.register
def _(event: ev.Redeemed, working: Working) -> None:
    working.fields["vault"] = Vault(event.cash_after, event.debt_units_after_wad, event.supply_after)
    _add_tokens(working, (event.holder_id, -event.tokens_burned))
    _add_movements(working, event.movements)


@_apply.register
def _(event: ev.Transferred, working: Working) -> None:
    _add_tokens(working, (event.from_holder_id, -event.tokens), (event.to_holder_id, event.tokens))


@_apply.register
def _(event: ev.FeesClaimed, working: Working) -> None:
    _add_tokens(working, (TREASURY_HOLDER, -event.tokens), (event.to_holder_id, event.tokens))


@_apply.register
def _(event: ev.Rebalanced, working: Working) -> None:
    fields = working.fields
    fields["vault"] = attrs.evolve(
        fields["vault"], cash=event.cash_after, debt_units_wad=event.debt_units_after_wad
    )
    _add_movements(working, event.movements)
    fields["next_rebalance_at"] = event.next_rebalance_at
    fields["rebalance_pending"] = event.capped
    fields["rebalance_goal_wad"] = -event.goal_leverage_wad if event.capped else 0
    fields["last_rebalance_at"] = event.at


@_apply.register
def _(event: ev.Paused, working: Working) -> None:
    working.fields["paused"] = True


@_apply.register
def _(event: ev.Resumed, working: Working) -> None:
    working.fields["paused"] = False


@_apply.register
def _(event: ev.ParametersUpdated, working: Working) -> None:
    working.fields["params"] = event.params
    if event.next_rebalance_at is not None:
        working.fields["next_rebalance_at"] = event.next_rebalance_at


@_apply.register
def _(event: ev.IndexReconstituted, working: Working) -> None:
    fields = working.fields
    symbols = {c.symbol for c in event.components}
    reports: Mapping[str, Mapping[str, Report]] = fields["reports"]
    working.replace("reports", {s: r for s, r in reports.items() if s in symbols})
    for symbol, report in event.new_symbol_reports:
        _with_report(working, "reports", symbol, report)
    fields["components"] = event.components
    fields["component_prices"] = event.component_prices
    fields["index_price_wad"] = event.index_price_after_wad
    fields["price_observed_at"] = event.observed_at or fields["price_observed_at"]


@_apply.register
def _(event: ev.Settled, working: Working) -> None:
    fields = working.fields
    fields["settled"] = True
    fields["vault"] = attrs.evolve(fields["vault"], cash=event.cash_after, debt_units_wad=0)
    _add_movements(working, event.movements)
    fields["bad_debt"] = fields["bad_debt"] + event.bad_debt
    fields["rebalance_pending"] = False


@_apply.register
def _(event: ev.SettlementRedeemed, working: Working) -> None:
    working.fields["vault"] = attrs.evolve(
        working.fields["vault"], cash=event.cash_after, supply=event.supply_after
    )
    _add_tokens(working, (event.holder_id, -event.tokens_burned))
    _add_movements(working, event.movements)
