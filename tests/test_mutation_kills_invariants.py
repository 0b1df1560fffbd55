"""Laws judged exactly at their boundaries (SPEC §4), written against surviving mutants of
``invariants``: each law holds and names itself when nothing is broken, reports ``ok`` as
``False`` and says exactly why when it fails, and draws its line at the exact value its
docstring states (a mutant moving a ``<`` to ``<=`` or a ``0`` to ``1`` changes a verdict).

States and events are the healthy logs of ``tests.test_invariants_catch``, surgically edited."""

from __future__ import annotations

import uuid

import attrs
import pytest

from domain import events as ev
from domain.evolve import evolve
from domain.model import MINIMUM_LOCKED_SUPPLY, VAULT
from domain.valuation import current_leverage_wad, debt_value
from invariants.log import check_log
from invariants.state import (
    ledger_matches_vault,
    leverage_within_ripcord,
    minimum_supply_locked,
    solvency,
    supply_equals_balances,
)
from invariants.tally import MappingTally
from invariants.transition import (
    TRANSITION_INVARIANTS,
    lifecycle_respected,
    no_dilution,
    no_free_money,
    reconstitution_continuous,
    rounding_favours_vault,
    settlement_recorded,
    treasury_moves_only_by_claim,
)
from invariants.verdict import holds
from tests.test_invariants_catch import (
    BREAKS,
    LAW,
    LOGS,
    _args,
    _base,
    _cash,
    _claimed,
    _edited,
    _in_status,
    _last,
    _lock_removed,
    _more_debt,
    _reconstitution,
    _ripcord,
    _rounding_bound,
    _trading,
    _transitions,
    _unsettled_after_settlement,
    _vault,
    _wind_down,
)


def _holds(verdict, law) -> None:
    assert verdict.ok is True
    assert verdict.invariant == law.__name__


def _fails(verdict, law, detail: str) -> None:
    assert verdict.ok is False
    assert verdict.invariant == law.__name__
    assert verdict.detail == detail


# --- a law that holds names itself -------------------------------------------------------


# Mutants: invariants.transition.* `return holds(name)` -> `return holds(None)` on every path a
# healthy log reaches (lifecycle_respected 5/36, no_dilution 7/10/32, no_free_money 5/55,
# reconstitution_continuous 5/23, rounding_favours_vault 5, settlement_recorded 7/59,
# treasury_moves_only_by_claim 5/28/36).
@pytest.mark.parametrize("log", sorted(LOGS))
def test_every_transition_law_holds_on_a_healthy_log_and_names_itself(log: str):
    for step in _transitions(LOGS[log]()):
        for law in TRANSITION_INVARIANTS:
            _holds(law(*step), law)


# Mutant: invariants.verdict.violated `ok=False` -> `ok=None` (falsy, but not the verdict False).
@pytest.mark.parametrize("broken", BREAKS, ids=lambda b: f"{b.law}: {b.case}")
def test_a_broken_law_reports_ok_false(broken):
    assert LAW[broken.law](*_args(broken)).ok is False


# Mutants: invariants.verdict.holds 1-9 (the cache lookup or the new holding verdict broken). A
# name never judged before (the cache is per process and may be filled already) gets a verdict
# that holds and names it, and every later check of that law shares the very same verdict.
def test_a_holding_verdict_names_its_law_and_is_shared_per_law() -> None:
    law = f"a_law_never_judged_before_{uuid.uuid4().hex}"
    first = holds(law)
    assert (first.invariant, first.ok, first.detail) == (law, True, "")
    assert holds(law) is first
    assert holds(f"{law}_too") is not first


# --- lifecycle_respected: exact words ------------------------------------------------------


# Mutants: invariants.transition.lifecycle_respected 12 and 34 (messages wrapped in XX...XX).
def test_lifecycle_says_exactly_which_lifecycle_rule_broke():
    _fails(
        lifecycle_respected(*_unsettled_after_settlement()),
        lifecycle_respected,
        "a settled product became unsettled",
    )
    early = _in_status(_wind_down, ev.SettlementRedeemed, settled=False)()
    _fails(lifecycle_respected(*early), lifecycle_respected, "settlement redemption before settlement")


# --- no_dilution at one token of supply ----------------------------------------------------


def _mint_step(before_vault: dict, after_vault: dict, **event_changes) -> tuple:
    before, event, after = _last(_trading(), ev.Minted)
    return (
        _vault(before, **before_vault),
        attrs.evolve(event, **event_changes),
        _vault(after, **after_vault),
    )


def _redeem_step(before_vault: dict, after_vault: dict, **event_changes) -> tuple:
    before, event, after = _last(_trading(), ev.Redeemed)
    return (
        _vault(before, **before_vault),
        attrs.evolve(event, **event_changes),
        _vault(after, **after_vault),
    )


# Mutant: invariants.transition.no_dilution 9 (`before.vault.supply == 0` -> `== 1`): a vault of
# one token is judged like any other.
def test_no_dilution_guards_a_vault_of_a_single_token():
    step = _mint_step(
        {"cash": 100, "debt_units_wad": 0, "supply": 1}, {"cash": 100, "debt_units_wad": 0, "supply": 2}
    )
    _fails(no_dilution(*step), no_dilution, "Minted of bob lowered NAV per token: equity 100/1 -> 100/2")


# Mutant: invariants.transition.no_dilution 22 (`after.vault.supply == 0` -> `== 1`): a redemption
# leaving a single token is judged; 23 (`holds(name)` -> `holds(None)`) when it leaves none.
def test_no_dilution_judges_a_redemption_down_to_one_token_and_not_one_down_to_none():
    leaving_one = _redeem_step(
        {"cash": 100, "debt_units_wad": 0, "supply": 2}, {"cash": 10, "debt_units_wad": 0, "supply": 1}
    )
    _fails(
        no_dilution(*leaving_one), no_dilution, "Redeemed of bob lowered NAV per token: equity 100/2 -> 10/1"
    )
    leaving_none = _redeem_step(
        {"cash": 100, "debt_units_wad": 0, "supply": 2}, {"cash": 0, "debt_units_wad": 0, "supply": 0}
    )
    _holds(no_dilution(*leaving_none), no_dilution)  # no holder is left to dilute


# --- no_free_money at its exact line ---------------------------------------------------------


# Mutant: invariants.transition.no_free_money 15 (`>` -> `>=` on a mint): tokens worth exactly what
# was paid are fair; one base unit less paid is free money.
def test_a_mint_paying_exactly_its_tokens_worth_is_fair_and_one_unit_less_is_not():
    flat = {"cash": 1_000, "debt_units_wad": 0, "supply": 100}  # NAV 10 per token
    _holds(no_free_money(*_mint_step(flat, flat, tokens_minted=10, collateral_in=100)), no_free_money)
    short = _mint_step(flat, flat, tokens_minted=10, collateral_in=99)
    _fails(
        no_free_money(*short),
        no_free_money,
        "mint of 99 gave 10 tokens worth more than paid at NAV after the mint",
    )


# Mutants: invariants.transition.no_free_money 8 (`after.vault.supply > 0` -> `> 1`) and 41
# (`before.vault.supply > 0` -> `> 1` on a redemption): a single token is judged too.
def test_no_free_money_judges_a_vault_of_a_single_token():
    one = {"cash": 1_000, "debt_units_wad": 0, "supply": 1}
    mint = _mint_step(one, one, tokens_minted=1, collateral_in=999)
    _fails(
        no_free_money(*mint),
        no_free_money,
        "mint of 999 gave 1 tokens worth more than paid at NAV after the mint",
    )
    redeem = _redeem_step(one, one, tokens_burned=1, gross_out=1_001)
    _fails(
        no_free_money(*redeem),
        no_free_money,
        "redemption of 1 tokens paid 1001, more than their share of equity",
    )


# Mutants: invariants.transition.no_free_money 7 (`after.vault.supply > 0` -> `>= 0`) and 40
# (`before.vault.supply > 0` -> `>= 0`): with no supply there is no NAV to value a token at, so
# no_free_money does not judge (the supply laws do); it must not call that free money.
def test_no_free_money_does_not_judge_a_share_of_no_supply():
    empty = {"cash": 1_000, "debt_units_wad": 0, "supply": 0}
    _holds(no_free_money(*_mint_step(empty, empty, tokens_minted=1, collateral_in=1)), no_free_money)
    underwater = {"cash": 0, "debt_units_wad": 10**18, "supply": 0}  # negative equity, no tokens
    _holds(no_free_money(*_redeem_step(underwater, underwater, tokens_burned=1, gross_out=0)), no_free_money)


# Mutant: invariants.transition.no_free_money 49 (`>` -> `>=` on a redemption): exactly the
# redeemer's share of equity is fair.
def test_a_redemption_paying_exactly_its_share_of_equity_is_fair():
    flat = {"cash": 100, "debt_units_wad": 0, "supply": 10}
    _holds(no_free_money(*_redeem_step(flat, flat, tokens_burned=1, gross_out=10)), no_free_money)
    _fails(
        no_free_money(*_redeem_step(flat, flat, tokens_burned=1, gross_out=11)),
        no_free_money,
        "redemption of 1 tokens paid 11, more than their share of equity",
    )


def _settlement_redemption(supply: int, cash: int, **changes) -> tuple:
    before, event, after = _last(_wind_down(), ev.SettlementRedeemed)
    return _vault(before, supply=supply, cash=cash), attrs.evolve(event, **changes), after


# Mutants: invariants.transition.no_free_money 25 (`before.vault.supply > 0` -> `> 1`), 34
# (`max(cash, 0)` -> `max(cash, 1)`), 35 (name -> None), 36 (detail -> None): a settlement
# redemption gets at most its pro-rata share of the cash, nothing once the cash is gone.
def test_a_settlement_redemption_gets_at_most_its_pro_rata_share_of_cash():
    only_token = _settlement_redemption(1, 100, tokens_burned=1, collateral_out=101)
    _fails(
        no_free_money(*only_token),
        no_free_money,
        "settlement redemption of 1 tokens paid 101, more than their pro-rata share of cash 100",
    )
    _holds(no_free_money(*_settlement_redemption(1, 100, tokens_burned=1, collateral_out=100)), no_free_money)
    no_cash = _settlement_redemption(10, 0, tokens_burned=10, collateral_out=1)
    _fails(
        no_free_money(*no_cash),
        no_free_money,
        "settlement redemption of 10 tokens paid 1, more than their pro-rata share of cash 0",
    )


# Mutant: invariants.transition.no_free_money 24 (`before.vault.supply > 0` -> `>= 0` on a
# settlement redemption): with no supply there is no pro-rata share to compare against, so the
# law does not judge (even a tampered negative burn, which the supply laws catch).
def test_no_free_money_does_not_judge_a_settlement_redemption_from_no_supply():
    step = _settlement_redemption(0, 100, tokens_burned=-1, collateral_out=0)
    _holds(no_free_money(*step), no_free_money)


# --- reconstitution_continuous at its rounding bound ----------------------------------------


# Mutants: invariants.transition.reconstitution_continuous 9 (`+ 1` -> `- 1` after the sum), 11
# (`+ 1` -> `- 1` per component), 18 (`<=` -> `<`), 12 (`//` -> `/`: a float bound, reported).
def test_reconstitution_may_lower_the_price_by_exactly_its_rounding_bound_and_no_more():
    bound = _rounding_bound()
    _holds(reconstitution_continuous(*_reconstitution(bound)), reconstitution_continuous)
    _, event, _ = _reconstitution(bound + 1)
    _fails(
        reconstitution_continuous(*_reconstitution(bound + 1)),
        reconstitution_continuous,
        f"index price went from {event.index_price_before_wad} to {event.index_price_after_wad}, "
        f"beyond the rounding bound {bound}",
    )


# --- rounding_favours_vault: each amount's sign checked -------------------------------------


# Mutants: invariants.transition.rounding_favours_vault 15 (fee dropped from the mint's min), 17
# (sale proceeds dropped), 52 (fee dropped from the redemption's min), 53 (execution cost dropped).
@pytest.mark.parametrize(
    ("kind", "field", "message"),
    [
        (ev.Minted, "fee", "negative fee or cost in "),
        (ev.Minted, "sale_proceeds", "negative fee or cost in "),
        (ev.Redeemed, "fee", "negative fee, cost or payout in "),
        (ev.Redeemed, "execution_cost", "negative fee, cost or payout in "),
    ],
)
def test_no_fee_cost_or_proceeds_is_negative(kind, field, message):
    step = _edited(_trading, kind, **{field: lambda e: -1})()
    verdict = rounding_favours_vault(*step)
    assert verdict.ok is False
    assert verdict.invariant == "rounding_favours_vault"
    assert verdict.detail == f"{message}{step[1]}"


# Mutants: invariants.transition.rounding_favours_vault 79/80 (name/detail of the redemption's
# execution cost verdict dropped), 88/89 (of the rebalance's negative amounts), 95-98 (of the
# rebalance's execution cost), 83 (`or` -> `and`: negative units alone caught).
@pytest.mark.parametrize(
    ("log", "kind", "field", "change", "message"),
    [
        (_trading, ev.Redeemed, "execution_cost", -1, "execution cost {} rounded down"),
        (_ripcord, ev.Rebalanced, "execution_cost", -1, "rebalance execution cost {} rounded down"),
        (_ripcord, ev.Rebalanced, "units_wad", None, "negative cost or units in {}"),
    ],
)
def test_rounding_favours_vault_names_what_was_rounded_against_it(log, kind, field, change, message):
    step = _edited(
        log, kind, **{field: (lambda e: -1) if change is None else (lambda e: getattr(e, field) + change)}
    )()
    shown = step[1] if change is None else getattr(step[1], field)
    _fails(rounding_favours_vault(*step), rounding_favours_vault, message.format(shown))


# Mutants: invariants.transition.rounding_favours_vault 86 (`units_wad < 0` -> `<= 0`) and 87
# (`< 1`): a rebalance of zero units is not negative.
def test_a_rebalance_of_zero_units_is_not_negative():
    _holds(
        rounding_favours_vault(*_edited(_ripcord, ev.Rebalanced, units_wad=lambda e: 0)()),
        rounding_favours_vault,
    )


# --- settlement_recorded: each rule, exact words ---------------------------------------------


def _settlement(cash: int | None = None, **changes) -> tuple:
    before, event, _ = _last(_wind_down(), ev.Settled)
    if cash is not None:
        before = _cash(before, cash)
    edited = attrs.evolve(event, **{k: f(event) for k, f in changes.items()})
    return before, edited, evolve(before, edited)


# Mutant: invariants.transition.settlement_recorded 27 (`min(repaid, bad_debt) < 0` -> `max`): a
# negative repayment is caught even when it adds up.
def test_a_settlement_repaying_a_negative_amount_is_rejected_as_not_adding_up():
    step = _settlement(repaid=lambda e: -1, bad_debt=lambda e: e.debt_value + 1)
    d = step[1].debt_value
    _fails(settlement_recorded(*step), settlement_recorded, f"repaid -1 + bad debt {d + 1} != debt value {d}")


# Mutants: invariants.transition.settlement_recorded 40 (`max(cash, 0)` -> `max(cash, 1)`), 41-44
# (name/detail of the verdict dropped): with no cash, nothing can be repaid.
def test_a_settlement_cannot_repay_more_than_the_cash():
    step = _settlement(0, repaid=lambda e: 1, bad_debt=lambda e: e.debt_value - 1)
    _fails(settlement_recorded(*step), settlement_recorded, "repaid 1 with only 0 cash")


# Mutants: invariants.transition.settlement_recorded 47 (`bad_debt > 0` -> `> 1`), 49-52 (name/
# detail dropped): one base unit of bad debt while cash is left is a violation.
def test_no_bad_debt_while_cash_is_left_unpaid():
    _, event, _ = _last(_wind_down(), ev.Settled)
    d = event.debt_value
    step = _settlement(d, repaid=lambda e: d - 1, bad_debt=lambda e: 1)
    _fails(settlement_recorded(*step), settlement_recorded, "bad debt 1 recorded while cash was left unpaid")


# Mutants: invariants.transition.settlement_recorded 55-58 (name/detail dropped): the state after
# a settlement carries its bad debt.
def test_the_state_after_a_settlement_carries_its_bad_debt():
    before, event, after = _settlement()
    wrong = attrs.evolve(after, bad_debt=after.bad_debt + 1)
    _fails(
        settlement_recorded(before, event, wrong),
        settlement_recorded,
        f"bad debt in state {after.bad_debt + 1} does not include this settlement",
    )


# --- treasury_moves_only_by_claim: each part of a claim checked ------------------------------


# Mutant: invariants.transition.treasury_moves_only_by_claim 19 (first `or` -> `and`): the treasury
# paying exactly the claim is not enough; the holder must gain exactly the claim too.
def test_a_claim_must_credit_the_holder_exactly_what_the_treasury_paid():
    before, event, after = _last(_claimed(), ev.FeesClaimed)
    balances = {**after.balances, event.to_holder_id: after.balance_of(event.to_holder_id) + 1}
    gained = after.balance_of(event.to_holder_id) + 1 - before.balance_of(event.to_holder_id)
    verdict = treasury_moves_only_by_claim(before, event, attrs.evolve(after, balances=balances))
    was = before.balance_of("treasury")
    _fails(
        verdict,
        treasury_moves_only_by_claim,
        f"claim of {event.tokens}: treasury {was} -> {was - event.tokens} (recorded {event.treasury_after}), "
        f"{event.to_holder_id} gained {gained}",
    )


# --- state laws at their boundaries -------------------------------------------------------


# Mutants: invariants.state.ledger_matches_vault 14/16 (the ledger's vault account read under the
# wrong key in the message) and 15/17/18 (a missing vault account shown as None or 1, not 0).
def test_ledger_matches_vault_shows_the_vault_account_it_compared():
    base = _base()
    off = _vault(base, cash=base.vault.cash + 1)
    _fails(
        ledger_matches_vault(off),
        ledger_matches_vault,
        f"ledger has {base.vault.cash} in the vault, the vault's cash is {base.vault.cash + 1}",
    )
    missing = attrs.evolve(base, ledger={k: v for k, v in base.ledger.items() if k != VAULT})
    _fails(
        ledger_matches_vault(missing),
        ledger_matches_vault,
        f"ledger has 0 in the vault, the vault's cash is {base.vault.cash}",
    )


# Mutants: invariants.state.leverage_within_ripcord 8 (`supply == 0` -> `== 1`) and 32 (`-leverage`
# -> `+leverage` in the message): a vault of one token is judged, and |leverage| is reported
# as the positive magnitude it is.
def test_leverage_within_ripcord_judges_one_token_and_reports_the_magnitude():
    over = _vault(_more_debt(_base(), 5, 4), supply=1)
    magnitude = -current_leverage_wad(over)
    assert magnitude > 0
    _fails(
        leverage_within_ripcord(over),
        leverage_within_ripcord,
        f"|leverage| {magnitude} exceeds ripcord_leverage {over.params.ripcord_leverage_wad}",
    )


# Mutant: invariants.state.leverage_within_ripcord 4 (`supply == 0 or price == 0` -> `and`): with
# no tokens outstanding there is no holder exposed to the leverage; the ripcord does not judge.
def test_a_vault_with_no_supply_is_not_held_to_the_ripcord() -> None:
    over = _vault(_more_debt(_base(), 5, 4), supply=0)
    _holds(leverage_within_ripcord(over), leverage_within_ripcord)


# Mutant: invariants.state.leverage_within_ripcord 10 (`index_price_wad == 0` -> `== 1`): only a
# missing price exempts the vault; at the smallest price (debt units scaled to the same value)
# the same leverage breaks the ripcord.
def test_leverage_is_judged_at_the_smallest_price() -> None:
    over = _more_debt(_base(), 5, 4)
    at_one = attrs.evolve(over, index_price_wad=1)
    at_one = _vault(at_one, debt_units_wad=over.vault.debt_units_wad * over.index_price_wad)
    assert current_leverage_wad(at_one) == current_leverage_wad(over)
    _fails(
        leverage_within_ripcord(at_one),
        leverage_within_ripcord,
        f"|leverage| {-current_leverage_wad(over)} exceeds ripcord_leverage "
        f"{over.params.ripcord_leverage_wad}",
    )


# Mutant: invariants.state.leverage_within_ripcord 26 (`>` -> `>=`): leverage exactly at the
# ripcord is within it.
def test_leverage_exactly_at_the_ripcord_is_within_it():
    state = _more_debt(_base(), 5, 4)
    at = attrs.evolve(
        state, params=attrs.evolve(state.params, ripcord_leverage_wad=-current_leverage_wad(state))
    )
    _holds(leverage_within_ripcord(at), leverage_within_ripcord)


# Mutants: invariants.state.leverage_within_ripcord 23 and solvency 19 (`holds(name)` ->
# `holds(None)`): a law that does not judge a state still names itself.
def test_state_laws_that_step_aside_still_name_themselves():
    base = _base()
    _holds(leverage_within_ripcord(_cash(base, debt_value(base) - 1)), leverage_within_ripcord)
    _holds(solvency(attrs.evolve(base, index_price_wad=0)), solvency)


# Mutants: invariants.state.solvency 18 (`index_price_wad == 0` -> `== 1`) and 29 (`supply > 0` ->
# `> 1`): zero equity with a single token outstanding, or at a price of one unit, is insolvent.
def test_zero_equity_is_insolvent_with_one_token_or_at_the_smallest_price():
    base = _base()
    one_token = _vault(_cash(base, debt_value(base)), supply=1)
    _fails(
        solvency(one_token),
        solvency,
        f"equity 0 at price {base.index_price_wad} and the product is not settled",
    )
    tiny = attrs.evolve(base, index_price_wad=1)
    at_tiny = _cash(tiny, debt_value(tiny) - 1)
    _fails(solvency(at_tiny), solvency, "equity -1 at price 1 and the product is not settled")


# Mutant: invariants.state.minimum_supply_locked 8 (`supply > 0` -> `> 1`): a single token
# outstanding already requires the lock.
def test_the_lock_is_required_from_the_first_token():
    state = _vault(_lock_removed(), supply=1)
    _fails(
        minimum_supply_locked(state),
        minimum_supply_locked,
        f"locked supply is 0, must be {MINIMUM_LOCKED_SUPPLY}",
    )


# Mutants: invariants.state.supply_matches_balances 5 (`b < 0` -> `b <= 0`) and 6 (`< 1`): only
# the negative balances are reported, not an empty one.
def test_only_negative_balances_are_reported():
    base = _base()
    state = attrs.evolve(base, balances={**base.balances, "carol": 0, "dave": -1})
    _fails(supply_equals_balances(state), supply_equals_balances, "negative token balances {'dave': -1}")


# Mutant: invariants.tally.MappingTally.update 14 (`summed = mapping` -> `None`): the tally keeps
# the mapping it summed, so a state that keeps the same mapping is not summed again.
def test_a_tally_does_not_sum_the_same_mapping_twice():
    class Counted(dict):
        reads = 0

        def values(self):
            Counted.reads += 1
            return super().values()

    mapping = Counted(a=1, b=-2)
    tally = MappingTally()
    tally.update(mapping)
    tally.update(mapping)
    assert (tally.total, tally.any_negative, Counted.reads) == (-1, True, 1)


# --- check_log counts the events it checked --------------------------------------------------


# Mutant: invariants.log.check_log 47 (`position - first_position + 1` -> `position + first_position
# + 1` at the end): the count does not depend on where the positions start.
@pytest.mark.parametrize("first_position", [0, 7])
def test_check_log_counts_the_events_it_checked_wherever_positions_start(first_position: int):
    log = _trading()
    report = check_log(log, first_position=first_position)
    assert report.ok
    assert report.events_checked == sum(map(len, log))
    assert check_log((), first_position=first_position).events_checked == 0
