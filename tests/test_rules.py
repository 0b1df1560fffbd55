"""One behaviour per test for the rules of SPEC §2 and every named rejection."""

from __future__ import annotations

from fractions import Fraction

import attrs
import pytest

from domain import commands as cmd
from domain import events as ev
from domain.errors import (
    InsufficientBalance,
    InvalidArgument,
    InvalidComponents,
    InvalidParameters,
    InvalidPriceReport,
    InvalidTransition,
    MintTooSmall,
    OracleStale,
    PriceUnavailable,
    ProductAlreadyExists,
    ProductHalted,
    ProductNotFound,
    ProductNotHalted,
    ProductPaused,
    ProductSettled,
    SlippageExceeded,
    SupplyCapReached,
)
from domain.fixedpoint import BPS, SECONDS_PER_YEAR, WAD
from domain.model import LOCKED_HOLDER, MINIMUM_LOCKED_SUPPLY, TREASURY, Component, Report, Status
from domain.params import default_params, validate_params
from tests.support import DEFAULT_COMPONENTS, USDC, Scenario, launched, minted


def events_of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def leverage(state) -> Fraction:
    scale = 10**state.params.collateral_decimals
    debt = Fraction(state.vault.debt_units_wad * state.index_price_wad * scale, WAD * WAD)
    return -debt / (state.vault.cash - debt)


def nav(state) -> Fraction:
    debt = Fraction(state.vault.debt_units_wad * state.index_price_wad * 10**6, WAD * WAD)
    return (state.vault.cash - debt) / state.vault.supply


# Launch and parameters -------------------------------------------------------------------


@pytest.mark.parametrize("target", [-1, -2, -3])
def test_default_parameters_are_valid_for_each_allowed_target(target):
    validate_params(default_params(target * WAD))


def test_a_product_breaking_the_solvency_rule_cannot_launch():
    params = attrs.evolve(default_params(), max_price_move_wad=WAD * 2 // 3, band_high_wad=WAD * 12 // 10)
    with pytest.raises(InvalidParameters, match="must be < 1"):
        validate_params(params)


def test_a_target_leverage_outside_minus_three_to_minus_one_is_rejected():
    with pytest.raises(InvalidParameters, match="target_leverage"):
        validate_params(attrs.evolve(default_params(), target_leverage_wad=-4 * WAD))


def test_a_second_launch_of_the_same_product_is_rejected():
    scenario = launched()
    with pytest.raises(ProductAlreadyExists):
        scenario.run(cmd.LaunchProduct("IIT-1", DEFAULT_COMPONENTS, default_params()))


def test_an_index_with_a_repeated_symbol_is_rejected():
    with pytest.raises(InvalidComponents, match="twice"):
        Scenario().run(
            cmd.LaunchProduct("X", (Component("BTC", WAD), Component("BTC", WAD)), default_params())
        )


def test_a_command_for_a_product_never_launched_is_not_found():
    with pytest.raises(ProductNotFound):
        Scenario().run(cmd.Mint("alice", USDC, 0))


# Oracle -----------------------------------------------------------------------------------


def test_no_price_is_accepted_until_every_component_is_reported():
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("P", DEFAULT_COMPONENTS, default_params()))
    scenario.run(cmd.ReportPrice("BTC", 60_000 * WAD, scenario.now, "r1"))
    assert scenario.product.index_price_wad == 0
    with pytest.raises(PriceUnavailable):
        scenario.run(cmd.Mint("alice", USDC, 0))


def test_the_price_is_the_median_of_distinct_reporters():
    scenario = launched()
    scenario.run(cmd.ReportPrice("BTC", 61_000 * WAD, scenario.now, "r2"))
    scenario.run(cmd.ReportPrice("BTC", 70_000 * WAD, scenario.now, "r3"))
    assert dict(scenario.product.component_prices)["BTC"] == 61_000 * WAD


def test_with_quorum_two_a_single_reporter_never_sets_the_price():
    scenario = launched(params=attrs.evolve(default_params(), oracle_quorum=2))
    assert scenario.product.index_price_wad == 0


def test_a_stale_accepted_price_stops_mint_and_redeem():
    scenario = minted()
    scenario.advance(3_601)
    with pytest.raises(OracleStale):
        scenario.run(cmd.Mint("bob", USDC, 0))
    with pytest.raises(OracleStale):
        scenario.run(cmd.Redeem("alice", WAD, 0))


@pytest.mark.parametrize(
    ("report", "message"),
    [
        (cmd.ReportPrice("DOGE", WAD, 0, "r1"), "not a component"),
        (cmd.ReportPrice("BTC", 0, 0, "r1"), "positive"),
        (cmd.ReportPrice("BTC", WAD, 10**12, "r1"), "future"),
        (cmd.ReportPrice("BTC", WAD, -(10**6), "r1"), "stale"),
    ],
)
def test_a_malformed_price_report_is_rejected(report, message):
    scenario = launched()
    report = attrs.evolve(report, observed_at=scenario.now + report.observed_at)
    with pytest.raises(InvalidPriceReport, match=message):
        scenario.run(report)


def test_a_move_beyond_the_maximum_halts_the_product_without_applying_the_price():
    scenario = minted()
    before = scenario.product.index_price_wad
    events = scenario.run(cmd.ReportPrice("BTC", 90_000 * WAD, scenario.now, "r1"))
    assert events_of(ev.CircuitBreakerTripped, events)
    assert scenario.product.status is Status.HALTED
    assert scenario.product.index_price_wad == before
    with pytest.raises(ProductHalted):
        scenario.run(cmd.Mint("bob", USDC, 0))


def test_a_halt_is_confirmed_only_by_reporters_after_the_trip():
    scenario = minted()
    scenario.run(cmd.ReportPrice("BTC", 90_000 * WAD, scenario.now, "r1"))
    scenario.run(cmd.ReportPrice("BTC", 90_000 * WAD, scenario.now, "r1"))
    scenario.run(cmd.ReportPrice("ETH", 3_000 * WAD, scenario.now, "r1"))
    assert scenario.product.halted
    # BTC moved and is confirmed by r1 and r2 after the trip; ETH did not move and was
    # reported since the trip (by r1): that is enough.
    events = scenario.run(cmd.ReportPrice("BTC", 89_000 * WAD, scenario.now, "r2"))
    resolved = events_of(ev.HaltResolved, events)
    assert [r.resolved_by for r in resolved] == ["quorum"]
    assert not scenario.product.halted
    assert dict(scenario.product.component_prices)["BTC"] == 89_500 * WAD
    assert scenario.audit().ok


def test_an_admin_rejecting_a_halt_keeps_the_last_price():
    scenario = minted()
    before = scenario.product.index_price_wad
    scenario.run(cmd.ReportPrice("BTC", 90_000 * WAD, scenario.now, "r1"))
    scenario.run(cmd.ResolveHalt(accept=False))
    assert scenario.product.status is Status.ACTIVE
    assert scenario.product.index_price_wad == before


def test_resolving_a_product_that_is_not_halted_is_rejected():
    with pytest.raises(ProductNotHalted):
        minted().run(cmd.ResolveHalt(accept=True))


# Mint and redeem ------------------------------------------------------------------------


def test_the_first_mint_sets_nav_to_one_and_locks_the_minimum_supply():
    state = minted(1_000 * USDC).product
    assert state.balance_of(LOCKED_HOLDER) == MINIMUM_LOCKED_SUPPLY
    assert abs(nav(state) * 10**12 - 1) < Fraction(1, 10**6)


@pytest.mark.parametrize("target", [-1, -2, -3])
def test_the_first_mint_sets_leverage_to_the_target(target):
    state = minted(params=default_params(target * WAD)).product
    assert abs(leverage(state) - target) < Fraction(1, 10**6)


def test_the_mint_fee_is_rounded_up_and_paid_to_the_treasury():
    scenario = launched()
    events = scenario.run(cmd.Mint("alice", 1_000 * USDC + 1, 0))
    minted_event = events_of(ev.Minted, events)[0]
    assert minted_event.fee == -(-(1_000 * USDC + 1) * 10 // BPS)
    assert scenario.product.ledger[TREASURY] == minted_event.fee


def test_a_later_mint_keeps_leverage_and_does_not_lower_nav():
    scenario = minted(1_000 * USDC)
    before = scenario.product
    scenario.run(cmd.Mint("bob", 5_000 * USDC, 0))
    after = scenario.product
    assert abs(leverage(after) - leverage(before)) < Fraction(1, 10**6)
    assert nav(after) >= nav(before)


def test_a_mint_below_min_tokens_out_is_rejected():
    with pytest.raises(SlippageExceeded, match="min_tokens_out"):
        minted().run(cmd.Mint("bob", USDC, 10**30))


def test_a_mint_over_the_supply_cap_is_rejected():
    scenario = minted(params=attrs.evolve(default_params(), supply_cap=1_500 * WAD))
    with pytest.raises(SupplyCapReached):
        scenario.run(cmd.Mint("bob", 1_000 * USDC, 0))


@pytest.mark.parametrize("amount", [0, -5])
def test_a_non_positive_mint_is_rejected(amount):
    with pytest.raises(InvalidArgument, match="positive"):
        launched().run(cmd.Mint("alice", amount, 0))


def test_a_first_mint_too_small_to_lock_the_minimum_is_rejected():
    with pytest.raises(MintTooSmall):
        launched().run(cmd.Mint("alice", 1, 0))


def test_minting_is_stopped_while_paused_but_redemption_stays_open():
    scenario = minted()
    scenario.run(cmd.Pause())
    with pytest.raises(ProductPaused):
        scenario.run(cmd.Mint("bob", USDC, 0))
    scenario.run(cmd.Redeem("alice", WAD, 0))
    assert scenario.product.status is Status.PAUSED


def test_redeeming_more_than_the_balance_is_rejected():
    scenario = minted()
    with pytest.raises(InsufficientBalance):
        scenario.run(cmd.Redeem("alice", scenario.product.balance_of("alice") + 1, 0))


def test_a_redemption_below_min_collateral_out_is_rejected():
    with pytest.raises(SlippageExceeded, match="min_collateral_out"):
        minted().run(cmd.Redeem("alice", WAD, 10**12))


def test_minting_then_redeeming_at_an_unchanged_price_returns_less_than_paid():
    scenario = minted(1_000 * USDC)
    tokens = scenario.product.balance_of("alice")
    redeemed = events_of(ev.Redeemed, scenario.run(cmd.Redeem("alice", tokens, 0)))[0]
    assert redeemed.collateral_out < 1_000 * USDC


def test_the_reserved_locked_holder_cannot_act():
    with pytest.raises(InvalidArgument, match="reserved"):
        minted().run(cmd.Redeem(LOCKED_HOLDER, 1, 0))


# Funding, fees, rebalancing --------------------------------------------------------------


def test_positive_funding_is_paid_by_the_vault_to_the_lender():
    scenario = minted()
    scenario.run(cmd.ReportFundingRate(WAD // 10))
    cash = scenario.product.vault.cash
    scenario.advance(3_600)
    accrued = events_of(ev.Accrued, scenario.run(cmd.Tick()))[0]
    assert accrued.funding_paid > 0
    assert scenario.product.vault.cash == cash - accrued.funding_paid
    assert scenario.product.ledger["lender"] == accrued.funding_paid


def test_accruing_every_second_pays_the_same_funding_as_once_an_hour():
    hourly, by_second = minted(), minted()
    for scenario in (hourly, by_second):
        scenario.run(cmd.ReportFundingRate(WAD // 10))
    hourly.advance(3_600)
    hourly.run(cmd.Tick())
    for _ in range(3_600):
        by_second.advance(1)
        by_second.run(cmd.Tick())
    assert hourly.product.ledger["lender"] == by_second.product.ledger["lender"]


def test_the_streaming_fee_follows_set_protocols_formula():
    scenario = minted()
    supply = scenario.product.vault.supply
    scenario.advance(86_400)
    accrued = events_of(ev.Accrued, scenario.run(cmd.Tick()))[0]
    a = Fraction(95 * 86_400, BPS * SECONDS_PER_YEAR)
    assert accrued.streaming_fee_tokens == int(supply * a / (1 - a))


def test_a_rally_past_the_ripcord_is_rebalanced_in_the_same_decision():
    params = attrs.evolve(default_params(), band_high_wad=WAD * 12 // 10, ripcord_leverage_wad=WAD * 13 // 10)
    scenario = minted(params=params)
    events = scenario.report_all({"BTC": 68_000 * WAD, "ETH": 3_400 * WAD})
    rebalances = events_of(ev.Rebalanced, events)
    assert [r.reason for r in rebalances] == ["ripcord"]
    assert abs(leverage(scenario.product) + 1) < Fraction(1, 100)


def test_the_daily_reset_runs_on_schedule_and_keeps_its_phase():
    scenario = minted()
    launched_at = scenario.product.launched_at
    scenario.advance(86_400 + 600)
    scenario.report_all({"BTC": 61_000 * WAD, "ETH": 3_050 * WAD})  # a move: something to reset
    events = scenario.run(cmd.Tick())
    assert [r.reason for r in events_of(ev.Rebalanced, events)] == ["schedule"]
    assert scenario.product.next_rebalance_at == launched_at + 2 * 86_400


def test_a_capped_trade_continues_on_later_ticks():
    scenario = minted(params=attrs.evolve(default_params(), max_trade_notional=50 * USDC))
    scenario.report_all({"BTC": 51_000 * WAD, "ETH": 2_550 * WAD})
    reasons = []
    for _ in range(30):
        reasons += [r.reason for r in events_of(ev.Rebalanced, scenario.run(cmd.Tick()))]
        if not scenario.product.rebalance_pending and reasons:
            break
    assert reasons[0] == "band"
    assert "continuation" in reasons
    assert not scenario.product.rebalance_pending


def test_a_rebalance_request_that_is_not_due_trades_nothing():
    assert not events_of(ev.Rebalanced, minted().run(cmd.Rebalance()))


# Lifecycle and settlement -----------------------------------------------------------------


def test_pausing_twice_is_an_invalid_transition():
    scenario = minted()
    scenario.run(cmd.Pause())
    with pytest.raises(InvalidTransition):
        scenario.run(cmd.Pause())


def test_a_wind_down_settlement_lets_holders_redeem_their_share_of_the_cash():
    scenario = minted()
    scenario.run(cmd.Mint("bob", 500 * USDC, 0))
    scenario.run(cmd.SettleProduct())
    cash, supply = scenario.product.vault.cash, scenario.product.vault.supply
    tokens = scenario.product.balance_of("bob")
    paid = events_of(ev.SettlementRedeemed, scenario.run(cmd.Redeem("bob", tokens, 0)))[0]
    assert paid.collateral_out == tokens * cash // supply
    with pytest.raises(ProductSettled):
        scenario.run(cmd.Mint("carol", USDC, 0))
    assert scenario.audit().ok


def test_a_confirmed_move_that_wipes_out_equity_settles_with_bad_debt():
    params = attrs.evolve(default_params(-3 * WAD), max_price_move_wad=WAD // 10)
    scenario = minted(params=params)
    spike = {"BTC": 120_000 * WAD, "ETH": 6_000 * WAD}
    scenario.report_all(spike, "r1")
    assert scenario.product.halted
    scenario.report_all(spike, "r2")
    assert scenario.product.halted  # r1's BTC report tripped the breaker: it cannot confirm it
    events = scenario.report_all(spike, "r1")
    settled = events_of(ev.Settled, events)
    assert settled
    assert settled[0].bad_debt > 0
    assert scenario.product.status is Status.SETTLED
    assert scenario.product.vault.debt_units_wad == 0
    assert scenario.audit().ok


def test_a_transfer_moves_tokens_and_keeps_the_supply():
    scenario = minted()
    supply = scenario.product.vault.supply
    scenario.run(cmd.Transfer("alice", "bob", WAD))
    assert scenario.product.balance_of("bob") == WAD
    assert scenario.product.vault.supply == supply


def test_a_transfer_to_oneself_is_rejected():
    with pytest.raises(InvalidArgument, match="two different"):
        minted().run(cmd.Transfer("alice", "alice", 1))


def test_reconstitution_keeps_the_index_price_continuous():
    scenario = minted()
    before = scenario.product.index_price_wad
    sol = (("SOL", (Report("r1", 150 * WAD, scenario.now),)),)
    scenario.run(cmd.ReconstituteIndex((Component("BTC", WAD), Component("SOL", WAD)), oracle_reports=sol))
    after = scenario.product.index_price_wad
    # Quantities round down by at most one WAD unit each, worth at most price / WAD.
    assert 0 <= before - after <= (60_000 + 150) + 2
    assert scenario.audit().ok
