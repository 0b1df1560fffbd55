"""Laws over one product's state (SPEC §4), each a named predicate returning a Verdict."""

from __future__ import annotations

from collections.abc import Callable

from attrs import define, field

from domain.accrual import FUNDING_DENOMINATOR
from domain.model import LOCKED_HOLDER, MINIMUM_LOCKED_SUPPLY, TREASURY, VAULT, ProductState
from domain.oracle import is_fresh
from domain.rebalancing import ripcord_can_restore
from domain.valuation import current_equity, current_leverage_wad
from invariants.tally import MappingTally
from invariants.verdict import Verdict, holds, violated

StateInvariant = Callable[[ProductState], Verdict]


def solvency(state: ProductState) -> Verdict:
    """Equity ≥ 0 at the accepted price, or SETTLED with no debt left (any shortfall recorded
    as bad debt)."""
    name = "solvency"
    if state.settled:
        if state.vault.debt_units_wad != 0:
            return violated(name, f"settled with {state.vault.debt_units_wad} debt units still open")
        if state.vault.cash < 0:
            return violated(name, f"settled with negative cash {state.vault.cash}")
        return holds(name)
    if state.index_price_wad == 0:
        return holds(name)
    equity_value = current_equity(state)
    if equity_value < 0 or (equity_value == 0 and state.vault.supply > 0):
        return violated(
            name, f"equity {equity_value} at price {state.index_price_wad} and the product is not settled"
        )
    return holds(name)


def leverage_within_ripcord(state: ProductState) -> Verdict:
    """|leverage| ≤ ripcord whenever the product may trade (not settled or halted, supply
    outstanding, a price fresh at the last accrual), unless no ripcord trade can bring it
    back: a dust vault, whose equity is a few base units, is all rounding."""
    name = "leverage_within_ripcord"
    if state.settled or state.halted or state.vault.supply == 0 or state.index_price_wad == 0:
        return holds(name)
    if not is_fresh(state.price_observed_at, state.accrued_at, state.params.max_oracle_age_s):
        return holds(name)
    leverage = current_leverage_wad(state)
    if leverage is None:
        return holds(name)  # no positive equity: judged by solvency
    if -leverage > state.params.ripcord_leverage_wad and ripcord_can_restore(state):
        return violated(
            name, f"|leverage| {-leverage} exceeds ripcord_leverage {state.params.ripcord_leverage_wad}"
        )
    return holds(name)


def supply_equals_balances(state: ProductState) -> Verdict:
    """Token balances per holder sum to the supply, and none is negative."""
    balances = state.balances.values()
    return supply_matches_balances(state, sum(balances), min(balances, default=0) < 0)


def supply_matches_balances(state: ProductState, balances_total: int, any_negative: bool) -> Verdict:
    """``supply_equals_balances`` given Σ balances and whether any balance is negative, as a
    scan of ``state.balances`` or a ``MappingTally`` of it finds them."""
    name = "supply_equals_balances"
    if any_negative:
        negative = {h: b for h, b in state.balances.items() if b < 0}
        return violated(name, f"negative token balances {negative}")
    if balances_total != state.vault.supply:
        return violated(name, f"balances sum to {balances_total}, supply is {state.vault.supply}")
    return holds(name)


def ledger_sums_to_zero(state: ProductState) -> Verdict:
    """Double entry: all collateral accounts sum to zero."""
    return ledger_total_is_zero(sum(state.ledger.values()))


def ledger_total_is_zero(ledger_total: int) -> Verdict:
    """``ledger_sums_to_zero`` given Σ of the ledger's accounts (a scan or a ``MappingTally``)."""
    name = "ledger_sums_to_zero"
    if ledger_total != 0:
        return violated(name, f"ledger accounts sum to {ledger_total}")
    return holds(name)


def ledger_matches_vault(state: ProductState) -> Verdict:
    """The vault's ledger account equals its cash; cash and the treasury are never negative."""
    name = "ledger_matches_vault"
    if state.ledger.get(VAULT, 0) != state.vault.cash:
        return violated(
            name,
            f"ledger has {state.ledger.get(VAULT, 0)} in the vault, the vault's cash is {state.vault.cash}",
        )
    if state.vault.cash < 0:
        return violated(name, f"vault cash is negative: {state.vault.cash}")
    if state.ledger.get(TREASURY, 0) < 0:
        return violated(name, f"treasury balance is negative: {state.ledger[TREASURY]}")
    return holds(name)


def minimum_supply_locked(state: ProductState) -> Verdict:
    """Once minted, the locked minimum supply stays locked (the inflation-attack defence)."""
    name = "minimum_supply_locked"
    locked = state.balance_of(LOCKED_HOLDER)
    if state.vault.supply > 0 and locked != MINIMUM_LOCKED_SUPPLY:
        return violated(name, f"locked supply is {locked}, must be {MINIMUM_LOCKED_SUPPLY}")
    return holds(name)


def positions_well_formed(state: ProductState) -> Verdict:
    """Debt units and supply are non-negative; a halt has a pending price and only a halt
    has one; the funding carry is within its range."""
    name = "positions_well_formed"
    if state.vault.debt_units_wad < 0 or state.vault.supply < 0:
        return violated(name, f"negative debt or supply: {state.vault}")
    if state.halted != (state.pending_price is not None):
        return violated(name, f"halted={state.halted} but pending_price={state.pending_price}")
    if not 0 <= state.funding_carry < FUNDING_DENOMINATOR:
        return violated(name, f"funding carry {state.funding_carry} out of range")
    if state.vault.supply == 0 and state.vault.debt_units_wad != 0:
        return violated(name, f"debt of {state.vault.debt_units_wad} units with no supply")
    return holds(name)


# Laws that hold after every event.
STATE_INVARIANTS: tuple[StateInvariant, ...] = (
    supply_equals_balances,
    ledger_sums_to_zero,
    ledger_matches_vault,
    minimum_supply_locked,
    positions_well_formed,
)


# Laws that hold after every command: a decision may pass through a state that breaks
# them on its way (a price update crosses the ripcord, then the ripcord trade follows; a
# confirmed move wipes out equity, then the settlement follows).
DECISION_INVARIANTS: tuple[StateInvariant, ...] = (solvency, leverage_within_ripcord)


_STATE_AND_DECISION_INVARIANTS = STATE_INVARIANTS + DECISION_INVARIANTS


def check_state(state: ProductState) -> list[Verdict]:
    """The verdicts of every per-event state invariant that is violated (empty when all hold)."""
    return _violated(STATE_INVARIANTS, state)


def check_decision_end(state: ProductState) -> list[Verdict]:
    """The verdicts of every state invariant, including those judged after a whole command."""
    return _violated(_STATE_AND_DECISION_INVARIANTS, state)


def _violated(laws: tuple[StateInvariant, ...], state: ProductState) -> list[Verdict]:
    found = []
    for law in laws:
        verdict = law(state)
        if not verdict.ok:
            found.append(verdict)
    return found


@define
class StreamChecks:
    """Every state invariant after every event of one product's stream, in replay order: the
    same verdicts, in the same order, as ``check_state`` / ``check_decision_end`` on each
    state, with Σ balances and Σ ledger kept by tallies (``MappingTally``) from one state to
    the next: an event that leaves a mapping alone costs O(1), not a sum over every holder."""

    balances: MappingTally = field(factory=MappingTally)
    ledger: MappingTally = field(factory=MappingTally)

    def after_event(self, state: ProductState) -> list[Verdict]:
        """``check_state(state)``, for the next state of the stream."""
        return self._check(STATE_INVARIANTS, state)

    def after_decision(self, state: ProductState) -> list[Verdict]:
        """``check_decision_end(state)``, for the next state of the stream."""
        return self._check(_STATE_AND_DECISION_INVARIANTS, state)

    def _check(self, laws: tuple[StateInvariant, ...], state: ProductState) -> list[Verdict]:
        balances, ledger = self.balances, self.ledger
        balances.update(state.balances)
        ledger.update(state.ledger)
        found = []
        for law in laws:
            if law is supply_equals_balances:
                verdict = supply_matches_balances(state, balances.total, balances.any_negative)
            elif law is ledger_sums_to_zero:
                verdict = ledger_total_is_zero(ledger.total)
            else:
                verdict = law(state)
            if not verdict.ok:
                found.append(verdict)
        return found
