"""The lifecycle of SPEC §2: ACTIVE ⇄ PAUSED, HALTED by the circuit breaker, SETTLED for
good; parameter updates under the launch rule; the admin's wind-down and the pro-rata
redemption that follows it."""

from __future__ import annotations

import itertools
from fractions import Fraction

import attrs
import pytest

from domain import commands as cmd
from domain import events as ev
from domain.errors import (
    InvalidParameters,
    InvalidTransition,
    OracleStale,
    ProductPaused,
    ProductSettled,
)
from domain.fixedpoint import BPS, WAD
from domain.model import TREASURY, Component, Status, holder_account
from domain.params import default_params
from tests.support import USDC, Scenario, minted

SPIKE = {"BTC": 90_000 * WAD}  # index 900 -> 1 200: trips the default 20 % breaker


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def settled_scenario() -> Scenario:
    scenario = minted(1_000 * USDC)
    scenario.run(cmd.Mint("bob", 333 * USDC, 0))
    scenario.run(cmd.SettleProduct())
    return scenario


def leverage(state) -> Fraction:
    debt = Fraction(state.vault.debt_units_wad * state.index_price_wad * USDC, WAD * WAD)
    return -debt / (state.vault.cash - debt)


# ACTIVE <-> PAUSED ------------------------------------------------------------------------------


def test_a_launched_product_is_active():
    assert minted().product.status is Status.ACTIVE


def test_pausing_an_active_product_makes_it_paused():
    scenario = minted()
    assert of(ev.Paused, scenario.run(cmd.Pause()))
    assert scenario.product.status is Status.PAUSED


def test_minting_is_rejected_while_paused():
    scenario = minted()
    scenario.run(cmd.Pause())
    with pytest.raises(ProductPaused, match="minting is stopped"):
        scenario.run(cmd.Mint("bob", 10 * USDC, 0))


def test_redemption_stays_open_while_minting_is_paused():
    scenario = minted()
    scenario.run(cmd.Pause())
    balance = scenario.product.balance_of("alice")
    [redeemed] = of(ev.Redeemed, scenario.run(cmd.Redeem("alice", balance // 2, 0)))
    assert redeemed.collateral_out > 0
    assert scenario.product.balance_of("alice") == balance - balance // 2
    assert scenario.audit().ok


def test_transfers_stay_open_while_paused():
    scenario = minted()
    scenario.run(cmd.Pause())
    scenario.run(cmd.Transfer("alice", "bob", WAD))
    assert scenario.product.balance_of("bob") == WAD


def test_resuming_a_paused_product_makes_it_active_and_minting_works_again():
    scenario = minted()
    scenario.run(cmd.Pause())
    assert of(ev.Resumed, scenario.run(cmd.Resume()))
    assert scenario.product.status is Status.ACTIVE
    assert of(ev.Minted, scenario.run(cmd.Mint("bob", 10 * USDC, 0)))
    assert scenario.audit().ok


def test_pausing_a_paused_product_is_an_invalid_transition():
    scenario = minted()
    scenario.run(cmd.Pause())
    with pytest.raises(InvalidTransition, match="paused already"):
        scenario.run(cmd.Pause())


def test_resuming_an_active_product_is_an_invalid_transition():
    with pytest.raises(InvalidTransition, match="not paused"):
        minted().run(cmd.Resume())


# Status precedence ------------------------------------------------------------------------------


@pytest.mark.parametrize(("settled", "halted", "paused"), list(itertools.product([False, True], repeat=3)))
def test_the_status_is_the_most_severe_flag(settled, halted, paused):
    state = attrs.evolve(minted().product, settled=settled, halted=halted, paused=paused)
    expected = (
        Status.SETTLED if settled else Status.HALTED if halted else Status.PAUSED if paused else Status.ACTIVE
    )
    assert state.status is expected


def test_a_paused_product_that_trips_the_breaker_shows_halted_then_paused_again():
    scenario = minted()
    scenario.run(cmd.Pause())
    scenario.report_all(SPIKE)
    assert scenario.product.status is Status.HALTED
    scenario.run(cmd.ResolveHalt(accept=False))
    assert scenario.product.status is Status.PAUSED


# SETTLED is terminal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        cmd.Mint("carol", 10 * USDC, 0),
        cmd.Pause(),
        cmd.Resume(),
        cmd.Rebalance(),
        cmd.SettleProduct(),
        cmd.UpdateParameters(default_params()),
        cmd.ResolveHalt(accept=True),
        cmd.ReportFundingRate(WAD // 10),
        cmd.ReconstituteIndex((Component("BTC", WAD),), ()),
    ],
    ids=lambda c: type(c).__name__,
)
def test_a_settled_product_rejects_every_change_of_course(command):
    scenario = settled_scenario()
    with pytest.raises(ProductSettled, match="settled"):
        scenario.run(command)


def test_price_reports_on_a_settled_product_produce_no_events():
    scenario = settled_scenario()
    before = scenario.product
    scenario.advance(60)
    assert scenario.report_all({"BTC": 30_000 * WAD, "ETH": 1_000 * WAD}) == []
    assert scenario.product == before


def test_the_keeper_tick_on_a_settled_product_produces_no_events():
    scenario = settled_scenario()
    scenario.advance(10 * 86_400)
    assert scenario.run(cmd.Tick()) == []
    assert scenario.product.status is Status.SETTLED


# UpdateParameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"band_low_wad": 0}, "band_low"),
        ({"mint_fee_bps": 1_001}, "mint_fee_bps"),
        ({"oracle_quorum": 0}, "oracle_quorum"),
        ({"max_price_move_wad": WAD * 2 // 3}, "must be < 1"),  # 1.5 × 2/3 × 1.001 > 1
    ],
)
def test_a_parameter_update_is_validated_by_the_launch_rules(changes, message):
    scenario = minted()
    before = scenario.product
    with pytest.raises(InvalidParameters, match=message):
        scenario.run(cmd.UpdateParameters(attrs.evolve(default_params(), **changes)), scenario.now + 60)
    assert scenario.product == before


def test_a_parameter_update_cannot_change_the_collateral_decimals():
    scenario = minted()
    with pytest.raises(InvalidParameters, match="collateral_decimals cannot change"):
        scenario.run(cmd.UpdateParameters(attrs.evolve(default_params(), collateral_decimals=18)))


def test_a_parameter_update_cannot_set_the_ripcord_below_the_current_leverage():
    scenario = minted()
    scenario.report_all({"BTC": 72_000 * WAD})  # index 1 020: |leverage| ≈ 1.31, out of band
    assert Fraction(5, 4) < -leverage(scenario.product) < Fraction(3, 2)
    params = attrs.evolve(default_params(), ripcord_leverage_wad=WAD * 5 // 4)
    with pytest.raises(InvalidParameters, match="ripcord_leverage"):
        scenario.run(cmd.UpdateParameters(params))
    assert scenario.product.params == default_params()


def test_a_parameter_update_is_recorded_with_the_previous_parameters():
    scenario = minted()
    params = attrs.evolve(default_params(), mint_fee_bps=50)
    [updated] = of(ev.ParametersUpdated, scenario.run(cmd.UpdateParameters(params)))
    assert (updated.previous, updated.params) == (default_params(), params)
    assert scenario.product.params == params


def test_a_new_mint_fee_is_charged_on_the_next_mint():
    scenario = minted()
    scenario.run(cmd.UpdateParameters(attrs.evolve(default_params(), mint_fee_bps=50)))
    treasury = scenario.product.ledger[TREASURY]
    amount = 1_000 * USDC + 7
    [mint] = of(ev.Minted, scenario.run(cmd.Mint("bob", amount, 0)))
    assert mint.fee == -(-amount * 50 // BPS)  # 0.5 %, rounded up
    assert scenario.product.ledger[TREASURY] == treasury + mint.fee
    assert scenario.audit().ok


# Wind-down settlement ---------------------------------------------------------------------------


def test_an_admin_wind_down_closes_the_debt_and_records_no_bad_debt():
    scenario = minted(1_000 * USDC)
    cash, debt_units = scenario.product.vault.cash, scenario.product.vault.debt_units_wad
    [settled] = of(ev.Settled, scenario.run(cmd.SettleProduct()))
    debt_value = -(-debt_units * 900 * WAD * USDC // (WAD * WAD))  # valued rounding up
    assert (settled.debt_value, settled.repaid, settled.bad_debt) == (debt_value, debt_value, 0)
    state = scenario.product
    assert (state.status, state.vault.debt_units_wad, state.vault.cash) == (
        Status.SETTLED,
        0,
        cash - debt_value,
    )
    assert scenario.audit().ok


def test_after_a_wind_down_a_holder_redeems_its_pro_rata_share_of_the_cash_rounded_down():
    scenario = settled_scenario()
    state = scenario.product
    tokens = state.balance_of("bob")
    [paid] = of(ev.SettlementRedeemed, scenario.run(cmd.Redeem("bob", tokens, 0)))
    share = Fraction(tokens * state.vault.cash, state.vault.supply)
    assert paid.collateral_out == int(share)  # floor: non-negative
    assert scenario.product.ledger[holder_account("bob")] - state.ledger[holder_account("bob")] == int(share)


def test_a_settlement_redemption_charges_no_fee():
    scenario = settled_scenario()
    treasury = scenario.product.ledger[TREASURY]
    events = scenario.run(cmd.Redeem("alice", scenario.product.balance_of("alice"), 0))
    assert not of(ev.Redeemed, events)
    assert scenario.product.ledger[TREASURY] == treasury


def test_holders_redeeming_one_after_another_after_a_wind_down_each_get_their_pro_rata_share():
    scenario = settled_scenario()
    start = scenario.product
    for holder in ("alice", "bob"):
        before = scenario.product
        tokens = before.balance_of(holder)
        [paid] = of(ev.SettlementRedeemed, scenario.run(cmd.Redeem(holder, tokens, 0)))
        assert paid.collateral_out == tokens * before.vault.cash // before.vault.supply
        # Redeeming first or last makes no difference beyond one base unit of rounding.
        share = Fraction(tokens * start.vault.cash, start.vault.supply)
        assert share - 1 < paid.collateral_out <= share + 1
    # What is left is the locked minimum supply's share plus rounding, never negative.
    left = scenario.product
    assert left.vault.supply == start.vault.supply - start.balance_of("alice") - start.balance_of("bob")
    assert 0 <= left.vault.cash <= Fraction(left.vault.supply * start.vault.cash, start.vault.supply) + 2
    assert scenario.audit().ok


def test_after_a_wind_down_holders_redeem_even_on_a_stale_price():
    scenario = settled_scenario()
    scenario.advance(10 * default_params().max_oracle_age_s)  # the accepted price is long stale
    assert of(ev.SettlementRedeemed, scenario.run(cmd.Redeem("alice", WAD, 0)))


def test_a_wind_down_needs_a_fresh_price():
    scenario = minted()
    scenario.advance(default_params().max_oracle_age_s + 1)
    with pytest.raises(OracleStale, match="max_oracle_age_s"):
        scenario.run(cmd.SettleProduct())
    assert scenario.product.status is Status.ACTIVE
