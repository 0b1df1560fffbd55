"""The oracle of SPEC §2: quorum of fresh reports from distinct reporters, the median,
staleness, the circuit breaker and its resolution, and the ripcord and settlement that a
price update triggers in the same decision."""

from __future__ import annotations

import math
from fractions import Fraction

import attrs
import pytest

from domain import commands as cmd
from domain import events as ev
from domain.errors import (
    InvalidPriceReport,
    OracleStale,
    PriceUnavailable,
    ProductHalted,
    ProductNotHalted,
)
from domain.fixedpoint import WAD
from domain.model import Status
from domain.params import default_params
from tests.support import (
    BTC_WAD,
    DEFAULT_COMPONENTS,
    DEFAULT_PRICES,
    ETH_WAD,
    USDC,
    Scenario,
    launched,
    minted,
)

SPIKE = {"BTC": 90_000 * WAD, "ETH": 3_000 * WAD}  # index 900 -> 1200: a move of one third
MAX_AGE = default_params().max_oracle_age_s


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def index_of(btc: int, eth: int) -> int:
    """The index price (WAD) of the default index at whole-unit component prices, rounded up."""
    return math.ceil(Fraction(BTC_WAD * btc * WAD + ETH_WAD * eth * WAD, WAD))


def prices(state) -> dict[str, int]:
    return dict(state.component_prices)


def leverage(state) -> Fraction:
    debt = Fraction(state.vault.debt_units_wad * state.index_price_wad * USDC, WAD * WAD)
    return -debt / (state.vault.cash - debt)


def unpriced(**changes: int) -> Scenario:
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("IIT-1", DEFAULT_COMPONENTS, attrs.evolve(default_params(), **changes)))
    return scenario


def report(scenario: Scenario, symbol: str, price: int, reporter: str = "r1") -> list[ev.Event]:
    return scenario.run(cmd.ReportPrice(symbol, price, scenario.now, reporter))


# Quorum and median --------------------------------------------------------------------------


def test_no_price_is_accepted_until_every_component_has_a_quorum_of_distinct_reporters():
    scenario = unpriced(oracle_quorum=2)
    scenario.report_all(DEFAULT_PRICES, "r1")
    report(scenario, "BTC", 60_000 * WAD, "r2")
    assert scenario.product.index_price_wad == 0  # ETH has one reporter only
    events = report(scenario, "ETH", 3_000 * WAD, "r2")
    assert [e.index_price_wad for e in of(ev.PriceAccepted, events)] == [index_of(60_000, 3_000)]


def test_the_first_accepted_price_is_the_index_of_the_median_prices():
    scenario = unpriced(oracle_quorum=2)
    scenario.report_all({"BTC": 60_000 * WAD, "ETH": 3_000 * WAD}, "r1")
    scenario.report_all({"BTC": 61_001 * WAD, "ETH": 3_100 * WAD}, "r2")
    btc, eth = (60_000 * WAD + 61_001 * WAD) // 2, 3_050 * WAD
    assert prices(scenario.product) == {"BTC": btc, "ETH": eth}
    assert scenario.product.index_price_wad == math.ceil(Fraction(BTC_WAD * btc + ETH_WAD * eth, WAD))


def test_the_median_of_an_even_number_of_reporters_is_the_mean_of_the_middle_two():
    scenario = launched()
    report(scenario, "BTC", 61_000 * WAD, "r2")
    assert prices(scenario.product)["BTC"] == 60_500 * WAD


def test_the_median_of_an_odd_number_of_reporters_is_the_middle_report():
    scenario = launched()
    report(scenario, "BTC", 61_000 * WAD, "r2")
    report(scenario, "BTC", 70_000 * WAD, "r3")
    assert prices(scenario.product)["BTC"] == 61_000 * WAD
    assert scenario.product.index_price_wad == index_of(61_000, 3_000)


def test_a_reporter_reporting_twice_counts_once_towards_the_quorum():
    scenario = unpriced(oracle_quorum=2)
    scenario.report_all(DEFAULT_PRICES, "r1")
    scenario.advance(10)
    scenario.report_all(DEFAULT_PRICES, "r1")
    assert scenario.product.index_price_wad == 0


def test_only_the_latest_report_of_a_reporter_enters_the_median():
    scenario = launched()
    scenario.advance(10)
    report(scenario, "BTC", 61_000 * WAD, "r1")
    report(scenario, "BTC", 62_000 * WAD, "r2")
    # The median of {61 000, 62 000}, not of {60 000, 61 000, 62 000}.
    assert prices(scenario.product)["BTC"] == 61_500 * WAD


def test_a_stale_report_is_left_out_of_the_median():
    scenario = launched()  # r1 at t0: BTC 60 000
    scenario.advance(1_800)
    scenario.report_all({"BTC": 62_000 * WAD, "ETH": 3_000 * WAD}, "r2")
    scenario.report_all({"BTC": 64_000 * WAD, "ETH": 3_000 * WAD}, "r3")
    assert prices(scenario.product)["BTC"] == 62_000 * WAD  # median of r1, r2, r3
    scenario.advance(MAX_AGE - 1_800 + 1)  # r1 is now stale, r2 and r3 are fresh
    report(scenario, "BTC", 62_000 * WAD, "r2")
    assert prices(scenario.product)["BTC"] == 63_000 * WAD  # median of r2, r3 only


def test_with_quorum_two_a_single_reporter_never_sets_a_price():
    scenario = unpriced(oracle_quorum=2)
    for step in range(3):
        scenario.advance(60)
        scenario.report_all({"BTC": (60_000 + step) * WAD, "ETH": 3_000 * WAD}, "r1")
    assert scenario.product.index_price_wad == 0


def test_with_quorum_two_a_single_fresh_reporter_never_moves_the_price():
    scenario = unpriced(oracle_quorum=2)
    scenario.report_all(DEFAULT_PRICES, "r1")
    scenario.report_all(DEFAULT_PRICES, "r2")
    accepted = scenario.product.index_price_wad
    scenario.advance(MAX_AGE + 1)
    events = scenario.report_all({"BTC": 61_000 * WAD, "ETH": 3_100 * WAD}, "r1")
    assert not of(ev.PriceAccepted, events)
    assert scenario.product.index_price_wad == accepted


# Reports rejected at entry ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "price", "age", "message"),
    [
        ("DOGE", WAD, 0, "not a component"),
        ("BTC", 0, 0, "must be positive"),
        ("BTC", -WAD, 0, "must be positive"),
        ("BTC", 60_000 * WAD, -1, "in the future"),
        ("BTC", 60_000 * WAD, MAX_AGE + 1, "already stale"),
    ],
)
def test_a_malformed_report_is_rejected(symbol, price, age, message):
    scenario = launched()
    before = scenario.product
    with pytest.raises(InvalidPriceReport, match=message):
        scenario.run(cmd.ReportPrice(symbol, price, scenario.now - age, "r1"))
    assert scenario.product == before


def test_a_report_exactly_max_oracle_age_old_is_still_accepted():
    scenario = launched()
    scenario.advance(MAX_AGE)
    events = scenario.run(cmd.ReportPrice("BTC", 60_000 * WAD, scenario.now - MAX_AGE, "r2"))
    assert of(ev.PriceReported, events)


def test_a_report_older_than_the_same_reporters_last_one_is_rejected_as_out_of_order():
    scenario = launched()
    scenario.advance(60)
    report(scenario, "BTC", 60_100 * WAD)
    with pytest.raises(InvalidPriceReport, match="out of order"):
        scenario.run(cmd.ReportPrice("BTC", 60_200 * WAD, scenario.now - 1, "r1"))


def test_another_reporter_may_report_an_earlier_observation():
    scenario = launched()
    scenario.advance(60)
    report(scenario, "BTC", 60_100 * WAD, "r1")
    events = scenario.run(cmd.ReportPrice("BTC", 60_200 * WAD, scenario.now - 30, "r2"))
    assert of(ev.PriceReported, events)


# Stale and missing prices ---------------------------------------------------------------------

PRICE_COMMANDS = [cmd.Mint("bob", 10 * USDC, 0), cmd.Redeem("alice", WAD, 0), cmd.Rebalance()]
IDS = ["mint", "redeem", "rebalance"]


@pytest.mark.parametrize("command", PRICE_COMMANDS, ids=IDS)
def test_a_command_that_needs_a_price_is_rejected_on_a_stale_price(command):
    scenario = minted()
    scenario.advance(MAX_AGE + 1)
    with pytest.raises(OracleStale, match="max_oracle_age_s"):
        scenario.run(command)


@pytest.mark.parametrize("command", PRICE_COMMANDS, ids=IDS)
def test_a_command_that_needs_a_price_is_rejected_before_any_price(command):
    with pytest.raises(PriceUnavailable, match="no accepted price"):
        unpriced().run(command)


def test_a_price_exactly_max_oracle_age_old_still_serves_a_mint():
    scenario = minted()
    scenario.advance(MAX_AGE)
    assert of(ev.Minted, scenario.run(cmd.Mint("bob", 10 * USDC, 0)))


# The circuit breaker --------------------------------------------------------------------------


def test_a_move_above_the_maximum_trips_the_breaker_without_applying_the_price():
    scenario = minted()
    before = scenario.product
    events = report(scenario, "BTC", SPIKE["BTC"])
    tripped = of(ev.CircuitBreakerTripped, events)
    assert len(tripped) == 1
    assert not of(ev.PriceAccepted, events)
    state = scenario.product
    assert state.status is Status.HALTED
    assert (state.index_price_wad, state.component_prices) == (
        before.index_price_wad,
        before.component_prices,
    )
    pending = state.pending_price
    assert pending == tripped[0].pending
    assert pending.index_price_wad == index_of(90_000, 3_000)
    assert pending.move_wad == math.ceil(Fraction(1_200 - 900, 900) * WAD)
    assert scenario.audit().ok


@pytest.mark.parametrize(
    "command", [*PRICE_COMMANDS, cmd.ReconstituteIndex(DEFAULT_COMPONENTS, ())], ids=[*IDS, "reconstitute"]
)
def test_a_halted_product_rejects_every_command_that_needs_a_price(command):
    scenario = minted()
    report(scenario, "BTC", SPIKE["BTC"])
    with pytest.raises(ProductHalted, match="circuit breaker"):
        scenario.run(command)


def test_a_move_of_exactly_the_maximum_is_accepted():
    scenario = launched()  # index 900 = 0.01 × 60 000 + 0.1 × 3 000; +20 % is 1 080
    events = report(scenario, "BTC", 78_000 * WAD)  # 0.01 × 78 000 + 300 = 1 080
    [accepted] = of(ev.PriceAccepted, events)
    assert (accepted.index_price_wad, accepted.move_wad) == (1_080 * WAD, default_params().max_price_move_wad)
    assert scenario.product.status is Status.ACTIVE


def test_a_move_one_wei_over_the_maximum_trips_the_breaker():
    scenario = launched()
    events = report(scenario, "BTC", 78_000 * WAD + 100)  # 0.01 × 100 wei = 1 wei more on the index
    assert of(ev.CircuitBreakerTripped, events)
    assert scenario.product.pending_price.index_price_wad == 1_080 * WAD + 1
    assert scenario.product.index_price_wad == 900 * WAD


def test_the_tripping_reporter_alone_never_confirms_its_move():
    scenario = minted()
    report(scenario, "BTC", SPIKE["BTC"])
    for _ in range(3):
        scenario.advance(10)
        scenario.report_all(SPIKE, "r1")
    assert scenario.product.status is Status.HALTED


def test_a_second_distinct_reporter_agreeing_on_the_new_level_confirms_the_move():
    scenario = minted()
    report(scenario, "BTC", SPIKE["BTC"])
    scenario.report_all(SPIKE, "r1")  # the tripping reporter repeats itself after the trip
    events = scenario.report_all({"BTC": 89_000 * WAD, "ETH": 3_000 * WAD}, "r2")
    resolved = of(ev.HaltResolved, events)
    assert [(r.accepted, r.resolved_by) for r in resolved] == [(True, "quorum")]
    assert scenario.product.status is Status.ACTIVE
    assert scenario.product.pending_price is None
    assert prices(scenario.product)["BTC"] == 89_500 * WAD  # median of r1 and r2
    assert scenario.product.index_price_wad == index_of(89_500, 3_000) == 1_195 * WAD
    assert scenario.audit().ok


def test_reports_that_tripped_the_breaker_do_not_count_as_confirmations():
    scenario = minted()
    scenario.report_all(SPIKE, "r1")  # BTC trips; r1's ETH report arrives after the trip
    scenario.report_all(SPIKE, "r2")
    assert scenario.product.status is Status.HALTED  # BTC has one report since the trip
    report(scenario, "BTC", SPIKE["BTC"], "r1")
    assert scenario.product.status is Status.ACTIVE


def test_a_second_reporter_at_the_old_level_does_not_confirm_the_move_they_meet_halfway():
    scenario = minted()
    report(scenario, "BTC", SPIKE["BTC"])
    scenario.report_all(SPIKE, "r1")
    events = report(scenario, "BTC", DEFAULT_PRICES["BTC"], "r2")
    # Two reporters who disagree: the median of two is their mean, 75 000, an index of
    # 1 050 (+16.7 %), within max_price_move: the trip is dismissed, the move not confirmed.
    assert [(r.accepted, r.resolved_by) for r in of(ev.HaltResolved, events)] == [(False, "reports")]
    assert scenario.product.status is Status.ACTIVE
    assert scenario.product.index_price_wad == index_of(75_000, 3_000)


def test_an_admin_accepting_the_halt_applies_the_index_of_reports_of_every_component_since_the_trip():
    scenario = minted()
    report(scenario, "BTC", SPIKE["BTC"])
    pending = scenario.product.pending_price
    with pytest.raises(PriceUnavailable, match="not reported since: ETH"):
        scenario.run(cmd.ResolveHalt(accept=True))  # a partial index that no market showed
    report(scenario, "ETH", SPIKE["ETH"])
    events = scenario.run(cmd.ResolveHalt(accept=True))
    assert [(r.accepted, r.resolved_by) for r in of(ev.HaltResolved, events)] == [(True, "admin")]
    state = scenario.product
    assert state.status is Status.ACTIVE
    assert (state.index_price_wad, state.component_prices) == (
        pending.index_price_wad,
        pending.component_prices,
    )
    assert scenario.audit().ok


def test_an_admin_rejecting_the_halt_discards_the_pending_price():
    scenario = minted()
    before = scenario.product
    report(scenario, "BTC", SPIKE["BTC"])
    events = scenario.run(cmd.ResolveHalt(accept=False))
    assert [(r.accepted, r.resolved_by) for r in of(ev.HaltResolved, events)] == [(False, "admin")]
    assert not of(ev.PriceAccepted, events)
    state = scenario.product
    assert (state.status, state.pending_price) == (Status.ACTIVE, None)
    assert (state.index_price_wad, state.component_prices) == (
        before.index_price_wad,
        before.component_prices,
    )


def test_resolving_a_halt_on_a_product_that_is_not_halted_is_rejected():
    scenario = minted()
    with pytest.raises(ProductNotHalted, match="not halted"):
        scenario.run(cmd.ResolveHalt(accept=True))


# Same-decision safety: ripcord and settlement -----------------------------------------------------


def test_a_price_update_crossing_the_ripcord_is_rebalanced_in_the_same_decision():
    scenario = minted()  # −1×, ripcord 1.5×
    first = report(scenario, "BTC", 72_000 * WAD)  # index 1 020: |leverage| ≈ 1.31, out of band
    assert not of(ev.Rebalanced, first)
    assert -leverage(scenario.product) < Fraction(3, 2)
    events = report(scenario, "ETH", 3_600 * WAD)  # index 1 080: |leverage| ≈ 1.5, the ripcord
    kinds = [type(e) for e in events]
    assert kinds.index(ev.PriceAccepted) < kinds.index(ev.Rebalanced)
    [rebalanced] = of(ev.Rebalanced, events)
    assert rebalanced.reason == "ripcord"
    assert -rebalanced.leverage_before_wad >= default_params().ripcord_leverage_wad
    assert abs(leverage(scenario.product) + 1) < Fraction(1, 1_000)
    assert scenario.audit().ok


def test_a_confirmed_move_that_wipes_out_equity_settles_the_product_in_the_same_decision():
    params = attrs.evolve(default_params(-3 * WAD), max_price_move_wad=WAD // 10)  # 4.5 × 0.1 × 1.001 < 1
    scenario = minted(params=params)
    doubled = {"BTC": 120_000 * WAD, "ETH": 6_000 * WAD}
    scenario.report_all(doubled, "r1")
    scenario.report_all(doubled, "r2")
    cash, debt_units = scenario.product.vault.cash, scenario.product.vault.debt_units_wad
    events = report(scenario, "BTC", doubled["BTC"], "r1")  # the confirming report
    kinds = [type(e) for e in events]
    assert kinds.index(ev.HaltResolved) < kinds.index(ev.PriceAccepted) < kinds.index(ev.Settled)
    [settled] = of(ev.Settled, events)
    debt_value = math.ceil(Fraction(debt_units * 1_800 * WAD * USDC, WAD * WAD))  # index 900 -> 1 800
    assert debt_value > cash  # at −3× a doubling costs 3 × equity, more than the cash
    assert (settled.debt_value, settled.repaid, settled.bad_debt) == (debt_value, cash, debt_value - cash)
    state = scenario.product
    assert (state.status, state.bad_debt, state.vault.debt_units_wad, state.vault.cash) == (
        Status.SETTLED,
        debt_value - cash,
        0,
        0,
    )
    assert scenario.audit().ok
