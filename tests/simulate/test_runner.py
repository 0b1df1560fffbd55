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


def test_a_breaker_tripped_by_a_partial_index_is_resolved_and_the_whole_step_priced():
    """A up 50 %, B down 50 %: after A's report alone the index is up 25 % and trips the
    breaker, but the whole step leaves the index where it was; the admin rejects the
    pending partial price and the full set of reports is accepted. (Hourly steps: B's
    previous report is still fresh when A's arrives; a day-old one would be stale.)"""
    path = PricePath(
        times=(1_767_225_600, 1_767_225_600 + 3_600, 1_767_225_600 + 7_200),
        symbols=("A", "B"),
        prices_wad=((100 * WAD, 100 * WAD), (150 * WAD, 50 * WAD), (150 * WAD, 50 * WAD)),
        funding_wad=None,
        description="test",
    )
    result = run(path, frictionless(-1), "daily")
    step = result.rows[1]
    assert step.circuit_breaker
    assert step.status == "ACTIVE"
    assert step.index_price_wad == result.rows[0].index_price_wad
    assert result.rows[-1].equity == pytest.approx(result.rows[0].equity, abs=2)
