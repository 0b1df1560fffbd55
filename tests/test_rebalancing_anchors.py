"""Rebalancing as FLI and FTX do it (issue 14, SPEC §2 Rebalancing): a schedule pinned
to a time of day, recentering part of the way back, TWAP chunks a cooldown apart, trades
sized with their own execution cost, and no empty events."""

from __future__ import annotations

import itertools
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import commands as cmd
from domain import events as ev
from domain.errors import InvalidParameters
from domain.fixedpoint import BPS, WAD, value_up
from domain.params import default_params, first_schedule_after, validate_params
from domain.rebalancing import next_keeper_due
from domain.valuation import current_leverage_wad
from domain.vault_math import quote_rebalance, recentered_magnitude_wad
from tests.support import DEFAULT_PRICES, USDC, Scenario, launched

DAY = 86_400
HOUR = 3_600
FTX_RESET_S = 120  # 00:02 UTC


def _launch_at_0717() -> int:
    day = 1_700_000_000 // DAY * DAY
    return day + 7 * HOUR + 17 * 60


def _rebalances(events: list[ev.Event]) -> list[ev.Rebalanced]:
    return [e for e in events if isinstance(e, ev.Rebalanced)]


def _magnitude(scenario: Scenario) -> Fraction:
    leverage = current_leverage_wad(scenario.product)
    assert leverage is not None
    return Fraction(-leverage, WAD)


def _scaled(prices: dict[str, int], factor: Fraction) -> dict[str, int]:
    return {s: int(p * factor) for s, p in prices.items()}


# --- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rebalance_time_of_day_s": -1}, "rebalance_time_of_day_s"),
        ({"rebalance_time_of_day_s": DAY}, "rebalance_time_of_day_s"),
        ({"rebalance_time_of_day_s": 0, "rebalance_interval_s": 7 * HOUR}, "rebalance_interval_s"),
        ({"recentering_speed_wad": 0}, "recentering_speed"),
        ({"recentering_speed_wad": WAD + 1}, "recentering_speed"),
        ({"twap_cooldown_s": -1}, "twap_cooldown_s"),
        ({"twap_cooldown_s": DAY + 1}, "twap_cooldown_s"),
    ],
)
def test_the_new_rebalancing_parameters_are_bounded(change: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidParameters, match=field):
        validate_params(attrs.evolve(default_params(), **change))


def test_the_new_parameters_default_to_the_first_versions_behaviour() -> None:
    params = default_params()
    assert (params.rebalance_time_of_day_s, params.recentering_speed_wad, params.twap_cooldown_s) == (
        None,
        WAD,
        0,
    )
    assert first_schedule_after(_launch_at_0717(), params) == _launch_at_0717() + DAY


@given(st.integers(0, 4 * 10**9), st.integers(0, DAY - 1), st.sampled_from([HOUR, 4 * HOUR, DAY, 7 * DAY]))
def test_a_pinned_schedule_lands_on_its_grid(at: int, time_of_day: int, interval: int) -> None:
    params = attrs.evolve(
        default_params(), rebalance_time_of_day_s=time_of_day, rebalance_interval_s=interval
    )
    first = first_schedule_after(at, params)
    assert at < first <= at + interval
    assert (first - time_of_day) % interval == 0


# --- FTX: the reset at 00:02 UTC ----------------------------------------------------------


@pytest.mark.parametrize("pinned", [True, False])
def test_a_daily_reset_lands_at_0002_utc_whatever_the_launch_time(pinned: bool) -> None:
    params = default_params()
    if pinned:
        params = attrs.evolve(params, rebalance_time_of_day_s=FTX_RESET_S)
    scenario = Scenario(now=_launch_at_0717())
    scenario.run(cmd.LaunchProduct("FTX", (launched().product.components), params))
    scenario.report_all(DEFAULT_PRICES)
    scenario.run(cmd.Mint("alice", 10_000 * USDC, 0))
    resets: list[ev.Rebalanced] = []
    for day in range(1, 4):
        # the keeper runs when the product is due (as the node wakes it), after a price
        due = next_keeper_due(scenario.product, scenario.now)
        assert due is not None
        scenario.now = due - 30
        scenario.report_all(_scaled(DEFAULT_PRICES, Fraction(100 + day, 100)))
        resets += _rebalances(scenario.run(cmd.Tick(), now=due))
    assert len(resets) == 3
    times_of_day = {e.at % DAY for e in resets}
    assert times_of_day == ({FTX_RESET_S} if pinned else {7 * HOUR + 17 * 60})
    assert scenario.audit().ok


def test_update_parameters_moves_the_schedule_to_its_time_of_day() -> None:
    scenario = Scenario(now=_launch_at_0717())
    scenario.run(cmd.LaunchProduct("FTX", launched().product.components, default_params()))
    assert scenario.product.next_rebalance_at % DAY == 7 * HOUR + 17 * 60
    pinned = attrs.evolve(default_params(), rebalance_time_of_day_s=FTX_RESET_S)
    scenario.run(cmd.UpdateParameters(pinned), now=scenario.now + HOUR)
    next_at = scenario.product.next_rebalance_at
    assert next_at % DAY == FTX_RESET_S
    assert scenario.now < next_at <= scenario.now + DAY


# --- FLI: recentering and TWAP ------------------------------------------------------------


def _fli_like(**changes: int) -> Scenario:
    params = attrs.evolve(default_params(), **changes)
    scenario = launched(params)
    scenario.run(cmd.Mint("alice", 1_000_000 * USDC, 0))
    return scenario


@pytest.mark.parametrize("speed_wad", [WAD // 2, WAD // 4, WAD])  # 1/4 of the way stays out: clamped
def test_recentering_moves_the_given_fraction_of_the_way_back(speed_wad: int) -> None:
    scenario = _fli_like(recentering_speed_wad=speed_wad)
    scenario.advance(60)
    scenario.report_all(_scaled(DEFAULT_PRICES, Fraction(113, 100)))  # -1x: |L| rises to ~1.30
    before = _magnitude(scenario)
    assert before > Fraction(12, 10)  # out of the band
    (rebalanced,) = _rebalances(scenario.run(cmd.Tick(), now=scenario.now + 1))
    assert rebalanced.reason == "band"
    goal = min(before - (before - 1) * Fraction(speed_wad, WAD), Fraction(11_999, 10_000))  # in the band
    assert abs(_magnitude(scenario) - goal) < Fraction(1, 10**9)
    assert abs(Fraction(-rebalanced.goal_leverage_wad, WAD) - goal) < Fraction(1, 10**15)


def test_the_ripcord_always_returns_to_target_whatever_the_recentering_speed() -> None:
    scenario = _fli_like(recentering_speed_wad=WAD // 2)
    scenario.advance(60)
    scenario.report_all(_scaled(DEFAULT_PRICES, Fraction(110, 100)))  # |L| 1.22: band, no trade yet
    scenario.advance(60)
    events = scenario.report_all(_scaled(DEFAULT_PRICES, Fraction(121, 100)))  # |L| past 1.5
    (ripcord,) = _rebalances(events)
    assert ripcord.reason == "ripcord"
    assert abs(_magnitude(scenario) - 1) < Fraction(1, 10**9)


@pytest.mark.parametrize("cooldown", [0, 600])
def test_twap_chunks_are_a_cooldown_apart(cooldown: int) -> None:
    cap = 50_000 * USDC
    scenario = _fli_like(max_trade_notional=cap, twap_cooldown_s=cooldown)
    scenario.advance(60)
    prices = _scaled(DEFAULT_PRICES, Fraction(113, 100))
    scenario.report_all(prices)
    start = scenario.now
    chunks: list[ev.Rebalanced] = []
    for second in range(60, 7_200, 60):  # the keeper ticks every minute for two hours
        if second % 1_800 == 0:
            scenario.report_all(prices)  # the oracle's heartbeat
        chunks += _rebalances(scenario.run(cmd.Tick(), now=start + second))
    assert len(chunks) >= 5
    assert all(c.notional <= cap for c in chunks)
    assert [c.reason for c in chunks[1:]] == ["continuation"] * (len(chunks) - 1)
    gaps = {b.at - a.at for a, b in itertools.pairwise(chunks)}
    assert gaps == {max(cooldown, 60)}
    assert not chunks[-1].capped
    assert abs(_magnitude(scenario) - 1) < Fraction(1, 10**9)
    assert scenario.audit().ok


def test_next_keeper_due_names_the_next_twap_chunk() -> None:
    scenario = _fli_like(max_trade_notional=20_000 * USDC, twap_cooldown_s=300)
    scenario.advance(60)
    scenario.report_all(_scaled(DEFAULT_PRICES, Fraction(113, 100)))
    (first,) = _rebalances(scenario.run(cmd.Tick(), now=scenario.now + 1))
    assert first.capped
    assert next_keeper_due(scenario.product, first.at) == first.at + 300
    assert _rebalances(scenario.run(cmd.Tick(), now=first.at + 299)) == []
    (second,) = _rebalances(scenario.run(cmd.Tick(), now=first.at + 300))
    assert second.reason == "continuation"


# --- sizing with the execution cost -------------------------------------------------------


@given(
    cash_whole=st.integers(1_000, 10**10),
    leverage_pct=st.integers(30, 290),
    goal_pct=st.integers(100, 300),
    price=st.integers(10**15, 10**24),
    cost_bps=st.integers(0, 100),
    decimals=st.sampled_from([6, 18]),
)
def test_leverage_after_a_rebalance_is_the_goal_to_rounding(
    cash_whole: int, leverage_pct: int, goal_pct: int, price: int, cost_bps: int, decimals: int
) -> None:
    """Whatever the execution cost (0-100 bps), the trade pays for itself from equity and
    lands leverage on its goal to within the rounding of a few base units."""
    scale = 10**decimals
    equity = cash_whole * scale
    debt_value = equity * leverage_pct // 100
    units = debt_value * WAD * WAD // (price * scale)
    cash = equity + value_up(units, price, decimals)
    goal = goal_pct * WAD // 100
    quote = quote_rebalance(cash, units, price, decimals, goal, cost_bps, 0)
    debt_after = value_up(quote.debt_units_after_wad, price, decimals)
    equity_after = quote.cash_after - debt_after
    assert equity_after > 0
    assert quote.execution_cost * BPS >= quote.notional * cost_bps
    leverage_after = Fraction(debt_after, equity_after)
    one_wei_value = Fraction(price * scale, WAD * WAD)
    tolerance = (Fraction(goal, WAD) + 1) * (3 + one_wei_value) / equity_after
    assert abs(leverage_after - Fraction(goal, WAD)) <= tolerance


def test_at_30_bps_a_five_percent_move_resets_to_exactly_minus_one() -> None:
    """The issue's measurement: −1.00106 after a reset at 30 bps before sizing with cost."""
    scenario = _fli_like(execution_cost_bps=30)
    scenario.advance(60)
    scenario.now = scenario.product.next_rebalance_at
    scenario.report_all(_scaled(DEFAULT_PRICES, Fraction(105, 100)))
    (reset,) = _rebalances(scenario.run(cmd.Tick()))
    assert reset.execution_cost > 0
    assert abs(Fraction(reset.leverage_after_wad, WAD) + 1) < Fraction(1, 10**9)


@given(st.integers(0, 10**30), st.integers(0, 10**30), st.integers(1, WAD))
def test_recentering_lies_between_leverage_and_target(magnitude: int, target: int, speed: int) -> None:
    goal = recentered_magnitude_wad(magnitude, target, speed)
    assert min(magnitude, target) <= goal <= max(magnitude, target)
    assert speed < WAD or goal == target


# --- no empty events ----------------------------------------------------------------------


def test_a_long_idle_run_writes_no_empty_event() -> None:
    """A day of keeper ticks every minute on an idle product (flat price, no funding, no
    streaming fee): nothing moves, so nothing is written, not even the scheduled reset."""
    scenario = _fli_like(streaming_fee_bps=0)
    before = len(scenario.decisions)
    for _ in range(1_440):
        scenario.advance(60)
        if scenario.now % 1_800 < 60:
            scenario.report_all(DEFAULT_PRICES)  # the oracle's heartbeat keeps the price fresh
        scenario.run(cmd.Tick())
    written = [e for events in scenario.decisions[before:] for e in events]
    assert not [e for e in written if isinstance(e, ev.Rebalanced) and e.units_wad == 0]
    assert not [
        e
        for e in written
        if isinstance(e, ev.Accrued) and e.funding_paid == 0 and e.streaming_fee_tokens == 0
    ]
    assert not [e for e in written if isinstance(e, ev.Rebalanced | ev.Accrued)]
    assert scenario.audit().ok


def test_funding_too_small_for_a_base_unit_still_accrues_exactly() -> None:
    """Funding of a fraction of a base unit per tick writes nothing per tick, yet over a day
    pays exactly what one accrual over the day pays."""
    ticking, daily = _fli_like(streaming_fee_bps=0), _fli_like(streaming_fee_bps=0)
    for scenario in (ticking, daily):
        scenario.run(cmd.ReportFundingRate(WAD // 10**6))  # 1e-6/yr on ~1M: ~0.03 units/s
    start = ticking.now
    ticks = [ticking.run(cmd.Tick(), now=start + s) for s in range(1, 601)]
    accruals = [e for events in ticks for e in events if isinstance(e, ev.Accrued)]
    assert 0 < len(accruals) < 60  # one per whole base unit, not one per tick
    assert all(e.funding_paid > 0 for e in accruals)
    daily.run(cmd.Tick(), now=start + 600)
    # Settle both at the same moment with a written event: cash and carry agree exactly.
    for scenario in (ticking, daily):
        scenario.run(cmd.Mint("bob", 1_000 * USDC, 0), now=start + 601)
    assert ticking.product.accrued_at == daily.product.accrued_at == start + 601
    assert ticking.product.vault.cash == daily.product.vault.cash
    assert ticking.product.funding_carry == daily.product.funding_carry


# --- the schedule keeps its moments -------------------------------------------------------


def test_a_reset_with_nothing_to_trade_does_not_run_late_at_the_next_price() -> None:
    """A pinned reset at 00:02 right after a mint at the same price trades nothing, writes
    nothing, and is not made up at 01:00 when the price moves: the next reset is at 00:02."""
    params = attrs.evolve(default_params(), rebalance_time_of_day_s=FTX_RESET_S)
    start = 1_700_000_000 // DAY * DAY + DAY  # 00:00 UTC
    scenario = Scenario(now=start)
    scenario.run(cmd.LaunchProduct("FTX", launched().product.components, params))
    scenario.report_all(DEFAULT_PRICES)
    scenario.run(cmd.Mint("alice", 10_000 * USDC, 0))
    assert _rebalances(scenario.run(cmd.Tick(), now=start + FTX_RESET_S)) == []  # on target already
    resets: list[ev.Rebalanced] = []
    for hour in range(1, 30):
        scenario.now = start + hour * HOUR
        scenario.report_all(_scaled(DEFAULT_PRICES, Fraction(1000 + hour, 1000)))
        resets += _rebalances(scenario.run(cmd.Tick()))
        due = next_keeper_due(scenario.product, scenario.now)
        if due is not None and due < scenario.now + HOUR:
            resets += _rebalances(scenario.run(cmd.Tick(), now=due))
    assert [e.at for e in resets] == [start + DAY + FTX_RESET_S]


def test_a_reset_whose_moment_had_no_fresh_price_runs_at_the_next_price() -> None:
    """Stock prices over a weekend: no fresh price at Saturday's or Sunday's 00:02; the reset
    runs at Monday's first price, once (not again at Monday 00:02)."""
    params = attrs.evolve(default_params(), rebalance_time_of_day_s=FTX_RESET_S)
    friday = 1_700_000_000 // DAY * DAY + DAY
    scenario = Scenario(now=friday)
    scenario.run(cmd.LaunchProduct("FTX", launched().product.components, params))
    scenario.report_all(DEFAULT_PRICES)
    scenario.run(cmd.Mint("alice", 10_000 * USDC, 0))
    for day in (1, 2):  # the keeper wakes at 00:02 on the weekend: the price is stale
        assert _rebalances(scenario.run(cmd.Tick(), now=friday + day * DAY + FTX_RESET_S)) == []
    monday = friday + 3 * DAY
    scenario.now = monday
    scenario.report_all(_scaled(DEFAULT_PRICES, Fraction(105, 100)))
    (late,) = _rebalances(scenario.run(cmd.Tick()))
    assert (late.reason, late.at) == ("schedule", monday)
    assert _rebalances(scenario.run(cmd.Tick(), now=monday + FTX_RESET_S)) == []
    assert scenario.product.next_rebalance_at == monday + DAY + FTX_RESET_S


def test_a_patch_of_minus_one_unpins_the_schedule() -> None:
    pinned = attrs.evolve(default_params(), rebalance_time_of_day_s=FTX_RESET_S)
    scenario = Scenario(now=_launch_at_0717())
    scenario.run(cmd.LaunchProduct("FTX", launched().product.components, pinned))
    scenario.run(cmd.UpdateParameters((("rebalance_time_of_day_s", -1),)), now=scenario.now + HOUR)
    assert scenario.product.params.rebalance_time_of_day_s is None
    assert scenario.product.params == default_params()
