"""Laws of rebalancing and of the admin's decisions that mutation testing (``make mutate``)
found no test watching: each test fails against a mutant of domain.rebalancing,
domain.decide_admin, domain.draft, domain.decide or domain.evolve that every other test let
through (named in a comment above it). They drive the public decisions and functions."""

from __future__ import annotations

import math
from fractions import Fraction

import attrs
import pytest

from domain import commands as cmd
from domain import events as ev
from domain.accrual import FUNDING_DENOMINATOR
from domain.decide import decide_and_apply
from domain.draft import Draft
from domain.errors import InvalidArgument, PriceUnavailable
from domain.evolve import evolve_all
from domain.fixedpoint import BPS, WAD, value_up
from domain.model import (
    LENDER,
    MARKET,
    TREASURY_HOLDER,
    VAULT,
    Component,
    ProductState,
    RebalanceReason,
    Report,
)
from domain.params import default_params
from domain.rebalancing import (
    BAND_MARGIN_WAD,
    is_a_trade,
    next_keeper_due,
    quote_rebalance_for,
    rebalance,
    rebalance_goal_wad,
    rebalance_reason,
    ripcord_can_restore,
)
from domain.valuation import current_leverage_wad, debt_value
from domain.vault_math import RebalanceQuote
from tests.support import DEFAULT_COMPONENTS, DEFAULT_PRICES, USDC, Scenario, launched, minted

DAY = 86_400
HOUR = 3_600


def only(kind, events):
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, events
    return found[0]


def _magnitude(state: ProductState) -> int:
    leverage = current_leverage_wad(state)
    assert leverage is not None
    return -leverage


# --- rebalancing ------------------------------------------------------------------------


# domain.rebalancing.ripcord_can_restore: `quote_rebalance_for(state, RebalanceReason.RIPCORD)`
# → `quote_rebalance_for(state, None)` (a trade capped by max_trade_notional, aiming at the
# band's goal) survived: no test asked about a product whose trades are capped.
def test_the_ripcord_restores_a_vault_whatever_the_cap_on_trades():
    state = minted(1_000 * USDC).product
    params = attrs.evolve(state.params, max_trade_notional=USDC)  # chunks of one dollar
    state = attrs.evolve(state, params=params, index_price_wad=1_100 * WAD)  # +22 %
    assert _magnitude(state) > params.ripcord_leverage_wad
    assert ripcord_can_restore(state)
    draft = Draft(state)
    rebalance(draft, state.accrued_at, RebalanceReason.RIPCORD)
    trade = only(ev.Rebalanced, draft.events)
    assert not trade.capped
    assert trade.notional > params.max_trade_notional
    assert _magnitude(draft.state) <= params.ripcord_leverage_wad
    # A band trade of the same product is a TWAP chunk of max_trade_notional.
    within = attrs.evolve(state, index_price_wad=1_040 * WAD)  # +15 %: past the band only
    assert rebalance_reason(within, state.accrued_at) is RebalanceReason.BAND
    draft = Draft(within)
    rebalance(draft, state.accrued_at, RebalanceReason.BAND)
    chunk = only(ev.Rebalanced, draft.events)
    assert chunk.capped
    assert chunk.notional <= params.max_trade_notional


# domain.rebalancing._continuation_trades: `RebalanceReason.CONTINUATION` → None (the
# continuation's goal becomes a freshly recentered one instead of the TWAP's own goal)
# survived. A TWAP whose goal the price has reached on its own has nothing left to trade:
# it is over, and inside the band with the schedule not due nothing is due.
def test_a_twap_whose_goal_the_price_reached_is_over():
    state = minted(1_000 * USDC).product
    state = attrs.evolve(state, index_price_wad=950 * WAD)  # inside the band, off target
    magnitude = _magnitude(state)
    params = state.params
    assert params.band_low_wad <= magnitude <= params.band_high_wad
    assert magnitude != params.target_magnitude_wad
    now = state.accrued_at
    pending = attrs.evolve(state, rebalance_pending=True, rebalance_goal_wad=magnitude, last_rebalance_at=now)
    assert now >= pending.last_rebalance_at + params.twap_cooldown_s < pending.next_rebalance_at
    assert rebalance_reason(pending, now) is None


# --- decide_admin -----------------------------------------------------------------------


# domain.decide_admin._moved_schedule: `if not moved or params.rebalance_time_of_day_s is
# None` → `and` survived. Only pinning the schedule, or changing a pinned one's interval,
# moves the next scheduled rebalance: an unpinned product's new interval applies after the
# moment already scheduled, and an unrelated change never skips a reset that is overdue.
def test_a_new_interval_of_an_unpinned_schedule_keeps_its_next_moment():
    scenario = minted(1_000 * USDC)
    scheduled = scenario.product.next_rebalance_at
    events = scenario.run(cmd.UpdateParameters((("rebalance_interval_s", 2 * DAY),)), now=scenario.now + HOUR)
    assert only(ev.ParametersUpdated, events).next_rebalance_at is None
    assert scenario.product.next_rebalance_at == scheduled


def test_a_fee_change_does_not_skip_an_overdue_reset_of_a_pinned_schedule():
    pinned = attrs.evolve(default_params(), rebalance_time_of_day_s=120)  # 00:02 UTC
    scenario = minted(1_000 * USDC, params=pinned)
    scheduled = scenario.product.next_rebalance_at
    scenario.now = scheduled + 2 * HOUR  # the price was stale at the reset: it is overdue
    scenario.report_all({symbol: price * 105 // 100 for symbol, price in DEFAULT_PRICES.items()})
    events = scenario.run(cmd.UpdateParameters((("mint_fee_bps", 20),)))
    assert only(ev.ParametersUpdated, events).next_rebalance_at is None
    assert scenario.product.next_rebalance_at == scheduled
    late = only(ev.Rebalanced, scenario.run(cmd.Tick()))
    assert late.reason is RebalanceReason.SCHEDULE


# --- rebalancing: reasons at their edges -------------------------------------------------


def _at_leverage(debt: int, equity: int, **changes: object) -> ProductState:
    """A minted product whose vault owes ``debt`` and holds ``equity`` (whole dollars) at an
    index price of 1.0, so that |leverage| is exactly debt / equity."""
    state = minted(1_000 * USDC).product
    vault = attrs.evolve(state.vault, cash=(debt + equity) * USDC, debt_units_wad=debt * WAD)
    return attrs.evolve(state, vault=vault, index_price_wad=WAD, **changes)


# domain.rebalancing.rebalance_reason: `magnitude >= ripcord` → `>`, and the band's
# `band_low <= magnitude <= band_high` → `<` on either side, survived: no test put a vault
# exactly on an edge. The ripcord fires at its leverage; the band's edges are inside it.
def test_the_ripcord_fires_at_its_leverage_and_the_band_includes_its_edges():
    now = minted().now  # before the first scheduled moment
    params = default_params()  # target 1, band [0.8, 1.2], ripcord 1.5
    assert rebalance_reason(_at_leverage(1_500, 1_000), now) is RebalanceReason.RIPCORD
    assert rebalance_reason(_at_leverage(1_499, 1_000), now) is RebalanceReason.BAND
    for debt in (800, 1_200):  # exactly band_low and band_high
        assert -current_leverage_wad(_at_leverage(debt, 1_000)) in (params.band_low_wad, params.band_high_wad)
        assert rebalance_reason(_at_leverage(debt, 1_000), now) is None
    assert rebalance_reason(_at_leverage(799, 1_000), now) is RebalanceReason.BAND
    assert rebalance_reason(_at_leverage(1_201, 1_000), now) is RebalanceReason.BAND


# domain.rebalancing.rebalance_reason: `now >= continuation_due_at(state)` → `>`, and
# domain.rebalancing.continuation_due_at: `last_rebalance_at + twap_cooldown_s` → `-`,
# survived. A TWAP's next chunk is due exactly twap_cooldown_s after the last, not before.
def test_a_twap_chunk_is_due_exactly_a_cooldown_after_the_last():
    last = minted().now
    params = attrs.evolve(default_params(), twap_cooldown_s=600)
    state = _at_leverage(1_100, 1_000, params=params, rebalance_pending=True, last_rebalance_at=last)
    assert rebalance_reason(state, last + 599) is None
    assert rebalance_reason(state, last + 600) is RebalanceReason.CONTINUATION


# domain.rebalancing.schedule_due: `now < next_at` → `<=`, and `price_observed_at <= moment`
# → `<`, survived. A scheduled reset is due at its very moment, on a price observed at that
# moment (even when the price before it was fresh then too).
def test_a_reset_is_due_at_its_moment_on_the_price_observed_then():
    moment = minted().product.next_rebalance_at
    state = _at_leverage(1_100, 1_000, price_observed_at=moment, previous_price_observed_at=moment - 60)
    assert rebalance_reason(state, moment - 1) is None
    assert rebalance_reason(state, moment) is RebalanceReason.SCHEDULE
    # A newer price than the moment's, the one before it fresh at the moment: not run late.
    newer = attrs.evolve(state, price_observed_at=moment + 1)
    assert rebalance_reason(newer, moment + 1) is None
    # Two intervals on, not run since: the latest moment is the one that counts.
    latest = moment + 2 * DAY
    state = attrs.evolve(state, price_observed_at=latest, previous_price_observed_at=latest - 60)
    assert rebalance_reason(state, latest + 5) is RebalanceReason.SCHEDULE


# --- rebalancing: the schedule ----------------------------------------------------------


# domain.rebalancing.next_schedule_after: `now < next_at` → `<=`, `+ 1` → `+ 2`/`- 1` and
# the like survived where the keeper asks for its next moment: the next scheduled moment is
# the first one on the schedule's grid strictly after the time asked about.
@pytest.mark.parametrize("offset", [-1, 0, 1, 86_399, 86_400, 86_401, 5 * 86_400 + 7])
def test_the_keeper_is_next_due_at_the_first_scheduled_moment_strictly_after(offset):
    state = minted().product
    first, interval = state.next_rebalance_at, state.params.rebalance_interval_s
    after = first + offset
    due = next_keeper_due(state, after)
    assert isinstance(due, int)
    assert after < due <= after + interval
    assert (due - first) % interval == 0


# domain.rebalancing.rebalance: `next_schedule_after(next_at, now + interval // 2, interval)`
# → `now - interval // 2`, `interval // 3` or `interval / 2` survived. A reset run late
# serves the scheduled moments within half an interval after it (no second reset soon
# after), not those further; the next moment is a whole Unix second.
@pytest.mark.parametrize(("late", "skips"), [(0, False), (43_199, False), (43_200, True), (52_000, True)])
def test_a_late_reset_serves_the_moments_within_half_an_interval_after_it(late, skips):
    moment = minted().product.next_rebalance_at
    state = _at_leverage(1_100, 1_000, next_rebalance_at=moment)
    draft = Draft(state)
    rebalance(draft, moment + late, RebalanceReason.SCHEDULE)
    scheduled = only(ev.Rebalanced, draft.events).next_rebalance_at
    assert type(scheduled) is int
    assert scheduled == moment + (2 if skips else 1) * 86_400


# --- rebalancing: the goal --------------------------------------------------------------


# domain.rebalancing.rebalance_goal_wad: the clamp of a recentered goal into the band
# (`min(band_low + BAND_MARGIN_WAD, target)`, `max(band_high - BAND_MARGIN_WAD, target)`,
# `min(max(recentered, low), high)`) survived with min/max swapped, the margin's sign
# flipped, the `or` of a continuation's goal turned into `and`, and `leverage is None or`
# inverted: no test recentered slowly. A band or scheduled rebalance goes
# recentering_speed of the way back, but never stops outside the band (a margin inside);
# a continuation keeps its own goal.
@pytest.mark.parametrize(
    ("debt", "speed_pct", "goal"),
    [
        (500, 10, default_params().band_low_wad + BAND_MARGIN_WAD),  # 0.5 → 0.55, into the band
        (1_400, 10, default_params().band_high_wad - BAND_MARGIN_WAD),  # 1.4 → 1.36, into the band
        (700, 50, 85 * WAD // 100),  # 0.7 → 0.85, inside the band already
        (1_400, 50, 12 * WAD // 10 - BAND_MARGIN_WAD),  # 1.4 → 1.2, on the edge: a margin in
        (1_100, 50, 105 * WAD // 100),  # a scheduled reset inside the band: half way too
    ],
)
def test_a_slow_recentering_goes_part_of_the_way_and_never_stops_outside_the_band(debt, speed_pct, goal):
    params = attrs.evolve(default_params(), recentering_speed_wad=speed_pct * WAD // 100)
    state = _at_leverage(debt, 1_000, params=params)
    for reason in (RebalanceReason.BAND, RebalanceReason.SCHEDULE):
        assert rebalance_goal_wad(state, reason) == goal
    assert rebalance_goal_wad(state, RebalanceReason.RIPCORD) == WAD
    twap = attrs.evolve(state, rebalance_goal_wad=9 * WAD // 10)
    assert rebalance_goal_wad(twap, RebalanceReason.CONTINUATION) == 9 * WAD // 10
    assert rebalance_goal_wad(attrs.evolve(state, rebalance_goal_wad=0), RebalanceReason.CONTINUATION) == WAD
    draft = Draft(state)
    rebalance(draft, state.accrued_at, RebalanceReason.BAND)
    assert only(ev.Rebalanced, draft.events).goal_leverage_wad == -goal


# domain.rebalancing.rebalance_goal_wad: `leverage is None or speed >= WAD` → `and` survived.
# A vault with no equity left has no leverage to recenter from: a rebalance aims at the target.
def test_a_vault_without_equity_aims_at_the_target():
    params = attrs.evolve(default_params(), recentering_speed_wad=WAD // 2)
    for speed_params in (default_params(), params):
        wiped = _at_leverage(1_000, 0, params=speed_params)
        assert current_leverage_wad(wiped) is None
        assert rebalance_goal_wad(wiped, RebalanceReason.BAND) == WAD


# --- rebalancing: dust vaults and what a trade records -----------------------------------

ODD_PRICE = 128_571_428_571_428_571_441  # an index price whose values round at every step


def _dust(decimals: int, cost_bps: int, price_wad: int, debt_units_wad: int, equity: int) -> ProductState:
    """A minted product whose vault owes ``debt_units_wad`` and holds ``equity`` base units."""
    state = minted().product
    params = attrs.evolve(state.params, collateral_decimals=decimals, execution_cost_bps=cost_bps)
    debt = value_up(debt_units_wad, price_wad, decimals)
    vault = attrs.evolve(state.vault, cash=debt + equity, debt_units_wad=debt_units_wad)
    return attrs.evolve(state, params=params, vault=vault, index_price_wad=price_wad)


def _rebalanced(state: ProductState, reason: RebalanceReason) -> tuple[list[ev.Event], ProductState]:
    draft = Draft(state)
    rebalance(draft, state.accrued_at, reason)
    return draft.events, draft.state


# domain.rebalancing.quote_rebalance_for: `overshoots and reason is not RIPCORD` → `reason is
# RIPCORD`, `equity_after <= 0` → `< 0`, and `leverage < -ripcord` → `<=`, survived: no test
# rebalanced a dust vault for the band. A band or scheduled trade never leaves the vault
# past the ripcord nor without equity (it is not made then); one that lands exactly on the
# ripcord's leverage is made.
@pytest.mark.parametrize(
    ("vault", "made"),
    [
        ((0, 0, ODD_PRICE, 10**12, 2), False),  # its rounding would overshoot past the ripcord
        ((0, 10, ODD_PRICE, 10**16, 1), False),  # it would leave no equity
        ((0, 0, ODD_PRICE, 10**12, 3), True),  # it lands exactly on the ripcord's leverage
    ],
)
def test_a_band_trade_never_leaves_a_dust_vault_past_the_ripcord_or_without_equity(vault, made):
    state = _dust(*vault)
    for reason in (RebalanceReason.BAND, RebalanceReason.SCHEDULE):
        events, after = _rebalanced(state, reason)
        assert bool(events) == made
        assert (quote_rebalance_for(state, reason) is not None) == made
        if made:
            assert -current_leverage_wad(after) == state.params.ripcord_leverage_wad


# domain.rebalancing.rebalance: the ripcord's dust rule `0 if reason is RIPCORD else
# execution_cost_bps` → `1 if …`, `… and False`, and domain.rebalancing.quote_rebalance_for:
# `equity_after <= 0` → `<= 1`, survived. The ripcord trades even dust whose cost rounds up
# to more than it fixes, and a trade that leaves a single base unit of equity restores too.
@pytest.mark.parametrize(
    "vault",
    [
        (0, 10, 900 * WAD, 7 * 10**15, 3),  # a buy-back of 4 base units: its cost rounds up to 1
        (0, 10, ODD_PRICE, 7 * 10**19, 10),  # it leaves 1 base unit of equity, at target
    ],
)
def test_the_ripcord_restores_a_dust_vault_whenever_its_trade_can(vault):
    state = _dust(*vault)
    ripcord = state.params.ripcord_leverage_wad
    assert -current_leverage_wad(state) > ripcord
    assert ripcord_can_restore(state)
    events, after = _rebalanced(state, RebalanceReason.RIPCORD)
    only(ev.Rebalanced, events)
    assert -current_leverage_wad(after) <= ripcord


# domain.rebalancing.is_a_trade: `units_wad == 0` → `== 1`, `notional * cost_bps >= BPS` →
# `>` or `/`, survived. A quote of no units is never a trade; any unit is one when the trade
# costs nothing; with a cost, a trade is made once its exact cost reaches one base unit.
def test_a_quote_is_a_trade_once_it_moves_a_unit_and_its_cost_reaches_a_base_unit():
    def quote(units: int, notional: int) -> RebalanceQuote:
        return RebalanceQuote("sell", units, notional, 0, False, 0, 0)

    assert not is_a_trade(None, 0)
    assert not is_a_trade(quote(0, 0), 0)
    assert not is_a_trade(quote(0, 5_000), 10)
    assert is_a_trade(quote(1, 0), 0)
    assert is_a_trade(quote(1, 1_000), 10)  # costs exactly 1 base unit
    assert not is_a_trade(quote(1, 999), 10)
    assert is_a_trade(quote(1, 1), BPS)


# domain.rebalancing.rebalance: the movements of a trade (`quote.side == "sell"` → `!=`,
# `movements += (cost,)` → `=` or `-=`, an account or amount dropped) survived. A rebalance
# trades with the market: a sale brings its proceeds into the vault, a purchase pays the
# market, the cost goes to the market; together they are the vault's change of cash.
@pytest.mark.parametrize(("debt", "side"), [(600, "sell"), (1_400, "buy")])
def test_a_rebalance_records_its_trade_and_cost_as_movements_with_the_market(debt, side):
    state = _at_leverage(debt, 1_000)
    events, after = _rebalanced(state, RebalanceReason.BAND)
    trade = only(ev.Rebalanced, events)
    assert trade.side == side
    assert trade.execution_cost > 0
    flow = (MARKET, VAULT) if side == "sell" else (VAULT, MARKET)
    assert (trade.movements[0].source, trade.movements[0].destination) == flow
    assert trade.movements[0].amount == trade.notional
    assert (trade.movements[1].source, trade.movements[1].destination) == (VAULT, MARKET)
    assert trade.movements[1].amount == trade.execution_cost
    assert (trade.at, trade.price_wad) == (state.accrued_at, state.index_price_wad)
    assert abs(trade.debt_units_after_wad - state.vault.debt_units_wad) == trade.units_wad > 0
    assert trade.leverage_before_wad == current_leverage_wad(state)
    assert trade.leverage_after_wad == current_leverage_wad(after)
    net = sum(m.amount if m.destination == VAULT else -m.amount for m in trade.movements)
    assert after.vault.cash - state.vault.cash == net == trade.cash_after - state.vault.cash


# domain.rebalancing.rebalance: the dust rule `0 if reason is RIPCORD else execution_cost_bps`
# → `0 if … or True` survived. After a mint leverage is off target by a base unit's
# rounding: a scheduled reset does not trade that dust (its cost, a whole base unit, would
# exceed what it fixes) and records nothing.
def test_a_reset_does_not_trade_the_dust_a_mint_leaves_off_target():
    state = minted(1_000 * USDC).product
    assert _magnitude(state) != WAD
    quote = quote_rebalance_for(state, RebalanceReason.SCHEDULE)
    assert quote is not None
    assert quote.units_wad > 0
    assert quote.notional * state.params.execution_cost_bps < BPS
    events, _ = _rebalanced(state, RebalanceReason.SCHEDULE)
    assert events == []


# --- decide_admin: reconstitution ---------------------------------------------------------

BTC_SOL = (Component("BTC", WAD), Component("SOL", WAD))
SOL_PRICE = 150 * WAD


def _oracle(*reports: tuple[str, int, int]) -> tuple[tuple[str, tuple[Report, ...]], ...]:
    """The node's oracle book for a reconstitution: (symbol, price, observed_at) per symbol."""
    return tuple((symbol, (Report("r1", price, at),)) for symbol, price, at in reports)


def _reconstitute(scenario: Scenario, components, *reports: tuple[str, int, int]) -> ev.IndexReconstituted:
    events = scenario.run(cmd.ReconstituteIndex(components, oracle_reports=_oracle(*reports)))
    return only(ev.IndexReconstituted, events)


# domain.decide_admin._new_symbol_prices: `price_wad <= 0 or observed_at > now` → `and`,
# `price_wad < 0` or `<= 1`, survived. An oracle report handed to a reconstitution must be a
# price (positive: one wei is a price) observed by now, whichever way it fails.
@pytest.mark.parametrize(
    ("price", "late"), [(0, 0), (-WAD, 0), (SOL_PRICE, 1), (0, 1)], ids=["zero", "negative", "future", "both"]
)
def test_a_reconstitution_refuses_an_oracle_report_that_is_not_a_price_observed_by_now(price, late):
    scenario = minted()
    before = scenario.product
    oracle = _oracle(("SOL", price, scenario.now + late))
    with pytest.raises(InvalidArgument, match="an oracle report of SOL is not a valid price"):
        scenario.run(cmd.ReconstituteIndex(BTC_SOL, oracle_reports=oracle))
    assert scenario.product == before


# (the same mutant `price_wad <= 1`): one wei is a price.
def test_a_new_symbol_may_be_priced_at_one_wei():
    scenario = launched(components=(Component("X", WAD),), prices={"X": WAD})  # index 1.0
    # One wei of a new symbol Y next to one unit of X: Y's share is a wei's worth of the index.
    components = (Component("X", WAD), Component("Y", WAD))
    event = _reconstitute(scenario, components, ("Y", 1, scenario.now))
    assert dict(event.component_prices)["Y"] == 1


# domain.decide_admin.decide_reconstitute: `any(c.quantity_wad <= 0 …)` → `<= 1` survived.
# A component scaled down to a single wei is still a component: only zero is refused.
def test_a_component_scaled_down_to_one_wei_is_kept():
    scenario = launched(components=(Component("X", WAD),), prices={"X": WAD})  # index 1.0
    # Y at 10^36 (WAD²): one index's worth of it is exactly one wei.
    components = (Component("Y", WAD),)
    event = _reconstitute(scenario, components, ("Y", WAD * WAD, scenario.now))
    assert event.components == (Component("Y", 1),)
    assert event.index_price_after_wad == WAD


# domain.decide_admin._new_symbol_prices: `used += […]` → `used = […]`, and
# `observed_at >= now - max_oracle_age_s` → `>`, survived. The reports that priced the new
# symbols join the book, every new symbol's, including a report exactly max_oracle_age_s old
# (still fresh, so it counted in the price).
def test_a_reconstitution_records_every_report_that_priced_a_new_symbol():
    scenario = minted()
    now, age = scenario.now, default_params().max_oracle_age_s
    components = (*BTC_SOL, Component("AVAX", WAD))
    event = _reconstitute(scenario, components, ("SOL", SOL_PRICE, now - age), ("AVAX", 30 * WAD, now))
    assert set(event.new_symbol_reports) == {
        ("SOL", Report("r1", SOL_PRICE, now - age)),
        ("AVAX", Report("r1", 30 * WAD, now)),
    }
    assert set(scenario.product.reports) == {"BTC", "SOL", "AVAX"}


# domain.decide_admin.decide_reconstitute: the event's `at=now`, `previous_components=…` and
# `observed_at=min([...])` (dropped, None, or `max`) survived. A reconstitution records when
# it happened, the index it replaced, and a price as old as its oldest part: a new symbol
# priced by an older report makes the index's price older, and so stale sooner.
def test_a_reconstitution_records_its_time_the_index_it_replaced_and_the_oldest_price():
    scenario = minted()
    scenario.advance(600)
    scenario.report_all({"BTC": 60_000 * WAD, "ETH": 3_000 * WAD})  # a fresh price, observed now
    previous, now = scenario.product.components, scenario.now
    event = _reconstitute(scenario, BTC_SOL, ("SOL", SOL_PRICE, now - 300))
    assert event.at == now
    assert event.previous_components == previous
    assert event.observed_at == now - 300
    assert scenario.product.price_observed_at == now - 300
    # Reported newer than the index's price, the new symbol leaves its time unchanged.
    scenario = minted()
    scenario.advance(60)
    event = _reconstitute(scenario, BTC_SOL, ("SOL", SOL_PRICE, scenario.now))
    assert event.observed_at == scenario.now - 60 == scenario.product.price_observed_at


# --- decide_admin: settlement -------------------------------------------------------------


# domain.decide_admin.decide_settle: `settle(draft, now, "admin wind-down")` → None or another
# text survived. A settlement records why it happened: an admin's wind-down says so.
def test_an_admin_settlement_records_it_was_a_wind_down():
    scenario = minted()
    settled = only(ev.Settled, scenario.run(cmd.SettleProduct()))
    assert settled.reason == "admin wind-down"


# --- decide_admin: resolving a halt -------------------------------------------------------

THREE = (Component("BTC", WAD // 100), Component("ETH", WAD // 10), Component("SOL", WAD))
THREE_PRICES = {"BTC": 60_000 * WAD, "ETH": 3_000 * WAD, "SOL": 150 * WAD}


def _tripped(components=THREE, prices=THREE_PRICES) -> Scenario:
    """A minted product halted by a BTC report half as high again (a move past max_price_move)."""
    scenario = minted(components=components, prices=prices)
    scenario.run(cmd.ReportPrice("BTC", 90_000 * WAD, scenario.now, "r1"))
    assert scenario.product.halted
    return scenario


# domain.decide_admin.decide_resolve_halt: the refusal's detail (`', '.join(missing)` →
# `'XX, XX'`, and the text of " (too few fresh reports)", or either branch always taken)
# survived. An admin told no to an acceptance learns why: the components not reported since
# the trip, all of them, or that the reports since are too few or stale.
def test_an_admin_acceptance_refused_says_which_components_are_missing_or_that_reports_are_stale():
    scenario = _tripped()
    with pytest.raises(PriceUnavailable, match=r"\(not reported since: ETH, SOL\); wait for them"):
        scenario.run(cmd.ResolveHalt(accept=True))
    for symbol in ("ETH", "SOL"):
        scenario.run(cmd.ReportPrice(symbol, THREE_PRICES[symbol], scenario.now, "r1"))
    scenario.advance(default_params().max_oracle_age_s + 1)  # every report since the trip stale
    with pytest.raises(PriceUnavailable, match=r"oracle_quorum=1 \(too few fresh reports\); wait for them"):
        scenario.run(cmd.ResolveHalt(accept=True))


# domain.decide_admin.decide_resolve_halt: the accepted price's `previous_index_price_wad`,
# `move_wad` and `observed_at` survived. An admin's acceptance records the move it accepts
# from the last accepted index, and a price as old as the oldest report it is made of.
def test_an_admin_acceptance_records_the_move_it_accepts_and_the_age_of_its_reports():
    scenario = _tripped(DEFAULT_COMPONENTS, DEFAULT_PRICES)
    before, tripped_at = scenario.product, scenario.now
    scenario.advance(60)
    scenario.run(cmd.ReportPrice("ETH", 3_000 * WAD, scenario.now, "r1"))
    events = scenario.run(cmd.ResolveHalt(accept=True))
    resolved = only(ev.HaltResolved, events)
    assert (resolved.at, resolved.accepted, resolved.resolved_by) == (scenario.now, True, "admin")
    assert resolved.pending == before.pending_price
    accepted = only(ev.PriceAccepted, events)
    assert accepted.at == scenario.now
    assert accepted.previous_index_price_wad == before.index_price_wad
    assert accepted.index_price_wad == before.pending_price.index_price_wad
    move = Fraction(accepted.index_price_wad - before.index_price_wad, before.index_price_wad)
    assert accepted.move_wad == math.ceil(move * WAD)  # a third, rounded up
    assert accepted.component_prices == before.pending_price.component_prices
    assert accepted.observed_at == tripped_at
    assert scenario.product.price_observed_at == tripped_at


# domain.decide_admin.decide_resolve_halt: `… if command.accept else None` → `if
# command.accept or True` survived. An admin who rejects a move keeps the last accepted index,
# even when every component has been reported since the trip.
def test_an_admin_rejection_keeps_the_last_index_though_every_component_was_reported_since():
    scenario = _tripped(DEFAULT_COMPONENTS, DEFAULT_PRICES)
    before = scenario.product
    scenario.run(cmd.ReportPrice("ETH", 3_000 * WAD, scenario.now, "r1"))
    events = scenario.run(cmd.ResolveHalt(accept=False))
    assert [type(e) for e in events] == [ev.HaltResolved]
    assert (scenario.product.index_price_wad, scenario.product.component_prices) == (
        before.index_price_wad,
        before.component_prices,
    )


# --- evolve: token balances -----------------------------------------------------------------


# domain.evolve._add_tokens: `if balance == 0: pop` → `== 1`, and `delta == 0` → `== 1`,
# survived where no test moved a single token base unit. Every base unit of a token moves
# (one is not dust to the ledger of holders), and a holder whose balance reaches zero is no
# longer listed (one left with a base unit still is).
def test_a_single_token_base_unit_moves_and_an_emptied_holder_is_no_longer_listed():
    scenario = minted()
    alice = scenario.product.balance_of("alice")
    scenario.run(cmd.Transfer("alice", "bob", 1))
    assert (scenario.product.balance_of("alice"), scenario.product.balances["bob"]) == (alice - 1, 1)
    scenario.run(cmd.Transfer("alice", "bob", alice - 2))
    assert scenario.product.balances["alice"] == 1
    scenario.run(cmd.Transfer("alice", "carol", 1))
    assert "alice" not in scenario.product.balances
    assert scenario.product.balances["carol"] == 1
    scenario.run(cmd.Transfer("bob", "alice", alice - 1))
    assert "bob" not in scenario.product.balances
    assert scenario.product.balances["alice"] == alice - 1


# --- draft: accruals that move nothing ------------------------------------------------------


# domain.draft._accrual_inputs: `debt_value(state) if state.index_price_wad else 0` → `… and
# False` (the notional ignored), domain.draft.Draft.emit: the flush of a pending accrual
# (`!=` → `==`, the accrual or the state after it lost), and Draft.defer_accrual dropping
# it, survived. Funding accrues on the notional of each period: an accrual that moved no
# base unit yet is written before a price changes the notional it was computed on, so that
# funding over the whole time is exact to the wei-year.
def test_funding_accrues_on_the_notional_of_each_period_even_when_a_period_moved_nothing():
    params = attrs.evolve(default_params(), streaming_fee_bps=0)
    scenario = minted(1_000 * USDC, params=params)
    rate = WAD // 100  # 1 %/yr: a second of it on 1 000 dollars is far below one base unit
    scenario.run(cmd.ReportFundingRate(rate))
    start, notional = scenario.product.accrued_at, debt_value(scenario.product)
    scenario.advance(1)
    events = scenario.run(cmd.ReportPrice("BTC", 63_000 * WAD, scenario.now, "r1"))
    assert [type(e) for e in events] == [ev.PriceReported, ev.Accrued, ev.PriceAccepted]
    first = only(ev.Accrued, events)
    assert (first.accrued_from, first.at, first.debt_notional, first.funding_paid) == (
        start,
        start + 1,
        notional,
        0,
    )
    moved_at, moved = scenario.now, debt_value(scenario.product)
    assert moved != notional
    scenario.advance(DAY)
    second = only(ev.Accrued, scenario.run(cmd.Tick()))
    assert (second.accrued_from, second.debt_notional) == (moved_at, moved)
    exact = notional * rate * 1 + moved * rate * DAY
    assert second.funding_paid * FUNDING_DENOMINATOR + second.funding_carry == exact


# domain.draft._accrual_inputs: `… else 0` → `else 1` survived. Before its first price a
# product has no debt to value: the accrual that its first price follows moved nothing and
# is not written.
def test_the_first_price_of_a_product_writes_no_empty_accrual():
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("IIT-1", DEFAULT_COMPONENTS, default_params()))
    scenario.advance(60)
    events = scenario.report_all(DEFAULT_PRICES)
    assert [type(e) for e in events] == [ev.PriceReported, ev.PriceReported, ev.PriceAccepted]


# --- evolve: the ledger; decide_admin: fee claims ------------------------------------------


# domain.evolve.apply_movements: a movement's debit or credit with its sign flipped, or an
# account first seen starting at 1, must not go unnoticed. The ledger is double entry: its
# accounts sum to zero after every decision, and the vault's account is the vault's cash.
def test_the_ledger_is_double_entry_and_its_vault_account_is_the_vaults_cash():
    scenario = minted(1_000 * USDC)
    scenario.run(cmd.ReportFundingRate(WAD // 10))
    scenario.advance(DAY)
    scenario.report_all({"BTC": 66_000 * WAD, "ETH": 3_300 * WAD})  # +10 %: out of the band
    scenario.run(cmd.Tick())
    scenario.run(cmd.Redeem("alice", scenario.product.balance_of("alice") // 3, 0))
    scenario.run(cmd.Mint("bob", 123 * USDC, 0))
    kinds = {type(e) for decision in scenario.decisions for e in decision}
    assert {ev.Minted, ev.Accrued, ev.Rebalanced, ev.Redeemed} <= kinds
    ledger = scenario.product.ledger
    assert sum(ledger.values()) == 0
    assert ledger[VAULT] == scenario.product.vault.cash
    assert ledger["holder:alice"] < 0 < ledger[LENDER]


# domain.decide_admin.decide_claim_fees: `treasury_after=treasury - command.token_amount` → `+`
# or None must not go unnoticed. A claim records what the treasury holds after it.
def test_a_fee_claim_records_what_the_treasury_holds_after_it():
    scenario = minted()
    scenario.advance(30 * DAY)
    scenario.run(cmd.Tick())
    treasury = scenario.product.balance_of(TREASURY_HOLDER)
    assert treasury > 0
    claimed = only(ev.FeesClaimed, scenario.run(cmd.ClaimFees("dao", treasury // 3)))
    assert claimed.treasury_after == treasury - treasury // 3 == scenario.product.balance_of(TREASURY_HOLDER)
    assert scenario.product.balance_of("dao") == treasury // 3


# domain.rebalancing.rebalance: `goal = rebalance_goal_wad(state, reason)` → `(state, None)`
# survived. A trade records the goal of its own reason: the ripcord's is the target, a TWAP
# chunk's the goal of the trade it continues, whatever the recentering speed.
def test_a_trade_records_the_goal_of_its_own_reason():
    params = attrs.evolve(default_params(), recentering_speed_wad=WAD // 10)
    past = _at_leverage(1_600, 1_000, params=params)
    events, _ = _rebalanced(past, RebalanceReason.RIPCORD)
    assert only(ev.Rebalanced, events).goal_leverage_wad == -WAD
    goal = 95 * WAD // 100
    twap = _at_leverage(1_100, 1_000, params=params, rebalance_pending=True, rebalance_goal_wad=goal)
    events, _ = _rebalanced(twap, RebalanceReason.CONTINUATION)
    assert only(ev.Rebalanced, events).goal_leverage_wad == -goal


# domain.evolve.evolve: the launched state's `product_id=event.product_id` and
# `launched_at=event.at` (→ None) must not go unnoticed. A launched product knows its id
# and when it was launched.
def test_a_launched_product_knows_its_id_and_when_it_was_launched():
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("IIT-7", DEFAULT_COMPONENTS, default_params()))
    assert (scenario.product.product_id, scenario.product.launched_at) == ("IIT-7", scenario.now)


# domain.decide_admin.decide_launch: `Draft(evolve(None, launched), [launched])` →
# `Draft(None, [launched])`. The writer keeps the state a decision hands it (it does not
# apply the events again): a launch must hand it the launched product.
def test_a_launch_hands_the_writer_the_state_its_event_makes():
    launch = cmd.LaunchProduct("IIT-9", DEFAULT_COMPONENTS, default_params())
    draft = decide_and_apply(None, launch, 1_700_000_000)
    assert draft.state is not None
    assert draft.state == evolve_all(None, draft.events)
    assert (draft.state.product_id, draft.state.launched_at) == ("IIT-9", 1_700_000_000)
