"""Laws of rebalancing and of the admin's decisions that mutation testing (``make mutate``)
found no test watching: each test fails against a mutant of domain.rebalancing,
domain.decide_admin, domain.draft, domain.decide or domain.evolve that every other test let
through (named in a comment above it). They drive the public decisions and functions."""

from __future__ import annotations

import attrs

from domain import commands as cmd
from domain import events as ev
from domain.draft import Draft
from domain.fixedpoint import WAD
from domain.model import ProductState, RebalanceReason
from domain.params import default_params
from domain.rebalancing import rebalance, rebalance_reason, ripcord_can_restore
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
