"""Laws of rebalancing and of the admin's decisions that mutation testing (``make mutate``)
found no test watching: each test fails against a mutant of domain.rebalancing,
domain.decide_admin, domain.draft, domain.decide or domain.evolve that every other test let
through (named in a comment above it). They drive the public decisions and functions."""

from __future__ import annotations

import attrs
import pytest

from domain import commands as cmd
from domain import events as ev
from domain.draft import Draft
from domain.fixedpoint import WAD
from domain.model import ProductState, RebalanceReason
from domain.params import default_params
from domain.rebalancing import (
    BAND_MARGIN_WAD,
    next_keeper_due,
    rebalance,
    rebalance_goal_wad,
    rebalance_reason,
    ripcord_can_restore,
)
from domain.valuation import current_leverage_wad
from tests.support import DEFAULT_PRICES, USDC, minted

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
