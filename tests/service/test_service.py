"""The use cases over every product of a store: fan-out of prices, the keeper, the clocks,
the read models and the audit, on both stores."""

from __future__ import annotations

import pytest

from adapters.bootstrap import bootstrap
from adapters.clock import ClockWentBackwards, SimulatedClock
from adapters.service.commits import ProductResult
from adapters.service.use_cases import Service
from adapters.store.contract import Outcome
from adapters.store.node import Node
from adapters.store.projections import ReadModels, rebuild
from domain import commands as cmd
from domain import events as ev
from domain.errors import InvalidArgument
from domain.fixedpoint import WAD
from domain.model import Component
from domain.params import default_params
from tests.support import USDC

T0 = 1_700_000_000


def by_product(results: list[ProductResult]) -> dict[str, Outcome]:
    """Each product's outcome of a fan-out or a tick that none of them rejected."""
    assert all(r.outcome is not None for r in results), results
    return {r.product_id: r.outcome for r in results if r.outcome is not None}


def two_products(url: str) -> Service:
    service = bootstrap(url, SimulatedClock(T0))
    btc_eth = (Component("BTC", WAD // 100), Component("ETH", WAD // 10))
    btc_sol = (Component("BTC", WAD // 100), Component("SOL", WAD))
    service.commands.execute("A", cmd.LaunchProduct("A", btc_eth, default_params()), "launch-A")
    service.commands.execute("B", cmd.LaunchProduct("B", btc_sol, default_params(-2 * WAD)), "launch-B")
    for symbol, price in {"BTC": 60_000, "ETH": 3_000, "SOL": 150}.items():
        service.prices.report_price(symbol, price * WAD, T0, "r1", f"p-{symbol}")
    return service


def test_a_price_reaches_every_product_holding_the_asset_and_only_those(store_url):
    service = two_products(store_url)
    outcomes = by_product(service.prices.report_price("ETH", 3_100 * WAD, T0, "r2", "eth-2"))
    assert set(outcomes) == {"A"}
    outcomes = by_product(service.prices.report_price("BTC", 61_000 * WAD, T0, "r2", "btc-2"))
    assert set(outcomes) == {"A", "B"}
    for product_id in ("A", "B"):
        state = service.node.load(product_id).state
        assert dict(state.component_prices)["BTC"] == 60_500 * WAD  # median of r1 and r2


def test_a_retried_price_report_applies_once_per_product(store_url):
    service = two_products(store_url)
    first = by_product(service.prices.report_price("BTC", 61_000 * WAD, T0, "r2", "btc-2"))
    again = by_product(service.prices.report_price("BTC", 61_000 * WAD, T0, "r2", "btc-2"))
    assert all(o.replayed for o in again.values())
    assert {p: o.events for p, o in again.items()} == {p: o.events for p, o in first.items()}


def test_a_price_for_an_asset_no_product_holds_is_recorded_for_no_product(store_url):
    service = two_products(store_url)
    assert by_product(service.prices.report_price("DOGE", WAD, T0, "r1", "doge")) == {}
    assert service.node.oracle_book()["DOGE"]["r1"].price_wad == WAD


def test_the_keeper_runs_the_daily_reset_of_every_product_once_per_moment(store_url):
    service = two_products(store_url)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m-A")
    service.commands.execute("B", cmd.Mint("bob", 1_000 * USDC, 0), "m-B")
    assert isinstance(service.clock, SimulatedClock)
    day = T0 + 86_400
    service.clock.advance_to(day)
    for symbol, price in {"BTC": 61_000, "ETH": 3_050, "SOL": 152}.items():  # a day's move to reset
        service.prices.report_price(symbol, price * WAD, day, "r1", f"day-{symbol}")
    outcomes = by_product(service.keeper.tick(None)[1])
    for product_id in ("A", "B"):
        reasons = [e.reason for e in outcomes[product_id].events if isinstance(e, ev.Rebalanced)]
        assert reasons == ["schedule"]
    second_keeper = bootstrap(store_url, SimulatedClock(day))
    again = by_product(second_keeper.keeper.tick(None)[1])
    assert not [e for o in again.values() for e in o.events if isinstance(e, ev.Rebalanced)]


def test_two_keepers_that_saw_the_same_log_tick_a_product_once(store_url):
    service = two_products(store_url)
    other = bootstrap(store_url, SimulatedClock(T0))
    first, second = by_product(service.keeper.tick(None)[1]), by_product(other.keeper.tick(None)[1])
    assert all(o.replayed for o in second.values())
    assert {p: o.events for p, o in second.items()} == {p: o.events for p, o in first.items()}


def test_a_tick_after_a_fresh_price_at_the_same_moment_runs_the_due_reset(store_url):
    service = two_products(store_url)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m-A")
    assert isinstance(service.clock, SimulatedClock)
    day = T0 + 86_400
    service.clock.advance_to(day)
    # The reset is due, but the price is a day old: nothing trades.
    stale = by_product(service.keeper.tick(None)[1])
    assert not [e for e in stale["A"].events if isinstance(e, ev.Rebalanced)]
    for symbol, price in {"BTC": 61_000, "ETH": 3_050}.items():  # a day's move to reset
        service.prices.report_price(symbol, price * WAD, day, "r1", f"day-{symbol}")
    # The same moment, a new log: the keeper decides again.
    fresh = by_product(service.keeper.tick(None)[1])
    assert [e.reason for e in fresh["A"].events if isinstance(e, ev.Rebalanced)] == ["schedule"]


def test_a_simulated_clock_never_goes_backwards():
    clock = SimulatedClock(T0)
    assert clock.advance_to(T0 + 5) == T0 + 5
    with pytest.raises(ClockWentBackwards):
        clock.advance_to(T0)
    assert clock.now() == T0 + 5


def test_read_models_follow_the_log_and_rebuild_to_the_same_result(store_url):
    service = two_products(store_url)
    models = ReadModels()
    models.catch_up(service.node)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m-A")
    service.commands.execute("A", cmd.Transfer("alice", "carol", 10 * WAD), "t-A")
    applied = models.catch_up(Node.open(store_url))  # another node's view of the same store
    assert applied > 0
    state = service.node.load("A").state
    assert models.balances["A"] == dict(state.balances)
    assert models.nav_history[-1].nav_per_token_wad > 0
    rebuilt = rebuild(service.node)
    assert rebuilt.balances == models.balances
    assert rebuilt.nav_history == models.nav_history
    assert rebuilt.position == models.position


def test_the_node_audits_its_own_store_for_check_invariants(store_url):
    service = two_products(store_url)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m-A")
    report = service.audits.check()
    assert report.ok, report.findings
    assert report.products == 2
    only_a = service.audits.check("A")
    assert only_a.ok
    assert only_a.products == 1
    assert 0 < only_a.events_checked < report.events_checked


def test_a_price_report_whose_fanned_out_ids_are_too_long_reaches_no_product(store_url):
    service = two_products(store_url)
    long_id = "BTC-LONG"
    launch = cmd.LaunchProduct(long_id, (Component("BTC", WAD // 100),), default_params())
    service.commands.execute(long_id, launch, "launch-long")
    products = ("A", "B", long_id)
    before = {p: service.node.load(p).version for p in products}
    request_id = "x" * 250  # fits with "#A", not with "#BTC-LONG" (the node stores 256 at most)
    with pytest.raises(InvalidArgument):
        service.prices.report_price("BTC", 61_000 * WAD, T0, "r2", request_id)
    assert {p: service.node.load(p).version for p in products} == before
