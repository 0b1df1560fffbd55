"""The runner: what it does at a circuit breaker and a wipe-out, its progress reports,
and that the store gives exactly the decisions the pure domain gives."""

from __future__ import annotations

import pytest

from adapters.simulate.paths import PricePath, gbm_path
from adapters.simulate.policies import parse_policy
from adapters.simulate.runner import MemoryDriver, Setup, StoreDriver, run_backtest, run_policy
from adapters.simulate.summary import summarise
from domain.fixedpoint import WAD
from tests.simulate.helpers import MINT, frictionless, run

DAY = 86_400


def daily_path(*prices: float) -> PricePath:
    return PricePath(
        times=tuple(1_767_225_600 + k * DAY for k in range(len(prices))),
        symbols=("X",),
        prices_wad=tuple((round(p * WAD),) for p in prices),
        funding_wad=None,
        description="test",
    )


def test_a_move_past_the_circuit_breaker_is_confirmed_and_the_ripcord_cuts_leverage():
    """+25 % against a 20 % breaker: the product halts, two more reporters confirm the
    recorded move, and at |leverage| 1.67 > 1.5 the ripcord runs in that decision."""
    result = run(daily_path(100, 125, 120), frictionless(-1), "band+ripcord")
    tripped = result.rows[1]
    assert tripped.circuit_breaker
    assert tripped.status == "ACTIVE"
    assert tripped.index_price_wad == 125 * WAD
    assert [n.reason for n in tripped.rebalances] == ["ripcord"]
    assert tripped.worst_leverage_wad > 3 * WAD // 2
    assert result.rows[-1].index_price_wad == 120 * WAD
    summary = summarise(result)
    assert summary.circuit_breakers == 1
    # −25 % of equity at 125, leverage back to −1, then +4 % on the 4 % fall (inside the band).
    assert tripped.equity == 3 * MINT // 4
    assert summary.final_nav == pytest.approx(0.75 * 1.04, rel=1e-9)


def test_a_confirmed_move_that_wipes_out_equity_settles_the_product_and_ends_the_run():
    result = run(daily_path(100, 140, 150, 160), frictionless(-3), "daily")
    assert len(result.rows) == 2
    assert result.settled
    assert result.rows[-1].status == "SETTLED"
    assert result.rows[-1].nav_wad == 0
    assert summarise(result).settled


def test_progress_counts_every_step_of_every_policy_even_after_a_settlement():
    ticks: list[int] = []
    path = daily_path(100, 140, 150, 160)
    policies = [parse_policy("daily"), parse_policy("band+ripcord")]
    run_backtest(MemoryDriver(), path, Setup(frictionless(-3), MINT), policies, progress=ticks.append)
    assert sum(ticks) == path.steps * len(policies)


def test_the_store_replays_exactly_the_decisions_of_the_pure_domain(tmp_path):
    path = gbm_path(["A", "B"], [100.0, 20.0], 0.0, 1.2, 2, 24, seed=9, correlation=0.3)
    setup = Setup(frictionless(-2, execution_cost_bps=10), MINT, funding_wad=WAD // 20)
    policy = parse_policy("band+ripcord")
    in_memory = run_policy(MemoryDriver(), path, setup, policy, "SIM-A")
    stored = run_policy(StoreDriver(f"sqlite:///{tmp_path / 's.db'}", "t"), path, setup, policy, "SIM-A")
    assert stored.rows == in_memory.rows
    assert summarise(stored).funding_paid > 0


def test_a_quorum_of_reporters_prices_the_index_and_confirms_a_tripped_move():
    result = run(daily_path(100, 125, 120), frictionless(-1, oracle_quorum=3), "daily")
    assert result.rows[1].circuit_breaker
    assert result.rows[1].status == "ACTIVE"
    assert result.rows[-1].index_price_wad == 120 * WAD


CROSS = PricePath(
    times=(1_767_225_600, 1_767_225_600 + 3_600, 1_767_225_600 + 7_200),
    symbols=("A", "B"),
    prices_wad=((100 * WAD, 100 * WAD), (150 * WAD, 50 * WAD), (150 * WAD, 50 * WAD)),
    funding_wad=None,
    description="test",
)


def test_a_cross_move_published_as_rounds_trips_nothing():
    """A up 50 %, B down 50 %: the index does not move, and a round is one update."""
    result = run(CROSS, frictionless(-1), "daily")
    assert not any(row.circuit_breaker for row in result.rows)
    assert result.rows[1].index_price_wad == result.rows[0].index_price_wad
    assert result.rows[-1].equity == result.rows[0].equity


def test_a_cross_move_published_per_asset_dismisses_its_own_trip_without_an_admin():
    """Per asset, A's report alone puts the index up 25 % and trips the breaker; B's report
    puts it back and dismisses the trip by itself: no admin, no confirmation, no loss."""
    result = run(CROSS, frictionless(-1), "daily", feed="per-asset")
    step = result.rows[1]
    assert step.circuit_breaker
    assert step.status == "ACTIVE"
    assert step.index_price_wad == result.rows[0].index_price_wad
    assert result.rows[-1].equity == result.rows[0].equity


@pytest.mark.parametrize("feed", ["rounds", "per-asset"])
def test_a_multi_asset_path_of_independent_component_moves_never_sticks(feed):
    """Three components moving independently (correlation 0) at 150 % volatility, hourly:
    partial trips dismiss themselves, genuine jumps are confirmed; the runner asserts that
    no step ends halted, and the run reaches its last step."""
    path = gbm_path(
        ("A", "B", "C"), initial_prices=(100.0, 100.0, 100.0), drift=0.0, volatility=1.5,
        days=20, steps_per_day=24, seed=7, correlation=0.0,
    )  # fmt: skip
    result = run(path, frictionless(-1, max_price_move_wad=WAD // 50), "band+ripcord", feed=feed)
    assert len(result.rows) == len(path.times)
    assert all(row.status == "ACTIVE" for row in result.rows)
    if feed == "rounds":
        assert any(row.circuit_breaker for row in result.rows)  # genuine jumps, each confirmed
