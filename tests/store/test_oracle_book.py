"""Prices are facts about assets (SPEC §2, Oracle): every round is recorded once in the
store's oracle book, whether or not a product holds its symbols; products take what they
hold; a reconstitution is priced from the book. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from adapters.audit.report import audit
from adapters.bootstrap import bootstrap
from adapters.clock import SimulatedClock
from adapters.service.commits import ProductResult
from adapters.service.use_cases import Service
from adapters.store.contract import Outcome, RequestIdReused
from adapters.store.node import Node
from adapters.store.records import OracleRoundRecorded, StoredProductEvent
from domain import commands as cmd
from domain import events as ev
from domain.errors import InvalidPriceReport, OracleStale, PriceUnavailable
from domain.fixedpoint import WAD
from domain.model import Component, Status
from domain.params import default_params
from tests.support import USDC

T0 = 1_700_000_000
BTC_ETH = (Component("BTC", WAD // 100), Component("ETH", WAD // 10))


def by_product(results: list[ProductResult]) -> dict[str, Outcome]:
    """Each product's outcome of a round that none of them rejected."""
    assert all(r.outcome is not None for r in results), results
    return {r.product_id: r.outcome for r in results if r.outcome is not None}


@pytest.fixture
def launched(store_url: str) -> Iterator[Callable[[str], Service]]:
    opened: list[Service] = []

    def launch(url: str) -> Service:
        service = bootstrap(url, SimulatedClock(T0))
        opened.append(service)
        service.commands.execute("P", cmd.LaunchProduct("P", BTC_ETH, default_params()), "launch-P")
        service.prices.report_price("BTC", 60_000 * WAD, T0, "r1", "btc-0")
        service.prices.report_price("ETH", 3_000 * WAD, T0, "r1", "eth-0")
        service.commands.execute("P", cmd.Mint("alice", 10_000 * USDC, 0), "mint-1")
        return service

    yield launch
    for service in opened:
        service.close()


def test_regression_a_report_of_a_symbol_no_product_holds_is_recorded_once(store_url, launched):
    """Today: INVALID_ARGUMENT "no product holds 'SOL'", so an oracle cannot publish before
    a product launches. Now the report is recorded once, in the store's order, and another
    node sees it."""
    service = launched(store_url)
    assert by_product(service.prices.report_price("SOL", 120 * WAD, T0, "r1", "sol-1")) == {}
    other = Node.open(store_url)
    try:
        [report] = other.oracle_book()["SOL"].values()
        assert (report.reporter_id, report.price_wad, report.observed_at) == ("r1", 120 * WAD, T0)
    finally:
        other.close()
    assert audit(service.node).ok


def test_a_round_is_recorded_once_before_the_products_events_and_replays_per_product(store_url, launched):
    service = launched(store_url)
    prices = (("BTC", 61_000 * WAD), ("SOL", 120 * WAD))
    first = by_product(service.prices.report_prices("r2", T0, prices, "round-1"))
    assert set(first) == {"P"}
    again = by_product(service.prices.report_prices("r2", T0, prices, "round-1"))
    assert all(o.replayed for o in again.values())
    assert {p: o.events for p, o in again.items()} == {p: o.events for p, o in first.items()}
    rows = [
        service.node.mapper.to_domain_event(n) for n in service.node.recorder.select_notifications(1, 1000)
    ]
    rounds = [
        i for i, r in enumerate(rows) if isinstance(r, OracleRoundRecorded) and r.request_id == "round-1"
    ]
    events = [
        i for i, r in enumerate(rows) if isinstance(r, StoredProductEvent) and r.request_id == "round-1#P"
    ]
    assert len(rounds) == 1
    assert events
    assert rounds[0] < min(events)
    with pytest.raises(RequestIdReused):
        service.prices.report_prices("r2", T0, (("BTC", 62_000 * WAD),), "round-1")


def test_a_malformed_round_writes_nothing(store_url, launched):
    service = launched(store_url)
    before = service.node.recorder.max_notification_id()
    for prices in [(("BTC", WAD), ("BTC", WAD)), (("SOL", 0),), ()]:
        with pytest.raises(InvalidPriceReport):
            service.prices.report_prices("r1", T0, prices, f"bad-{len(prices)}")
    with pytest.raises(InvalidPriceReport, match="in the future"):
        service.prices.report_prices("r1", T0 + 60, (("SOL", WAD),), "future")
    assert service.node.recorder.max_notification_id() == before


def test_a_cross_move_in_one_round_trips_nothing_and_one_symbol_at_a_time_dismisses_itself(
    store_url, launched
):
    service = launched(store_url)
    outcome = by_product(
        service.prices.report_prices("r1", T0, (("BTC", 90_000 * WAD), ("ETH", 0 + 0 + 1_000 * WAD)), "x")
    )["P"]
    assert not [e for e in outcome.events if isinstance(e, ev.CircuitBreakerTripped)]
    assert service.node.load("P").state.index_price_wad == 1000 * WAD  # 900 + 100: +11 %
    service.prices.report_price("BTC", 115_000 * WAD, T0, "r1", "btc-up")  # 1 250, +25 % alone: trips
    assert service.node.load("P").state.status is Status.HALTED
    service.prices.report_price("ETH", 100 * WAD, T0, "r1", "eth-down")  # the index is back: 1 160
    state = service.node.load("P").state
    assert state.status is Status.ACTIVE
    assert audit(service.node).ok


def test_a_reconstitution_is_priced_from_the_oracle_book_and_a_retry_is_the_same_request(store_url, launched):
    service = launched(store_url)
    new_index = (*BTC_ETH, Component("SOL", WAD))
    with pytest.raises(PriceUnavailable, match="SOL has no oracle report"):
        service.commands.execute("P", cmd.ReconstituteIndex(new_index, (("SOL", 150 * WAD),)), "recon-0")
    service.prices.report_price("SOL", 120 * WAD, T0, "r1", "sol-1")
    first = service.commands.execute("P", cmd.ReconstituteIndex(new_index, (("SOL", 150 * WAD),)), "recon-1")
    [event] = [e for e in first.events if isinstance(e, ev.IndexReconstituted)]
    assert dict(event.component_prices)["SOL"] == 120 * WAD  # the oracle's, not the typed 150
    service.prices.report_price("SOL", 121 * WAD, T0, "r1", "sol-2")
    again = service.commands.execute("P", cmd.ReconstituteIndex(new_index, (("SOL", 150 * WAD),)), "recon-1")
    assert again.replayed
    assert again.events == first.events
    # Reports of every component are accepted at once afterwards.
    assert service.node.load("P").state.component_prices[-1] == ("SOL", 121 * WAD)
    assert audit(service.node).ok


def test_a_reconstitution_on_a_stale_oracle_report_is_refused(store_url, launched):
    service = launched(store_url)
    service.prices.report_price("SOL", 120 * WAD, T0, "r1", "sol-1")
    assert isinstance(service.clock, SimulatedClock)
    service.clock.advance_to(T0 + 3_000)
    service.prices.report_prices("r1", T0 + 3_000, (("BTC", 60_000 * WAD), ("ETH", 3_000 * WAD)), "round-1")
    service.clock.advance_to(T0 + 3_700)
    with pytest.raises(OracleStale, match="SOL has no fresh oracle report"):
        service.commands.execute("P", cmd.ReconstituteIndex((*BTC_ETH, Component("SOL", WAD))), "recon")
