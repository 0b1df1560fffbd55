"""Index reconstitution (SPEC §2): an admin replaces the index's components, scaled so that
the index price does not jump; the oracle then prices the new index as usual."""

from __future__ import annotations

import math
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import commands as cmd
from domain import events as ev
from domain.errors import (
    InvalidArgument,
    InvalidComponents,
    InvalidPriceReport,
    OracleStale,
    PriceUnavailable,
    ProductHalted,
    ProductSettled,
)
from domain.fixedpoint import WAD
from domain.model import Component, Report
from domain.params import default_params
from tests.support import DEFAULT_COMPONENTS, USDC, Scenario, minted

BTC_SOL = (Component("BTC", WAD), Component("SOL", WAD))
SOL_PRICE = 150 * WAD


def oracle_of(*prices: tuple[str, int], at: int = Scenario().now, reporter: str = "r1"):
    """What the node hands a reconstitution from its oracle book: each symbol's reports."""
    return tuple((symbol, (Report(reporter, price, at),)) for symbol, price in prices)


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def index_price(components, prices) -> int:
    """Σ quantity × price, rounded up, as the domain prices the index."""
    return math.ceil(Fraction(sum(c.quantity_wad * prices[c.symbol] for c in components), WAD))


def reconstituted() -> Scenario:
    scenario = minted()
    scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE))))
    return scenario


# Continuity -----------------------------------------------------------------------------------


def test_reconstitution_never_raises_the_index_price_and_lowers_it_only_by_rounding():
    scenario = minted()
    before = scenario.product.index_price_wad
    [event] = of(
        ev.IndexReconstituted,
        scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE)))),
    )
    after = scenario.product.index_price_wad
    assert (event.index_price_before_wad, event.index_price_after_wad) == (before, after)
    # Each quantity rounds down by less than one wei, worth less than price / WAD of the index.
    assert before - after >= 0
    assert (before - after) * WAD < 60_000 * WAD + SOL_PRICE
    assert scenario.audit().ok


def test_the_new_quantities_keep_the_proportions_asked_for():
    scenario = reconstituted()
    quantities = {c.symbol: c.quantity_wad for c in scenario.product.components}
    # Asked 1 BTC : 1 SOL, scaled so 60 000 q + 150 q = 900, q = 900 / 60 150 (rounded down).
    q = math.floor(Fraction(900 * WAD, 60_150))
    assert quantities == {"BTC": q, "SOL": q}
    assert scenario.product.index_price_wad == index_price(
        scenario.product.components, {"BTC": 60_000 * WAD, "SOL": SOL_PRICE}
    )


COMPONENT_SETS = st.lists(
    st.tuples(
        st.sampled_from(["BTC", "ETH", "SOL", "AVAX", "LINK"]),
        st.integers(min_value=1, max_value=10**20),  # quantity (WAD)
        st.integers(min_value=10**15, max_value=10**24),  # price of a new symbol (WAD)
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda c: c[0],
)


@given(COMPONENT_SETS)
def test_for_any_new_index_the_price_does_not_rise_and_drops_by_less_than_the_sum_of_prices_over_wad(
    new,
):
    scenario = minted()
    current = dict(scenario.product.component_prices)
    before = scenario.product.index_price_wad
    components = tuple(Component(symbol, quantity) for symbol, quantity, _ in new)
    new_prices = tuple((symbol, price) for symbol, _, price in new if symbol not in current)
    prices = {**current, **dict(new_prices)}
    raw = sum(c.quantity_wad * prices[c.symbol] for c in components)
    scaled = [math.floor(Fraction(c.quantity_wad * before * WAD, raw)) for c in components]
    command = cmd.ReconstituteIndex(components, oracle_reports=oracle_of(*new_prices))
    if min(scaled) == 0:  # a component too small to survive the scaling
        with pytest.raises(InvalidArgument, match="rounds to zero"):
            scenario.run(command)
        return
    scenario.run(command)
    assert [c.quantity_wad for c in scenario.product.components] == scaled
    gap = before - scenario.product.index_price_wad
    assert gap >= 0
    assert gap * WAD < sum(prices[c.symbol] for c in components)
    assert scenario.audit().ok


# Prices of the new index ------------------------------------------------------------------------


def test_reconstitution_without_an_oracle_report_of_a_new_symbol_is_refused_and_writes_nothing():
    scenario = minted()
    before = scenario.product
    with pytest.raises(PriceUnavailable, match="SOL has no oracle report"):
        scenario.run(cmd.ReconstituteIndex(BTC_SOL))
    # A report of another symbol does not price SOL, and a typed price is no substitute.
    with pytest.raises(PriceUnavailable, match="SOL has no oracle report"):
        scenario.run(cmd.ReconstituteIndex(BTC_SOL, (("SOL", SOL_PRICE),), oracle_of(("DOGE", WAD))))
    assert scenario.product == before


def test_reconstitution_on_a_stale_oracle_report_of_a_new_symbol_is_refused():
    scenario = minted()
    stale_at = scenario.now - default_params().max_oracle_age_s - 1
    with pytest.raises(OracleStale, match="SOL has no fresh oracle report"):
        scenario.run(
            cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE), at=stale_at))
        )


def test_reconstitution_needs_the_quorum_of_oracle_reports_and_takes_their_median():
    scenario = minted()
    scenario.run(cmd.UpdateParameters(attrs.evolve(default_params(), oracle_quorum=2)))
    one = oracle_of(("SOL", SOL_PRICE))
    with pytest.raises(OracleStale, match="SOL has no fresh oracle report"):
        scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=one))
    two = (("SOL", (Report("r1", 140 * WAD, scenario.now), Report("r2", 160 * WAD, scenario.now))),)
    scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=two))
    assert dict(scenario.product.component_prices)["SOL"] == 150 * WAD  # the median of two: their mean


def test_a_typed_price_for_a_new_symbol_is_ignored():
    scenario = minted()
    scenario.run(cmd.ReconstituteIndex(BTC_SOL, (("SOL", 999 * WAD),), oracle_of(("SOL", SOL_PRICE))))
    assert dict(scenario.product.component_prices)["SOL"] == SOL_PRICE


def test_reconstitution_rejects_a_component_whose_scaled_quantity_rounds_to_zero():
    # 1 wei of BTC beside 100 SOL: scaled to an index price of 900 it is 900 / 15 000 of a wei.
    components = (Component("BTC", 1), Component("SOL", 100 * WAD))
    with pytest.raises(InvalidArgument, match="rounds to zero"):
        minted().run(cmd.ReconstituteIndex(components, oracle_reports=oracle_of(("SOL", SOL_PRICE))))


def test_reconstitution_keeps_the_accepted_price_of_existing_symbols():
    scenario = minted()
    btc = dict(scenario.product.component_prices)["BTC"]
    scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE))))
    assert dict(scenario.product.component_prices) == {"BTC": btc, "SOL": SOL_PRICE}


def test_reconstitution_drops_the_reports_of_removed_symbols_keeps_the_others_and_adds_the_oracles():
    scenario = minted()
    btc_reports = scenario.product.reports["BTC"]
    scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE))))
    assert set(scenario.product.reports) == {"BTC", "SOL"}
    assert scenario.product.reports["BTC"] == btc_reports
    assert scenario.product.reports["SOL"] == {"r1": Report("r1", SOL_PRICE, scenario.now)}


def test_a_report_for_a_removed_symbol_is_rejected_after_reconstitution():
    scenario = reconstituted()
    with pytest.raises(InvalidPriceReport, match="not a component"):
        scenario.run(cmd.ReportPrice("ETH", 3_000 * WAD, scenario.now, "r1"))


# Rejections ---------------------------------------------------------------------------------------


def test_reconstitution_is_rejected_while_halted():
    scenario = minted()
    scenario.run(cmd.ReportPrice("BTC", 90_000 * WAD, scenario.now, "r1"))
    with pytest.raises(ProductHalted, match="circuit breaker"):
        scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE))))


def test_reconstitution_is_rejected_on_a_stale_price():
    scenario = minted()
    scenario.advance(default_params().max_oracle_age_s + 1)
    with pytest.raises(OracleStale, match="max_oracle_age_s"):
        scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE))))


def test_reconstitution_is_rejected_before_any_price():
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("IIT-1", DEFAULT_COMPONENTS, default_params()))
    with pytest.raises(PriceUnavailable, match="no accepted price"):
        scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE))))


def test_reconstitution_is_rejected_once_settled():
    scenario = minted()
    scenario.run(cmd.SettleProduct())
    with pytest.raises(ProductSettled, match="settled"):
        scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle_of(("SOL", SOL_PRICE))))


@pytest.mark.parametrize(
    ("components", "message"),
    [
        ((), "at least one component"),
        ((Component("BTC", WAD), Component("BTC", WAD)), "appears twice"),
        ((Component("BTC", 0),), "must be positive"),
        ((Component("BTC", WAD), Component("SOL", -WAD)), "must be positive"),
    ],
)
def test_reconstitution_is_rejected_with_invalid_components(components, message):
    scenario = minted()
    before = scenario.product
    with pytest.raises(InvalidComponents, match=message):
        scenario.run(cmd.ReconstituteIndex(components, oracle_reports=oracle_of(("SOL", SOL_PRICE))))
    assert scenario.product == before


# The oracle after reconstitution ------------------------------------------------------------------


def test_after_reconstitution_a_report_of_any_component_is_accepted_at_once():
    scenario = reconstituted()
    components = scenario.product.components
    scenario.advance(60)
    events = scenario.run(cmd.ReportPrice("BTC", 61_000 * WAD, scenario.now, "r1"))
    [accepted] = of(ev.PriceAccepted, events)  # SOL is priced by the oracle's report already
    assert accepted.index_price_wad == index_price(components, {"BTC": 61_000 * WAD, "SOL": SOL_PRICE})


def test_after_reconstitution_a_quorum_of_reports_moves_the_price_of_the_new_index():
    scenario = reconstituted()
    components = scenario.product.components
    scenario.advance(60)
    scenario.report_all({"BTC": 61_000 * WAD, "SOL": 160 * WAD})
    expected = index_price(components, {"BTC": 61_000 * WAD, "SOL": 160 * WAD})
    assert scenario.product.index_price_wad == expected
    assert dict(scenario.product.component_prices) == {"BTC": 61_000 * WAD, "SOL": 160 * WAD}
    assert scenario.audit().ok


def test_after_reconstitution_minting_and_redeeming_work_at_the_new_index():
    scenario = reconstituted()
    scenario.run(cmd.Mint("bob", 100 * USDC, 0))
    scenario.run(cmd.Redeem("alice", scenario.product.balance_of("alice"), 0))
    assert scenario.product.balance_of("bob") > 0
    assert scenario.audit().ok
