"""Laws of the market's decisions (domain/decide_market.py: price rounds, the circuit
breaker and its dismissal or confirmation, funding rates, the keeper's tick) that mutation
testing (``make mutate``) found no test watching. Each test names the mutants of
``domain.decide_market`` it was written against; they drive the public decisions only."""

from __future__ import annotations

import math
from fractions import Fraction

import attrs
import pytest

from domain import commands as cmd
from domain import events as ev
from domain.decide import decide_and_apply
from domain.errors import InvalidArgument, InvalidPriceReport
from domain.fixedpoint import WAD
from domain.model import Component, PendingPrice, Report, Status
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

SPIKE_BTC = 90_000 * WAD  # BTC 60 000 -> 90 000: the index 900 -> 1 200, a move of one third
MAX_MOVE = default_params().max_price_move_wad  # 20 %


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def only(kind, events):
    found = of(kind, events)
    assert len(found) == 1, events
    return found[0]


def index_of(btc: int, eth: int) -> int:
    """The index price (WAD) of the default index at whole-unit component prices, rounded up."""
    return math.ceil(Fraction(BTC_WAD * btc * WAD + ETH_WAD * eth * WAD, WAD))


def move_of(previous: int, new: int) -> int:
    """|new − previous| / previous as WAD, rounded up (never understated)."""
    return math.ceil(Fraction(abs(new - previous) * WAD, previous))


def report(scenario: Scenario, symbol: str, price: int, reporter: str = "r1") -> list[ev.Event]:
    return scenario.run(cmd.ReportPrice(symbol, price, scenario.now, reporter))


def tripped(scenario: Scenario, btc: int = SPIKE_BTC) -> ev.CircuitBreakerTripped:
    """r1 reports BTC at ``btc`` after a minute (90 000: the index 900 -> 1 200), which
    trips the breaker."""
    scenario.advance(60)
    return only(ev.CircuitBreakerTripped, report(scenario, "BTC", btc))


# Reports at entry -----------------------------------------------------------------------------


# Against _check_round: `price <= 0` -> `price <= 1`.
def test_a_price_of_one_wei_is_a_positive_price_and_is_recorded():
    scenario = launched()
    events = report(scenario, "ETH", 1)
    assert only(ev.PriceReported, events).price_wad == 1
    assert scenario.product.reports["ETH"]["r1"].price_wad == 1


# Against _check_round: `continue` -> `break` (a symbol the product does not hold ended the
# round, dropping the held symbols after it).
def test_a_round_keeps_the_held_symbols_after_a_symbol_the_product_does_not_hold():
    scenario = launched()
    round_ = (("DOGE", WAD), ("BTC", 61_000 * WAD), ("SOL", 2 * WAD), ("ETH", 3_050 * WAD))
    events = scenario.run(cmd.ReportPrices("r1", scenario.now, round_))
    assert [(e.symbol, e.price_wad) for e in of(ev.PriceReported, events)] == [
        ("BTC", 61_000 * WAD),
        ("ETH", 3_050 * WAD),
    ]
    assert only(ev.PriceAccepted, events).index_price_wad == index_of(61_000, 3_050)


# Against _check_round: `", ".join(...)` -> `"XX, XX".join(...)` (the error that names the
# symbols of a round no component of which the product holds).
def test_a_round_of_no_component_names_every_symbol_it_reported():
    scenario = launched()
    round_ = (("DOGE", WAD), ("SOL", 2 * WAD))
    with pytest.raises(InvalidPriceReport) as raised:
        scenario.run(cmd.ReportPrices("r1", scenario.now, round_))
    assert str(raised.value) == "DOGE, SOL are not components of IIT-1 (BTC, ETH)"


# Accepted prices and the trip -------------------------------------------------------------------


# Against _judge: `move_wad(...) if last else 0` -> `... else 1`, and `_accepted(now, last, ...)`
# -> `_accepted(now, None, ...)`; against _accepted: `previous_index_price_wad=None`.
def test_the_first_accepted_price_moves_from_no_price_by_nothing():
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("IIT-1", DEFAULT_COMPONENTS, default_params()))
    events = scenario.report_all(DEFAULT_PRICES)
    accepted = only(ev.PriceAccepted, events)
    assert (accepted.index_price_wad, accepted.previous_index_price_wad, accepted.move_wad) == (
        900 * WAD,
        0,
        0,
    )


# Against _judge: `_accepted(now, None, move, candidate)`; against _accepted:
# `previous_index_price_wad=None`, `at=None`.
def test_an_accepted_price_names_the_index_it_replaces_and_the_move_from_it():
    scenario = launched()
    scenario.advance(60)
    accepted = only(ev.PriceAccepted, report(scenario, "BTC", 66_000 * WAD))
    assert accepted == ev.PriceAccepted(
        at=scenario.now,
        index_price_wad=960 * WAD,
        previous_index_price_wad=900 * WAD,
        move_wad=move_of(900, 960),
        component_prices=(("BTC", 66_000 * WAD), ("ETH", 3_000 * WAD)),
        observed_at=scenario.now - 60,  # the oldest report behind it, ETH's at launch
    )


# Against _judge: the fields of `CircuitBreakerTripped` and of its `PendingPrice`
# (`at=None`, `last_index_price_wad=None`, `max_price_move_wad=None`, `tripping_reports`
# left out, `component_prices=None`, `observed_at=None`, ...).
def test_a_trip_records_the_pending_index_the_last_accepted_one_the_limit_and_the_tripping_reports():
    scenario = launched()
    launched_at = scenario.now
    trip = tripped(scenario)
    assert trip == ev.CircuitBreakerTripped(
        at=scenario.now,
        pending=PendingPrice(
            index_price_wad=1_200 * WAD,
            component_prices=(("BTC", SPIKE_BTC), ("ETH", 3_000 * WAD)),
            observed_at=launched_at,  # the oldest report behind it, ETH's at launch
            move_wad=move_of(900, 1_200),
        ),
        last_index_price_wad=900 * WAD,
        max_price_move_wad=MAX_MOVE,
        tripping_reports=(("BTC", Report("r1", SPIKE_BTC, scenario.now)),),
    )
    assert scenario.product.pending_price == trip.pending


# Against _judge: `if move > params.max_price_move_wad` -> `>=` (a move of exactly the
# maximum would trip the breaker and the trip be dismissed at once by the same report: the
# same index in the end, but a halt that never was in the log).
def test_a_move_of_exactly_the_maximum_is_accepted_without_tripping_the_breaker():
    scenario = launched()  # index 900 = 0.01 × 60 000 + 0.1 × 3 000; +20 % is 1 080
    scenario.advance(60)
    events = report(scenario, "BTC", 78_000 * WAD)  # 0.01 × 78 000 + 300 = 1 080
    assert [type(e) for e in events] == [ev.PriceReported, ev.PriceAccepted]
    assert only(ev.PriceAccepted, events).move_wad == MAX_MOVE


# Dismissal of a trip by the reports ---------------------------------------------------------------


# Against _rejudge_trip: `whole = candidate_price(...)` -> `whole = None` (only the index of
# the reports since the trip could dismiss it, and ETH was not reported since).
def test_a_report_back_within_the_band_dismisses_a_trip_though_not_every_component_was_reported_since():
    scenario = minted()
    trip = tripped(scenario)
    events = report(scenario, "BTC", 60_000 * WAD, "r2")  # BTC's median: 75 000, an index of 1 050
    resolved = only(ev.HaltResolved, events)
    assert (resolved.accepted, resolved.resolved_by) == (False, "reports")
    assert resolved.pending == trip.pending
    assert scenario.product.status is Status.ACTIVE
    assert scenario.product.index_price_wad == index_of(75_000, 3_000)


# Against _rejudge_trip: `if move <= params.max_price_move_wad` -> `<`.
def test_a_report_that_puts_the_index_exactly_max_price_move_from_the_last_dismisses_the_trip():
    scenario = minted()
    tripped(scenario)
    # BTC's median of r1's 90 000 and r2's 66 000 is 78 000: an index of 1 080, exactly +20 %.
    events = report(scenario, "BTC", 66_000 * WAD, "r2")
    assert [(r.accepted, r.resolved_by) for r in of(ev.HaltResolved, events)] == [(False, "reports")]
    accepted = only(ev.PriceAccepted, events)
    assert (accepted.index_price_wad, accepted.move_wad) == (1_080 * WAD, MAX_MOVE)
    assert scenario.product.status is Status.ACTIVE


# Against _rejudge_trip: the dismissal's `HaltResolved(pending=None)`, `at=None`, and its
# `_accepted(now, None, move, ...)`, `_accepted(now, last, None, ...)`.
def test_a_dismissal_records_the_dismissed_pending_price_and_the_move_from_the_last_accepted_index():
    scenario = minted()
    trip = tripped(scenario)
    scenario.advance(5)
    events = report(scenario, "BTC", 60_000 * WAD, "r2")
    assert [e for e in events if isinstance(e, ev.HaltResolved | ev.PriceAccepted)] == [
        ev.HaltResolved(at=scenario.now, accepted=False, resolved_by="reports", pending=trip.pending),
        ev.PriceAccepted(
            at=scenario.now,
            index_price_wad=index_of(75_000, 3_000),
            previous_index_price_wad=900 * WAD,
            move_wad=move_of(900, 1_050),
            component_prices=(("BTC", 75_000 * WAD), ("ETH", 3_000 * WAD)),
            observed_at=scenario.now - 65,  # ETH's report at launch
        ),
    ]


# Against since_trip_candidate: `merged_books(state.trip_reports, state.confirmations)` ->
# `merged_books(state.trip_reports)` (the reports after the trip ignored) and ->
# `merged_books(state.confirmations)` (the tripping reports ignored); other tests kill these
# only through the tripping round itself, this one through the reports that follow it.
def test_the_reports_since_the_trip_dismiss_it_though_older_reports_still_hold_the_index_at_the_trip():
    scenario = launched()
    for reporter in ("r1", "r2", "r3"):
        scenario.report_all(DEFAULT_PRICES, reporter)
    scenario.advance(60)
    assert not of(ev.CircuitBreakerTripped, report(scenario, "BTC", SPIKE_BTC, "r1"))  # median 60 000
    trip = only(ev.CircuitBreakerTripped, report(scenario, "BTC", SPIKE_BTC, "r2"))  # median 90 000
    assert trip.pending.index_price_wad == 1_200 * WAD
    # r3's round: every reporter's BTC still has a median of 90 000, but since the trip BTC
    # was reported at 90 000 (r2, tripping) and 60 000 (r3), ETH at 3 000 (r3).
    events = scenario.run(cmd.ReportPrices("r3", scenario.now, (("BTC", 60_000 * WAD), ("ETH", 3_000 * WAD))))
    assert [(r.accepted, r.resolved_by) for r in of(ev.HaltResolved, events)] == [(False, "reports")]
    assert only(ev.PriceAccepted, events).component_prices == (("BTC", 75_000 * WAD), ("ETH", 3_000 * WAD))
    assert scenario.product.index_price_wad == index_of(75_000, 3_000)


# Confirmation of a trip by a quorum ----------------------------------------------------------------


# Against _confirmed_candidate: `moved_beyond(accepted.get(symbol), ...)` ->
# `moved_beyond(None, ...)` or `accepted.get(None)` (every component would need two
# confirming reporters), and `merged_books(state.trip_reports, state.confirmations)` ->
# `merged_books(state.confirmations)` for a component that did not move; against
# _rejudge_trip: the confirmation's `HaltResolved(pending=None)`, `at=None`, and
# `move = None`, `_accepted(now, None, ...)`, `_accepted(now, last, None, ...)`.
def test_two_reporters_confirm_the_moved_component_and_the_tripping_round_prices_the_others():
    scenario = minted()
    scenario.advance(60)
    round_ = (("BTC", SPIKE_BTC), ("ETH", 3_000 * WAD))
    trip = only(ev.CircuitBreakerTripped, scenario.run(cmd.ReportPrices("r1", scenario.now, round_)))
    tripped_at = scenario.now
    scenario.advance(10)
    report(scenario, "BTC", SPIKE_BTC, "r1")  # one confirming reporter: still halted
    assert scenario.product.status is Status.HALTED
    scenario.advance(10)
    events = report(scenario, "BTC", 88_000 * WAD, "r2")  # the second: BTC's median is 89 000
    assert [e for e in events if isinstance(e, ev.HaltResolved | ev.PriceAccepted)] == [
        ev.HaltResolved(at=scenario.now, accepted=True, resolved_by="quorum", pending=trip.pending),
        ev.PriceAccepted(
            at=scenario.now,
            index_price_wad=index_of(89_000, 3_000),
            previous_index_price_wad=900 * WAD,
            move_wad=move_of(900, 1_190),
            component_prices=(("BTC", 89_000 * WAD), ("ETH", 3_000 * WAD)),
            observed_at=tripped_at,  # ETH's report in the tripping round
        ),
    ]
    assert scenario.product.status is Status.ACTIVE


# Funding rates -----------------------------------------------------------------------------------------


# Against decide_report_funding_rate: `abs(rate) > FUNDING_RATE_MAX_WAD` -> `>=`, and the
# fields of `FundingRateSet` (`previous_funding_rate_wad=None`, `at=None`).
@pytest.mark.parametrize("rate", [10 * WAD, -10 * WAD], ids=["+1000 %", "-1000 %"])
def test_a_funding_rate_of_exactly_the_maximum_is_set_and_names_the_rate_it_replaces(rate):
    scenario = minted()
    scenario.run(cmd.ReportFundingRate(WAD // 20))
    scenario.advance(60)
    events = scenario.run(cmd.ReportFundingRate(rate))
    assert only(ev.FundingRateSet, events) == ev.FundingRateSet(
        at=scenario.now, funding_rate_wad=rate, previous_funding_rate_wad=WAD // 20
    )
    assert scenario.product.funding_rate_wad == rate
    with pytest.raises(InvalidArgument, match=f"got {rate + (1 if rate > 0 else -1)}"):
        scenario.run(cmd.ReportFundingRate(rate + (1 if rate > 0 else -1)))


# A settled product ------------------------------------------------------------------------------------


# Against decide_report_prices and decide_tick: `return Draft(state)` -> `return Draft(None)`
# on a settled product (the decision's state is what a store keeps without replaying).
@pytest.mark.parametrize(
    "command",
    [cmd.ReportPrice("BTC", 61_000 * WAD, 0, "r1"), cmd.Tick()],
    ids=["report", "tick"],
)
def test_a_settled_product_ignores_prices_and_ticks_and_its_state_stays_as_it_is(command):
    scenario = minted()
    scenario.run(cmd.SettleProduct())
    settled = scenario.product
    assert settled.settled
    scenario.advance(60)
    if isinstance(command, cmd.ReportPrice):
        command = attrs.evolve(command, observed_at=scenario.now)
    draft = decide_and_apply(settled, command, scenario.now)
    assert draft.events == []
    assert draft.state == settled


# The keeper's tick ----------------------------------------------------------------------------------------


def out_of_band() -> Scenario:
    """A −1× product whose accepted index moved +13 % (|leverage| ≈ 1.31, above the band's
    1.2 and below the ripcord's 1.5): a rebalance is due at the next tick."""
    scenario = minted()
    scenario.advance(60)
    report(scenario, "BTC", 72_000 * WAD)  # index 1 020
    assert not of(ev.Rebalanced, scenario.decisions[-1])
    return scenario


def test_the_keeper_rebalances_a_product_out_of_its_band():
    scenario = out_of_band()
    scenario.advance(60)
    rebalanced = only(ev.Rebalanced, scenario.run(cmd.Tick()))
    assert rebalanced.reason == "band"


# Against decide_tick: `state.halted or state.index_price_wad == 0` -> `state.halted and ...`.
def test_the_keeper_never_rebalances_a_halted_product():
    scenario = out_of_band()
    tripped(scenario, 120_000 * WAD)  # the index 1 020 -> 1 500
    scenario.advance(60)
    assert not of(ev.Rebalanced, scenario.run(cmd.Tick()))
    assert scenario.product.status is Status.HALTED


# Against decide_tick: `index == 0 or not is_fresh(...)` -> `index == 0 and not is_fresh(...)`.
def test_the_keeper_never_rebalances_on_a_stale_price():
    scenario = out_of_band()
    scenario.advance(default_params().max_oracle_age_s + 1)
    events = scenario.run(cmd.Tick())
    assert not of(ev.Rebalanced, events)
    assert of(ev.Accrued, events)  # it still brings the fees up to date


# Against decide_tick: `state.index_price_wad == 0` -> `== 1` (an index of one wei is a
# price like any other; only 0 means that no price was ever accepted).
def test_the_keeper_runs_the_scheduled_rebalance_of_a_product_priced_at_one_wei():
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("X", (Component("X", WAD),), default_params()))
    report(scenario, "X", 1)
    assert scenario.product.index_price_wad == 1
    scenario.run(cmd.Mint("alice", 1_000 * USDC, 0))
    scenario.run(cmd.ReportFundingRate(10 * WAD))  # funding paid moves the leverage off target
    scenario.advance(default_params().rebalance_interval_s)
    report(scenario, "X", 1)  # a fresh price at the scheduled moment
    rebalanced = only(ev.Rebalanced, scenario.run(cmd.Tick()))
    assert (rebalanced.reason, rebalanced.price_wad) == ("schedule", 1)
