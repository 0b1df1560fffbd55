"""Laws that mutation testing (``make mutate``) found no test watching: each test here fails
against a mutant of the domain that every other test let through (named in its docstring).
They drive the public decisions and functions, so they hold whatever the code inside does."""

from __future__ import annotations

from fractions import Fraction

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from domain import commands as cmd
from domain import events as ev
from domain.accrual import streaming_fee_tokens
from domain.decide import decide
from domain.draft import Draft
from domain.errors import (
    InsufficientBalance,
    InvalidArgument,
    InvalidParameters,
    MintTooSmall,
    OracleStale,
    ProductHalted,
    RedeemTooSmall,
    SlippageExceeded,
    SupplyCapReached,
    VaultInsolvent,
)
from domain.evolve import evolve_all
from domain.fixedpoint import BPS, SECONDS_PER_YEAR, WAD, value_down, value_up
from domain.model import (
    LENDER,
    MARKET,
    MINIMUM_LOCKED_SUPPLY,
    TREASURY,
    VAULT,
    Component,
    Movement,
    ProductState,
    RebalanceReason,
    Report,
    holder_account,
)
from domain.oracle import candidate_price
from domain.params import default_params
from domain.rebalancing import next_keeper_due, rebalance, ripcord_can_restore
from domain.settlement import settle_or_ripcord
from domain.valuation import current_leverage_wad
from domain.vault_math import (
    leverage_wad,
    purchase_notional,
    quote_mint,
    quote_rebalance,
    quote_redeem,
    recentered_magnitude_wad,
    sale_notional,
    tokens_for_equity_added,
)
from tests.support import DEFAULT_COMPONENTS, USDC, Scenario, launched, minted


def only(kind, events):
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, events
    return found[0]


def nav_per_token_wad(state: ProductState) -> int:
    """NAV per whole token in whole collateral units (WAD), rounded down, computed here from
    the vault alone: cash less the debt valued up, over the supply."""
    scale = 10**state.params.collateral_decimals
    debt_value = -((-state.vault.debt_units_wad * state.index_price_wad * scale) // (WAD * WAD))
    equity = state.vault.cash - debt_value
    return max(equity, 0) * WAD * WAD // (state.vault.supply * scale)


def exact_leverage(state: ProductState) -> Fraction:
    scale = 10**state.params.collateral_decimals
    debt = Fraction(state.vault.debt_units_wad * state.index_price_wad * scale, WAD * WAD)
    return -debt / (state.vault.cash - debt)


# Survivor 1: `equity_after = equity_traded - max(gross, 0)` → `+` or `min`, and
# `nav_before_wad=nav_wad(state)` → `None`, went unnoticed.
def test_a_redemption_records_the_nav_per_token_before_and_after_it():
    scenario = minted(5_000 * USDC)
    scenario.report_all({"BTC": 61_000 * WAD, "ETH": 3_050 * WAD})  # NAV off 1.0, no rebalance
    before = scenario.product
    events = scenario.run(cmd.Redeem("alice", 1_234 * WAD, 0))
    redeemed = only(ev.Redeemed, events)
    assert not [e for e in events if isinstance(e, ev.Rebalanced | ev.Accrued)]
    assert redeemed.nav_before_wad == nav_per_token_wad(before)
    assert redeemed.nav_after_wad == nav_per_token_wad(scenario.product)
    assert redeemed.nav_after_wad >= redeemed.nav_before_wad  # no dilution of those who stay


def test_a_mint_records_the_nav_per_token_before_and_after_it():
    scenario = minted(5_000 * USDC)
    scenario.report_all({"BTC": 61_000 * WAD, "ETH": 3_050 * WAD})
    before = scenario.product
    minted_event = only(ev.Minted, scenario.run(cmd.Mint("bob", 777 * USDC, 0)))
    assert minted_event.nav_before_wad == nav_per_token_wad(before)
    assert minted_event.nav_after_wad == nav_per_token_wad(scenario.product)
    assert minted_event.nav_after_wad >= minted_event.nav_before_wad


# Survivor 3: `supply == 0 or debt_units_wad == 0` → `and` in quote_mint: no test minted
# into a vault that has holders but no debt.
def test_a_mint_into_a_vault_with_holders_but_no_debt_hedges_at_the_target_leverage():
    # An index unit worth 10^13 dollars: the first mint, 10 base units, is too small to sell
    # even one wei of an index unit, so the vault has holders and no debt.
    huge = {"X": 10**13 * WAD}
    scenario = launched(components=(Component("X", WAD),), prices=huge)
    scenario.run(cmd.Mint("alice", 10, 0))
    assert scenario.product.vault.supply > 0
    assert scenario.product.vault.debt_units_wad == 0
    minted_event = only(ev.Minted, scenario.run(cmd.Mint("bob", 10**9 * USDC, 0)))
    assert minted_event.units_sold_wad > 0
    target = Fraction(scenario.product.params.target_leverage_wad, WAD)
    assert abs(exact_leverage(scenario.product) - target) < Fraction(1, 1000)


# Survivor 4: `denominator // 2` → `// 3` in streaming_fee_tokens: no test reached the cap.
def test_the_streaming_fee_is_set_protocols_formula_up_to_the_one_half_cap():
    supply = 10**24
    year = SECONDS_PER_YEAR
    # 10 %/yr for four years: a = 0.4, above a third and below the cap.
    assert streaming_fee_tokens(supply, 1_000, 4 * year) == supply * 4 // 6
    # Five years reach a = 1/2 exactly: the treasury is minted the whole supply again,
    # so it owns one half; ten years are held at the same cap.
    assert streaming_fee_tokens(supply, 1_000, 5 * year) == supply
    assert streaming_fee_tokens(supply, 1_000, 10 * year) == supply


# Survivor 5: `<` → `<=` on min_tokens_out / min_collateral_out: no test landed exactly on
# the slippage bound.
def test_a_mint_yielding_exactly_min_tokens_out_is_accepted_and_one_more_is_not():
    scenario = minted()
    state, now = scenario.product, scenario.now
    tokens = only(ev.Minted, decide(state, cmd.Mint("bob", 300 * USDC, 0), now)).tokens_minted
    accepted = only(ev.Minted, decide(state, cmd.Mint("bob", 300 * USDC, tokens), now))
    assert accepted.tokens_minted == tokens
    with pytest.raises(SlippageExceeded):
        decide(state, cmd.Mint("bob", 300 * USDC, tokens + 1), now)


def test_a_redemption_paying_exactly_min_collateral_out_is_accepted_and_one_more_is_not():
    scenario = minted()
    state, now = scenario.product, scenario.now
    paid = only(ev.Redeemed, decide(state, cmd.Redeem("alice", 100 * WAD, 0), now)).collateral_out
    accepted = only(ev.Redeemed, decide(state, cmd.Redeem("alice", 100 * WAD, paid), now))
    assert accepted.collateral_out == paid
    with pytest.raises(SlippageExceeded):
        decide(state, cmd.Redeem("alice", 100 * WAD, paid + 1), now)


def test_a_settled_redemption_paying_exactly_min_collateral_out_is_accepted_and_one_more_is_not():
    scenario = minted()
    scenario.run(cmd.SettleProduct())
    state, now = scenario.product, scenario.now
    assert state.settled
    redeem = only(ev.SettlementRedeemed, decide(state, cmd.Redeem("alice", 100 * WAD, 0), now))
    paid = redeem.collateral_out
    accepted = decide(state, cmd.Redeem("alice", 100 * WAD, paid), now)
    assert only(ev.SettlementRedeemed, accepted).collateral_out == paid
    with pytest.raises(SlippageExceeded):
        decide(state, cmd.Redeem("alice", 100 * WAD, paid + 1), now)


# Survivor 6: `min(oldest, …)` → `max` in candidate_price: the accepted price was dated at
# its acceptance, not at its oldest report, and nothing noticed.
def test_an_index_price_is_as_old_as_its_oldest_report():
    scenario = minted()
    max_age = scenario.product.params.max_oracle_age_s
    first_seen = scenario.now
    scenario.advance(max_age // 2)
    # A new BTC report moves the index; ETH's price is still the one observed at first_seen.
    scenario.run(cmd.ReportPrice("BTC", 60_600 * WAD, scenario.now, "r1"))
    assert scenario.product.index_price_wad != 900 * WAD
    assert scenario.product.price_observed_at == first_seen
    scenario.advance(max_age - max_age // 2)
    scenario.run(cmd.Mint("bob", 10 * USDC, 0))  # exactly max_oracle_age_s old: still fresh
    scenario.advance(1)
    with pytest.raises(OracleStale):
        scenario.run(cmd.Mint("bob", 10 * USDC, 0))


def test_a_price_reported_with_an_earlier_observation_is_dated_at_that_observation():
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("IIT-1", (Component("BTC", WAD),), default_params()))
    observed = scenario.now - 100
    scenario.run(cmd.ReportPrice("BTC", 60_000 * WAD, observed, "r1"))
    assert scenario.product.price_observed_at == observed


# Survivor 7: `0 < max_trade_notional < wanted` → `<=`: a trade exactly at the cap was
# flagged as capped (leaving a continuation pending) and no test saw it.
def _band_trade(state: ProductState, now: int, cap: int) -> ev.Rebalanced:
    capped_state = attrs.evolve(state, params=attrs.evolve(state.params, max_trade_notional=cap))
    return only(ev.Rebalanced, decide(capped_state, cmd.Tick(), now))


def test_a_keeper_trade_exactly_at_max_trade_notional_is_not_capped():
    scenario = minted(10_000 * USDC)
    scenario.report_all({"BTC": 51_000 * WAD, "ETH": 2_550 * WAD})  # out of the band: a trade is due
    state, now = scenario.product, scenario.now
    uncapped = _band_trade(state, now, 0)
    assert not uncapped.capped
    # The smallest cap that still lets the whole trade through. At this price one base unit
    # of collateral is ~10^9 wei of index units, so a cap one unit lower shrinks the trade.
    low, high = 1, 10**15
    while low < high:
        middle = (low + high) // 2
        if _band_trade(state, now, middle).units_wad == uncapped.units_wad:
            high = middle
        else:
            low = middle + 1
    at_cap = _band_trade(state, now, low)
    assert not at_cap.capped
    assert at_cap.units_wad == uncapped.units_wad
    below = _band_trade(state, now, low - 1)
    assert below.capped
    assert below.units_wad < uncapped.units_wad


# A keeper trade capped at a small notional trades at most that notional. (The mutant
# `0 < max_trade_notional` → `1 < …` differs only at a cap of one base unit, below which
# this trade is dust: test_a_cap_of_one_base_unit_caps_a_rebalance_like_any_other kills it.)
def test_a_keeper_trade_capped_at_a_tiny_notional_trades_at_most_that_notional():
    # The smallest cap whose trade still costs a base unit (a 1-unit trade is dust that
    # records nothing since trades are sized with their cost): 10 bps of 10,000 units.
    scenario = minted(10_000 * USDC)
    scenario.report_all({"BTC": 51_000 * WAD, "ETH": 2_550 * WAD})
    trade = _band_trade(scenario.product, scenario.now, 10_000)
    assert trade.capped
    assert 0 < trade.notional <= 10_000


# Survivor 8: `fee = … if gross > 0` → `gross > 1`: a one-base-unit redemption paid no fee.
def test_the_redemption_fee_rounds_up_even_on_a_one_unit_payout():
    params = attrs.evolve(default_params(), redeem_fee_bps=10, execution_cost_bps=10)
    scenario = minted(1_000 * USDC, params=params)
    state, now = scenario.product, scenario.now

    def gross(tokens: int) -> int:
        try:
            return only(ev.Redeemed, decide(state, cmd.Redeem("alice", tokens, 0), now)).gross_out
        except RedeemTooSmall:
            return 0

    # The smallest redemption that pays anything pays one base unit gross.
    low, high = 1, 100 * WAD
    while low < high:
        middle = (low + high) // 2
        if gross(middle) > 0:
            high = middle
        else:
            low = middle + 1
    redeemed = only(ev.Redeemed, decide(state, cmd.Redeem("alice", low, 0), now))
    assert redeemed.gross_out == 1
    assert redeemed.fee == 1  # 10 bps of one unit, rounded up in the vault's favour
    assert redeemed.collateral_out == 0
    # One token base unit less pays exactly nothing gross: it is refused, not recorded
    # (`gross_out <= 0` → `< 0` in decide_redeem let it through).
    assert quote_redeem(*_redeem_inputs(state), low - 1, 10, 10).gross_out == 0
    with pytest.raises(RedeemTooSmall):
        decide(state, cmd.Redeem("alice", low - 1, 0), now)


def _redeem_inputs(state: ProductState) -> tuple[int, int, int, int, int]:
    vault = state.vault
    return (
        vault.cash,
        vault.debt_units_wad,
        vault.supply,
        state.index_price_wad,
        state.params.collateral_decimals,
    )


# Survivor 9: `ripcord_can_restore` built its after-trade vault without
# `cash=quote.cash_after`: the ripcord law then excused (or blamed) the wrong dust vaults.
def _vault_past_the_ripcord(debt_units_wad: int, equity: int, cost_bps: int, decimals: int) -> ProductState:
    state = minted().product
    params = attrs.evolve(state.params, execution_cost_bps=cost_bps, collateral_decimals=decimals)
    scale = 10**decimals
    debt_value = -((-debt_units_wad * state.index_price_wad * scale) // (WAD * WAD))
    vault = attrs.evolve(state.vault, cash=debt_value + equity, debt_units_wad=debt_units_wad)
    return attrs.evolve(state, params=params, vault=vault)


@given(
    debt_units_wad=st.integers(10**12, 10**19),
    equity=st.integers(1, 60),
    cost_bps=st.sampled_from([0, 10, 50, 200]),
    decimals=st.sampled_from([0, 2, 6]),
)
@example(debt_units_wad=10**13, equity=3, cost_bps=0, decimals=0)  # restorable; stale cash says no
@example(debt_units_wad=10**13, equity=2, cost_bps=0, decimals=6)  # not restorable; stale cash says yes
def test_the_ripcord_law_excuses_exactly_the_vaults_no_ripcord_trade_restores(
    debt_units_wad, equity, cost_bps, decimals
):
    state = _vault_past_the_ripcord(debt_units_wad, equity, cost_bps, decimals)
    leverage = current_leverage_wad(state)
    assert leverage is not None
    ripcord = state.params.ripcord_leverage_wad
    draft = Draft(state)
    rebalance(draft, state.accrued_at, RebalanceReason.RIPCORD)
    after = current_leverage_wad(draft.state)
    restored = after is not None and -after <= ripcord
    assert ripcord_can_restore(state) == restored


# Found by `make mutate`: `reporters_min = … min(reporters_min, len(fresh))` → `max`, or the
# first component's count kept, survived: no test read the quorum a candidate reports.
def test_a_candidate_price_reports_the_weakest_quorum_behind_it():
    now = 1_700_000_000
    components = (Component("BTC", WAD), Component("ETH", WAD), Component("SOL", WAD))
    counts = {"BTC": 3, "ETH": 1, "SOL": 2}
    reports = {
        symbol: {f"r{k}": Report(f"r{k}", (k + 1) * WAD, now - k) for k in range(count)}
        for symbol, count in counts.items()
    }
    candidate = candidate_price(components, reports, now, 3_600, 1)
    assert candidate is not None
    assert candidate.reporters_min == 1
    assert candidate.observed_at == now - 2  # the oldest fresh report of any component
    assert candidate.component_prices == (("BTC", 2 * WAD), ("ETH", WAD), ("SOL", WAD + WAD // 2))
    assert candidate.index_price_wad == 2 * WAD + WAD + WAD + WAD // 2
    assert candidate_price(components, reports, now, 3_600, 2) is None  # ETH lacks a quorum of two


# Found by `make mutate`: a quote's `equity_before` (cash less the debt valued up) survived
# being dropped, negated or valued down: nothing read it.
def _debt_value_up(units_wad: int, price_wad: int, decimals: int) -> int:
    return -((-units_wad * price_wad * 10**decimals) // (WAD * WAD))


def test_a_quote_books_equity_before_and_after_with_the_debt_valued_up():
    cash, debt, supply, price = 2_000 * USDC + 17, 1_108_891_108_888_888_888, 998 * WAD, 901 * WAD + 7
    assert _debt_value_up(debt, price, 6) * WAD * WAD != debt * price * 10**6  # rounding matters here
    redeem = quote_redeem(cash, debt, supply, price, 6, 100 * WAD, 10, 10)
    mint = quote_mint(cash, debt, supply, price, 6, 100 * USDC, 10, 10, WAD)
    for quote in (redeem, mint):
        assert quote.equity_before == cash - _debt_value_up(debt, price, 6)
        assert quote.equity_after == quote.cash_after - _debt_value_up(quote.debt_units_after_wad, price, 6)


# Found by `make mutate`: in a redemption quote that cannot pay its own trade, a fee of 1,
# a negative fee, or one base unit taken from the cash went unnoticed (the decision rejects
# such a quote, but the quote still says what the redemption would do to the vault).
@pytest.mark.parametrize(
    ("equity", "tokens"),
    [
        (1_100 * USDC, 10**9),  # a dust redemption: its share is below the trade's rounding
        (1_000, 499 * WAD),  # a vault 10^5 times levered: the trade's cost dwarfs the share
    ],
)
def test_a_redemption_too_small_to_pay_its_trade_is_quoted_with_no_fee_and_no_payout(equity, tokens):
    debt, supply, price = 1_108_891_108_888_888_888, 998 * WAD, 901 * WAD + 7
    cash = _debt_value_up(debt, price, 6) + equity
    quote = quote_redeem(cash, debt, supply, price, 6, tokens, 10, 10)
    assert quote.gross_out < 0
    assert quote.fee == 0
    assert quote.collateral_out == quote.gross_out
    assert quote.cash_after == cash - quote.purchase_cost - quote.execution_cost
    assert quote.equity_after == quote.cash_after - _debt_value_up(quote.debt_units_after_wad, price, 6)


# Found by `make mutate`: `mul_div_down` → `mul_div_up` in tokens_for_equity_added
# survived: no test minted where the division left a remainder the minter must not get.
@pytest.mark.parametrize(
    ("added", "supply", "equity_before", "tokens"),
    [(10, 3, 7, 4), (1, 10**21, 3 * 10**9, 333_333_333_333), (999 * USDC, 998 * WAD, 1_001 * USDC + 1, None)],
)
def test_tokens_minted_round_down_so_the_holders_before_are_not_diluted(added, supply, equity_before, tokens):
    minted_tokens = tokens_for_equity_added(added, supply, equity_before)
    assert minted_tokens * equity_before <= added * supply < (minted_tokens + 1) * equity_before
    if tokens is not None:
        assert minted_tokens == tokens


# Found by `make mutate`: the rebalance's aim `mul_div_down(equity, target, WAD)` →
# `mul_div_up` survived: at an integer target the product is exact, and no test used
# another. Rounded up, the vault would sell up to a base unit of debt past its target.
def test_a_rebalance_never_sells_debt_past_the_target():
    params = default_params(-3 * WAD // 2)
    non_integer_aims = 0
    for btc in range(50_000, 50_400, 37):
        scenario = minted(1_000 * USDC + 1, params=params)
        scenario.report_all({"BTC": btc * WAD, "ETH": btc * WAD // 20})  # a fall: |leverage| drops
        before = scenario.product
        trade = only(ev.Rebalanced, scenario.run(cmd.Tick()))
        assert trade.side == "sell"
        scale = 10**before.params.collateral_decimals
        debt_value = _debt_value_up(before.vault.debt_units_wad, before.index_price_wad, 6)
        aim = Fraction((before.vault.cash - debt_value) * params.target_magnitude_wad, WAD)
        non_integer_aims += aim.denominator != 1
        sold = Fraction(trade.units_wad * before.index_price_wad * scale, WAD * WAD)
        assert debt_value + sold <= aim
    assert non_integer_aims > 0


# Found by `make mutate`: the distance a recentering moves, `mul_div_up` → `mul_div_down`,
# survived: no test recentered by less than one WAD unit, where rounding down moves nothing
# and a slow recentering would leave leverage stuck off target for ever.
@given(
    magnitude=st.integers(0, 10**20),
    target=st.integers(0, 10**20),
    speed=st.integers(1, WAD),
)
@example(magnitude=2 * WAD, target=2 * WAD + 1, speed=1)  # moves 10^-18 of a WAD unit: rounds to one
@example(magnitude=3 * WAD, target=2 * WAD, speed=WAD // 3)  # a third of the way, up to the unit
def test_a_recentering_moves_at_least_one_wad_unit_and_the_distance_rounded_up(magnitude, target, speed):
    goal = recentered_magnitude_wad(magnitude, target, speed)
    moved = abs(goal - magnitude)
    exact = Fraction(abs(target - magnitude) * speed, WAD)
    assert moved == -(-exact.numerator // exact.denominator)  # the exact distance, rounded up
    assert (goal == magnitude) == (target == magnitude)  # any distance left moves at least one unit


# Found by `make mutate`: `denominator <= 0` → `< 0` in purchase_notional survived: no test
# asked for a purchase whose cost equals the leverage it removes (g·c = 1), where
# `(D − m) = g·(E − c·m)` has no solution and the caller buys back the whole shortfall.
@pytest.mark.parametrize(
    ("goal_magnitude_wad", "cost_bps"), [(10 * WAD, 1_000), (20 * WAD, 500), (100 * WAD, 100)]
)
def test_a_purchase_whose_cost_equals_the_leverage_it_removes_buys_back_the_whole_shortfall(
    goal_magnitude_wad, cost_bps
):
    assert goal_magnitude_wad * cost_bps == WAD * BPS  # g·c = 1 exactly
    for shortfall_wad in (0, 1, 10**30 + 7):
        assert purchase_notional(shortfall_wad, goal_magnitude_wad, cost_bps) == shortfall_wad
    # Just below g·c = 1 the equation has its (large) solution, rounded down.
    assert purchase_notional(10**30, goal_magnitude_wad - 1, cost_bps) == 10**30 * BPS // (
        WAD * BPS - (goal_magnitude_wad - 1) * cost_bps
    )


# The law behind quote_redeem's `equity_before_high`, checked on the quote itself (the
# mutant `value_down` → `value_up` for the debt took minutes of the state machine to die):
# were the stayers' share computed from the equity valued low, the redeemer would take up
# to a base unit of the debt's rounding from those who stay.
@given(
    debt_units_wad=st.integers(0, 10**22),
    supply=st.integers(1, 10**22),
    share=st.fractions(0, 1),
    price_wad=st.integers(WAD // 1_000, 10**6 * WAD),
    equity=st.integers(1, 10**10),
    decimals=st.sampled_from([0, 2, 6]),
    fee_bps=st.sampled_from([0, 10]),
    cost_bps=st.sampled_from([0, 10]),
)
# One wei of debt at 0.001: valued up it is 1, valued down 0; the stayer's half of 2 is 1.
@example(
    debt_units_wad=1,
    supply=2,
    share=Fraction(0),
    price_wad=WAD // 1_000,
    equity=2,
    decimals=0,
    fee_bps=0,
    cost_bps=0,
)
def test_a_redemption_leaves_those_who_stay_their_share_of_the_equity_valued_high(
    debt_units_wad, supply, share, price_wad, equity, decimals, fee_bps, cost_bps
):
    tokens = max(1, int(supply * share))
    cash = value_up(debt_units_wad, price_wad, decimals) + equity
    quote = quote_redeem(cash, debt_units_wad, supply, price_wad, decimals, tokens, fee_bps, cost_bps)
    equity_high = cash - value_down(debt_units_wad, price_wad, decimals)  # the debt valued down
    if quote.gross_out > 0:
        # What stays (booked low) is at least the stayers' share of the equity valued high.
        assert quote.equity_after * supply >= equity_high * (supply - tokens)
        assert quote.gross_out * supply <= equity_high * tokens


# Found by `make mutate`: in purchase_notional, `mul_div_down` → `mul_div_up` and
# `denominator <= 0` → `<= 1` survived: no test checked the purchase against its equation,
# whose solution must round down (the vault never buys back more than it needs), nor met
# a denominator of exactly one (g·c = 1 − 10^-22, as at g = (10^22 − 1)/121, c = 121 bps).
@given(
    shortfall_wad=st.integers(0, 10**40),
    goal_magnitude_wad=st.integers(0, 100 * WAD),
    cost_bps=st.integers(0, 1_000),
)
@example(shortfall_wad=3, goal_magnitude_wad=(WAD * BPS - 1) // 121, cost_bps=121)  # denominator 1
@example(shortfall_wad=3, goal_magnitude_wad=(WAD * BPS - 1) // 363, cost_bps=363)  # denominator 1
@example(shortfall_wad=10**22 + 1, goal_magnitude_wad=2 * WAD, cost_bps=10)  # a remainder to round
def test_a_purchase_is_the_exact_solution_of_its_equation_rounded_down(
    shortfall_wad, goal_magnitude_wad, cost_bps
):
    bought = purchase_notional(shortfall_wad, goal_magnitude_wad, cost_bps)
    denominator = WAD * BPS - goal_magnitude_wad * cost_bps  # WAD·BPS·(1 − g·c)
    if denominator <= 0:
        assert bought == shortfall_wad  # no solution: buy back all the debt it can
    else:
        # m·(1 − g·c) ≤ shortfall < (m + 1)·(1 − g·c): the solution, rounded down
        assert bought * denominator <= shortfall_wad * BPS < (bought + 1) * denominator


# Found by `make mutate`: `mul_div_down` → `mul_div_up` in sale_notional survived: no test
# checked the sale against its equation, whose solution must round down, so that the sale
# never takes the debt past the goal times the equity its cost leaves.
@given(
    excess_wad=st.integers(0, 10**40),
    goal_magnitude_wad=st.integers(0, 100 * WAD),
    cost_bps=st.integers(0, 1_000),
)
@example(excess_wad=10**22 + 1, goal_magnitude_wad=2 * WAD, cost_bps=10)  # a remainder to round
def test_a_sale_is_the_exact_solution_of_its_equation_rounded_down(excess_wad, goal_magnitude_wad, cost_bps):
    sold = sale_notional(excess_wad, goal_magnitude_wad, cost_bps)
    denominator = WAD * BPS + goal_magnitude_wad * cost_bps  # WAD·BPS·(1 + g·c)
    assert sold * denominator <= excess_wad * BPS < (sold + 1) * denominator


# Found by `make mutate`: `supply_after > supply_cap` → `>=` in decide_mint: no test minted
# exactly up to the cap, which the cap allows.
def test_a_mint_up_to_exactly_the_supply_cap_is_accepted_and_one_token_past_it_is_not():
    scenario = minted()
    state, now = scenario.product, scenario.now
    supply_after = only(ev.Minted, decide(state, cmd.Mint("bob", 300 * USDC, 0), now)).supply_after
    at_cap = attrs.evolve(state, params=attrs.evolve(state.params, supply_cap=supply_after))
    assert only(ev.Minted, decide(at_cap, cmd.Mint("bob", 300 * USDC, 0), now)).supply_after == supply_after
    below = attrs.evolve(state, params=attrs.evolve(state.params, supply_cap=supply_after - 1))
    with pytest.raises(SupplyCapReached):
        decide(below, cmd.Mint("bob", 300 * USDC, 0), now)


# Found by `make mutate`: `tokens_to_holder <= 0` → `< 0` in decide_mint: no first mint
# yielded exactly the locked minimum supply, which would leave its minter no token at all.
def test_a_first_mint_yielding_exactly_the_locked_minimum_is_refused_and_one_unit_more_is_not():
    # With 18-decimal collateral a token base unit is a collateral base unit, so a first
    # mint can land on the locked minimum exactly.
    params = attrs.evolve(default_params(), collateral_decimals=18)
    scenario = launched(params=params)
    state, now = scenario.product, scenario.now
    smallest = 1_002_002_003  # after the mint fee and the hedge's cost: 10^9 tokens
    with pytest.raises(MintTooSmall):
        decide(state, cmd.Mint("alice", smallest, 0), now)
    accepted = only(ev.Minted, decide(state, cmd.Mint("alice", smallest + 1, 0), now))
    assert accepted.tokens_locked == MINIMUM_LOCKED_SUPPLY
    assert accepted.tokens_minted == 1


# Found by `make mutate`: `0 < max_trade_notional` → `1 < …` in quote_rebalance survived:
# no test set the smallest cap there is, one base unit, which must cap like any other
# (0 alone means no cap).
@pytest.mark.parametrize("cap", [1, 2, 1_000])
@pytest.mark.parametrize("price_wad", [900 * WAD, 1_100 * WAD])  # a rise: buy back; a fall: sell
def test_a_cap_of_one_base_unit_caps_a_rebalance_like_any_other(cap, price_wad):
    cash, debt = 2_000 * USDC, 10**18  # |leverage| 0.82 at 900, 1.22 at 1,100: off the target 1
    quote = quote_rebalance(cash, debt, price_wad, 6, WAD, 10, cap)
    uncapped = quote_rebalance(cash, debt, price_wad, 6, WAD, 10, 0)
    assert not uncapped.capped
    assert uncapped.notional > 1_000
    assert quote.capped
    assert quote.notional <= cap
    assert quote.units_wad < uncapped.units_wad


# Found by `make mutate`: a sale's proceeds rounded up (`value_down` → `value_up` in
# quote_rebalance) died only after minutes of the state machine, and a purchase's price
# rounded down too: no unit test valued a rebalance trade to the base unit. A sale's
# proceeds round down and a purchase's price rounds up: the vault books at most what it
# receives and at least what it pays.
@given(
    cash=st.integers(10 * USDC, 10**7 * USDC),
    debt_units_wad=st.integers(10**15, 10**22),
    price_wad=st.integers(WAD, 10**5 * WAD),
    cost_bps=st.sampled_from([0, 10, 50]),
)
@example(cash=2_000 * USDC, debt_units_wad=10**18 + 3, price_wad=900 * WAD + 7, cost_bps=10)  # a sale
@example(cash=2_000 * USDC, debt_units_wad=10**18 + 3, price_wad=1_100 * WAD + 7, cost_bps=10)  # a purchase
def test_a_rebalance_books_sale_proceeds_rounded_down_and_purchases_rounded_up(
    cash, debt_units_wad, price_wad, cost_bps
):
    assume(cash > value_up(debt_units_wad, price_wad, 6))  # some equity to rebalance
    quote = quote_rebalance(cash, debt_units_wad, price_wad, 6, WAD, cost_bps, 0)
    exact = quote.units_wad * price_wad * USDC  # the trade's value, times WAD²
    if quote.side == "sell":
        assert quote.notional * WAD * WAD <= exact < (quote.notional + 1) * WAD * WAD
        assert quote.cash_after == cash + quote.notional - quote.execution_cost
    else:
        assert (quote.notional - 1) * WAD * WAD < exact <= quote.notional * WAD * WAD
        assert quote.cash_after == cash - quote.notional - quote.execution_cost


# Found by `make mutate`: `at=now` → `at=None` in the settlement redemption survived: no
# test read the time of every kind of event. Every event a decision emits is stamped with
# the decision's time (the log's order, the projections and `iit events` read it).
def test_every_event_a_decision_emits_is_stamped_with_the_decision_time():
    scenario = minted(5_000 * USDC)
    steps: list[cmd.Command] = [
        cmd.ReportFundingRate(WAD // 10),
        cmd.Mint("bob", 700 * USDC, 0),
        cmd.Redeem("alice", 100 * WAD, 0),
        cmd.Transfer("alice", "carol", WAD),
        cmd.ReportPrices("r1", 0, (("BTC", 51_000 * WAD), ("ETH", 2_550 * WAD))),  # out of the band
        cmd.Tick(),
        cmd.ReportPrices("r1", 0, (("BTC", 30_000 * WAD), ("ETH", 1_500 * WAD))),  # trips the breaker
        cmd.ResolveHalt(accept=False),
        cmd.Pause(),
        cmd.Resume(),
        cmd.UpdateParameters((("mint_fee_bps", 20),)),
        cmd.ClaimFees("dao", 1),
        cmd.SettleProduct(),
        cmd.Redeem("bob", WAD, 0),
    ]
    kinds = set()
    for step in steps:
        scenario.advance(60)
        command = attrs.evolve(step, observed_at=scenario.now) if isinstance(step, cmd.ReportPrices) else step
        events = scenario.run(command)
        assert events, command
        for event in events:
            assert event.at == scenario.now, event
            kinds.add(type(event))
    assert {ev.Accrued, ev.Rebalanced, ev.CircuitBreakerTripped, ev.HaltResolved, ev.Settled} <= kinds
    assert {ev.FeesClaimed, ev.SettlementRedeemed, ev.ParametersUpdated, ev.FundingRateSet} <= kinds


# Balances are spent up to the last token base unit: a transfer or a redemption of exactly
# the holder's balance is accepted, one unit more is refused (`balance < amount` → `<=`
# in decide_transfer and in the redemption's balance check would refuse the whole balance).
def test_a_holder_can_transfer_or_redeem_exactly_its_whole_balance_and_not_one_unit_more():
    scenario = minted()
    state, now = scenario.product, scenario.now
    balance = state.balance_of("alice")
    with pytest.raises(InsufficientBalance):
        decide(state, cmd.Transfer("alice", "bob", balance + 1), now)
    moved = only(ev.Transferred, decide(state, cmd.Transfer("alice", "bob", balance), now))
    assert moved.tokens == balance
    with pytest.raises(InsufficientBalance):
        decide(state, cmd.Redeem("alice", balance + 1, 0), now)
    assert only(ev.Redeemed, decide(state, cmd.Redeem("alice", balance, 0), now)).tokens_burned == balance
    scenario.run(cmd.SettleProduct())
    settled = scenario.product
    with pytest.raises(InsufficientBalance):
        decide(settled, cmd.Redeem("alice", balance + 1, 0), now)
    assert (
        only(ev.SettlementRedeemed, decide(settled, cmd.Redeem("alice", balance, 0), now)).tokens_burned
        == balance
    )


# Found by `make mutate`: the field names passed to check_holder_id in decide_transfer
# survived being dropped: no test read which holder of a transfer was refused. The
# rejection names the field at fault, as every InvalidArgument does (SPEC §7).
@pytest.mark.parametrize("bad", ["", "treasury", "locked:minimum-supply", "a b"])
def test_a_transfer_with_a_bad_holder_id_names_the_field_at_fault(bad):
    scenario = minted()
    state, now = scenario.product, scenario.now
    with pytest.raises(InvalidArgument, match=r"^from_holder_id"):
        decide(state, cmd.Transfer(bad, "bob", 1), now)
    with pytest.raises(InvalidArgument, match=r"^to_holder_id"):
        decide(state, cmd.Transfer("alice", bad, 1), now)


# Found by `make mutate`: `movements=(…) if out else ()` → `if out or True` in the
# settlement redemption survived: a redemption paying nothing recorded a movement of 0.
# A movement records collateral that moved; none moved, none is recorded.
def test_a_settled_redemption_paying_nothing_records_no_movement():
    scenario = minted()
    scenario.run(cmd.SettleProduct())
    redeemed = only(ev.SettlementRedeemed, scenario.run(cmd.Redeem("alice", 1, 0)))
    assert redeemed.collateral_out == 0  # one token base unit's share rounds down to nothing
    assert redeemed.movements == ()
    paid = only(ev.SettlementRedeemed, scenario.run(cmd.Redeem("alice", 10 * WAD, 0)))
    assert paid.movements == (Movement(VAULT, holder_account("alice"), paid.collateral_out),)


# No pure test reached `_require_solvent`: a vault with holders and no equity left (here
# cash exactly covering the debt valued up, or less) takes no mint and pays no redemption;
# it must settle. At equity 0 exactly, `equity_value <= 0` → `< 0` would let both through.
@pytest.mark.parametrize("equity", [0, -1, -1_000 * USDC])
def test_a_vault_with_holders_and_no_equity_refuses_mints_and_redemptions(equity):
    scenario = minted()
    state, now = scenario.product, scenario.now
    debt_value = _debt_value_up(state.vault.debt_units_wad, state.index_price_wad, 6)
    broke = attrs.evolve(state, vault=attrs.evolve(state.vault, cash=debt_value + equity))
    with pytest.raises(VaultInsolvent):
        decide(broke, cmd.Mint("bob", 100 * USDC, 0), now)
    with pytest.raises(VaultInsolvent):
        decide(broke, cmd.Redeem("alice", WAD, 0), now)
    healthy = attrs.evolve(state, vault=attrs.evolve(state.vault, cash=debt_value + 100 * USDC))
    assert only(ev.Minted, decide(healthy, cmd.Mint("bob", 100 * USDC, 0), now)).tokens_minted > 0


# A movement records collateral that moved: every movement a decision records moves a
# positive amount, also when a fee or an execution cost is zero (`if quote.fee:` and its
# kin → always true would record movements of 0).
@pytest.mark.parametrize("costs", [0, 10])
def test_every_movement_a_decision_records_moves_a_positive_amount(costs):
    params = attrs.evolve(
        default_params(),
        mint_fee_bps=costs,
        redeem_fee_bps=costs,
        execution_cost_bps=costs,
        streaming_fee_bps=0,
    )
    scenario = minted(5_000 * USDC, params=params)
    for command in (
        cmd.Mint("bob", 700 * USDC, 0),
        cmd.Redeem("alice", 100 * WAD, 0),
        cmd.ReportPrices("r1", 0, (("BTC", 51_000 * WAD), ("ETH", 2_550 * WAD))),  # a sale is due
        cmd.Tick(),
        cmd.ReportPrices("r1", 0, (("BTC", 60_000 * WAD), ("ETH", 3_000 * WAD))),  # a purchase is due
        cmd.Tick(),
        cmd.SettleProduct(),
        cmd.Redeem("bob", 1, 0),  # pays nothing
        cmd.Redeem("bob", WAD, 0),
    ):
        scenario.advance(60)
        fresh = isinstance(command, cmd.ReportPrices)
        scenario.run(attrs.evolve(command, observed_at=scenario.now) if fresh else command)
    recorded = [m for events in scenario.decisions for e in events for m in getattr(e, "movements", ())]
    assert len(recorded) >= 10
    assert all(m.amount > 0 for m in recorded), [m for m in recorded if m.amount <= 0]
    assert len([e for events in scenario.decisions for e in events if isinstance(e, ev.Rebalanced)]) == 2
    # A mint too small to sell a wei of index units (one unit is worth 10^13 dollars).
    dust = launched(components=(Component("X", WAD),), prices={"X": 10**13 * WAD})
    minted_event = only(ev.Minted, dust.run(cmd.Mint("alice", 10, 0)))
    assert minted_event.sale_proceeds == 0
    assert all(m.amount > 0 for m in minted_event.movements), minted_event.movements
    # With no debt a redemption buys nothing back.
    redeemed = only(ev.Redeemed, dust.run(cmd.Redeem("alice", dust.product.balance_of("alice"), 0)))
    assert redeemed.purchase_cost == 0
    assert redeemed.collateral_out > 0
    assert all(m.amount > 0 for m in redeemed.movements), redeemed.movements


# `supply == 0 or …` → `supply != 0 or …` in quote_mint (a later mint hedged at the target
# ratio instead of the vault's own) outlived minutes of tests: the later-mint test starts
# at the target. A later mint keeps the leverage the vault has, also off target, so that
# the holders before it keep their exposure.
@pytest.mark.parametrize("btc", [56_000, 63_000])  # a fall and a rise, both inside the band
def test_a_later_mint_keeps_an_off_target_leverage(btc):
    scenario = minted(1_000 * USDC)
    scenario.report_all({"BTC": btc * WAD, "ETH": btc * WAD // 20})
    scenario.run(cmd.Tick())
    before = scenario.product
    off_target = exact_leverage(before)
    assert abs(off_target + 1) > Fraction(1, 100)  # the band let it drift: no rebalance
    scenario.run(cmd.Mint("bob", 5_000 * USDC, 0))
    assert abs(exact_leverage(scenario.product) - off_target) < Fraction(1, 10**6)


# Found by `make mutate`: a later mint's units priced off the index (`supply == 0 or …` →
# `supply != 0 or …` on the units) survived: the leverage tests allow 10^-6. A later mint
# sells the vault's own mix: units in the proportion debt units / debt value (valued up),
# of the hedge notional n = net·D / (E + D·cost), both rounded down.
@given(
    debt_units_wad=st.integers(10**15, 10**22),
    equity=st.integers(USDC, 10**8 * USDC),
    price_wad=st.integers(WAD, 10**5 * WAD),
    amount=st.integers(USDC, 10**7 * USDC),
)
@example(debt_units_wad=10**18 + 3, equity=1_000 * USDC, price_wad=900 * WAD + 7, amount=5_000 * USDC)
def test_a_later_mint_sells_units_in_the_vaults_own_proportion_of_debt_units_to_debt_value(
    debt_units_wad, equity, price_wad, amount
):
    debt_value = value_up(debt_units_wad, price_wad, 6)
    cash = debt_value + equity
    quote = quote_mint(cash, debt_units_wad, 998 * WAD, price_wad, 6, amount, 10, 10, WAD)
    net = amount - quote.fee
    notional = net * debt_value * BPS // (equity * BPS + debt_value * 10)
    assert quote.units_sold_wad * debt_value <= debt_units_wad * notional
    assert debt_units_wad * notional < (quote.units_sold_wad + 1) * debt_value


# Found by `make mutate`: the field names given to check_positive / check_non_negative
# (in decide_transfer, and their kin in the mint, the redemption and the fee claim)
# survived being dropped or changed: a rejected amount is named by its field (SPEC §7).
@pytest.mark.parametrize("amount", [0, -1])
def test_a_bad_amount_is_rejected_naming_its_field(amount):
    scenario = minted()
    state, now = scenario.product, scenario.now
    cases = [
        (cmd.Transfer("alice", "bob", amount), "token_amount"),
        (cmd.Redeem("alice", amount, 0), "token_amount"),
        (cmd.Mint("bob", amount, 0), "collateral_amount"),
        (cmd.ClaimFees("dao", amount), "token_amount"),
    ]
    if amount < 0:
        cases += [
            (cmd.Mint("bob", USDC, amount), "min_tokens_out"),
            (cmd.Redeem("alice", WAD, amount), "min_collateral_out"),
        ]
    for command, field in cases:
        with pytest.raises(InvalidArgument, match=rf"^{field} must "):
            decide(state, command, now)


# `mul_div_up` → `mul_div_down` in leverage_wad outlived minutes of tests: leverage is
# conservative, its magnitude rounded up, so a vault at the ripcord or the band by a
# fraction of a WAD unit is judged there (SPEC §1).
@given(debt_value=st.integers(0, 10**20), equity_value=st.integers(1, 10**20))
@example(debt_value=1, equity_value=3)  # 1/3: rounded up, not down
def test_leverage_is_minus_debt_over_equity_with_the_magnitude_rounded_up(debt_value, equity_value):
    magnitude = -leverage_wad(debt_value, equity_value)
    assert (magnitude - 1) * equity_value < debt_value * WAD <= magnitude * equity_value


# A transfer's event names both holders, and applying it moves the tokens between them
# (`from_holder_id=None` in the Transferred event outlived minutes of tests).
def test_a_transfer_records_both_holders_and_moves_the_tokens_between_them():
    scenario = minted()
    before = scenario.product
    moved = only(ev.Transferred, scenario.run(cmd.Transfer("alice", "bob", 3 * WAD)))
    assert (moved.from_holder_id, moved.to_holder_id, moved.tokens) == ("alice", "bob", 3 * WAD)
    after = scenario.product
    assert after.balance_of("alice") == before.balance_of("alice") - 3 * WAD
    assert after.balance_of("bob") == 3 * WAD
    assert after.vault == before.vault


# Found by `make mutate`: in settle, `max(cash, 0)` → `max(cash, 1)`, a zero repayment
# recorded as a movement, and `debt_units_closed_wad` dropped all survived: no test settled
# a vault with no cash left, nor read the units a settlement closes. A settlement repays
# what cash there is, never more; the rest is the lender's bad debt.
@pytest.mark.parametrize("cash", [0, -5, 7])
def test_a_settlement_repays_what_cash_there_is_and_books_the_rest_as_bad_debt(cash):
    scenario = minted()
    state, now = scenario.product, scenario.now
    broke = attrs.evolve(state, vault=attrs.evolve(state.vault, cash=cash))
    settled = only(ev.Settled, decide(broke, cmd.SettleProduct(), now))
    owed = _debt_value_up(state.vault.debt_units_wad, state.index_price_wad, 6)
    assert settled.debt_units_closed_wad == state.vault.debt_units_wad
    assert settled.debt_value == owed
    assert settled.repaid == max(cash, 0)
    assert settled.bad_debt == owed - max(cash, 0)
    assert settled.cash_after == cash - max(cash, 0)
    assert settled.movements == ((Movement(VAULT, MARKET, cash),) if cash > 0 else ())


# Found by `make mutate`: require_not_halted's detail (`pending = None`) survived: no test
# read what a halted product tells the client. The refusal names the pending index price,
# the move a quorum or an admin must now judge.
def test_a_halted_product_refuses_a_mint_naming_the_pending_index_price():
    scenario = minted()
    tripped = only(ev.CircuitBreakerTripped, scenario.report_all({"BTC": 30_000 * WAD, "ETH": 1_500 * WAD}))
    with pytest.raises(ProductHalted, match=rf"pending index price {tripped.pending.index_price_wad}\b"):
        scenario.run(cmd.Mint("bob", USDC, 0))


# Found by `make mutate`: the accounts of a mint's and a redemption's movements (`MARKET` →
# `None`, the holder's account → `None`) died only after minutes of the state machine's
# ledger laws. Each movement names the two accounts the collateral moves between: the holder
# pays the vault its net and the treasury its fee, the market pays the vault a sale and is
# paid a purchase and every execution cost; the vault pays a redeemer and the treasury.
def test_each_movement_of_a_mint_or_a_redemption_names_the_accounts_it_moves_between():
    params = attrs.evolve(default_params(), mint_fee_bps=10, redeem_fee_bps=10, execution_cost_bps=10)
    scenario = minted(5_000 * USDC, params=params)
    bob = holder_account("bob")
    mint = only(ev.Minted, scenario.run(cmd.Mint("bob", 700 * USDC, 0)))
    assert min(mint.fee, mint.sale_proceeds, mint.execution_cost) > 0
    assert mint.movements == (
        Movement(bob, VAULT, mint.collateral_in - mint.fee),
        Movement(bob, TREASURY, mint.fee),
        Movement(MARKET, VAULT, mint.sale_proceeds),
        Movement(VAULT, MARKET, mint.execution_cost),
    )
    redeemed = only(ev.Redeemed, scenario.run(cmd.Redeem("bob", 100 * WAD, 0)))
    assert min(redeemed.purchase_cost, redeemed.execution_cost, redeemed.fee, redeemed.collateral_out) > 0
    assert redeemed.movements == (
        Movement(VAULT, MARKET, redeemed.purchase_cost),
        Movement(VAULT, MARKET, redeemed.execution_cost),
        Movement(VAULT, bob, redeemed.collateral_out),
        Movement(VAULT, TREASURY, redeemed.fee),
    )


# The accrual's event read field by field: no pure test read the movement of a funding
# payment (its accounts, or its direction when the rate is negative), nor most fields of
# `Accrued`, so mutants there lived until the ledger laws of the state machine. Funding
# on the debt valued up, floored over WAD·year with the remainder carried; the vault pays
# the lender a positive amount and is paid back a negative one (SPEC §2).
@pytest.mark.parametrize("rate_wad", [WAD // 10, -WAD // 10])
def test_an_accrual_pays_funding_between_vault_and_lender_and_mints_the_streaming_fee(rate_wad):
    scenario = minted(5_000 * USDC)
    scenario.run(cmd.ReportFundingRate(rate_wad))
    before = scenario.product
    scenario.advance(3_600)
    accrued = only(ev.Accrued, scenario.run(cmd.Tick()))
    scale = 10**before.params.collateral_decimals
    notional = -((-before.vault.debt_units_wad * before.index_price_wad * scale) // (WAD * WAD))
    total = notional * rate_wad * 3_600 + before.funding_carry
    paid = total // (WAD * SECONDS_PER_YEAR)
    a = Fraction(before.params.streaming_fee_bps * 3_600, BPS * SECONDS_PER_YEAR)
    fee_tokens = int(before.vault.supply * a / (1 - a))
    assert paid != 0
    assert fee_tokens > 0
    payment = Movement(VAULT, LENDER, paid) if paid > 0 else Movement(LENDER, VAULT, -paid)
    assert accrued == ev.Accrued(
        at=scenario.now,
        accrued_from=before.accrued_at,
        debt_notional=notional,
        funding_rate_wad=rate_wad,
        funding_paid=paid,
        funding_carry=total - paid * WAD * SECONDS_PER_YEAR,
        streaming_fee_tokens=fee_tokens,
        supply_before=before.vault.supply,
        cash_after=before.vault.cash - paid,
        supply_after=before.vault.supply + fee_tokens,
        movements=(payment,),
    )


def _quoted_from(before: ProductState, events: list[ev.Event]) -> ProductState:
    """The state a decision quotes from: the state before it, with its accrual applied."""
    state = evolve_all(before, [e for e in events if isinstance(e, ev.Accrued)])
    assert state is not None
    return state


# The events of a mint and a redemption read field by field: mutants wiring a field to the
# wrong value (the price, the NAV after, the cash or units after, the tokens locked, the
# state before its accrual) lived for minutes until the state machine's laws caught them.
# A mint or a redemption records its quote, priced on the state its accrual left (funding
# and the streaming fee accrued first), and the NAV per token before and after it.
@pytest.mark.parametrize("first", [True, False])
def test_a_mint_and_a_redemption_record_their_quote_on_the_accrued_state(first):
    params = attrs.evolve(default_params(), mint_fee_bps=10, redeem_fee_bps=10, execution_cost_bps=10)
    scenario = launched(params=params) if first else minted(5_000 * USDC, params=params)
    scenario.run(cmd.ReportFundingRate(WAD // 10))
    scenario.advance(60)
    before = scenario.product
    events = scenario.run(cmd.Mint("bob", 700 * USDC, 0))
    state = _quoted_from(before, events)
    assert state.accrued_at == scenario.now
    p = state.params
    q = quote_mint(
        state.vault.cash,
        state.vault.debt_units_wad,
        state.vault.supply,
        state.index_price_wad,
        p.collateral_decimals,
        700 * USDC,
        p.mint_fee_bps,
        p.execution_cost_bps,
        p.target_magnitude_wad,
    )
    locked = MINIMUM_LOCKED_SUPPLY if first else 0
    supply_after = state.vault.supply + q.tokens_out
    mint = only(ev.Minted, events)
    assert mint == attrs.evolve(
        mint,
        at=scenario.now,
        holder_id="bob",
        collateral_in=700 * USDC,
        fee=q.fee,
        units_sold_wad=q.units_sold_wad,
        sale_proceeds=q.sale_proceeds,
        execution_cost=q.execution_cost,
        tokens_minted=q.tokens_out - locked,
        tokens_locked=locked,
        price_wad=state.index_price_wad,
        nav_before_wad=WAD if first else nav_per_token_wad(state),
        nav_after_wad=(max(q.equity_after, 0) * WAD * WAD) // (supply_after * 10**p.collateral_decimals),
        cash_after=q.cash_after,
        debt_units_after_wad=q.debt_units_after_wad,
        supply_after=supply_after,
    )
    scenario.advance(60)
    before = scenario.product
    events = scenario.run(cmd.Redeem("bob", 100 * WAD, 0))
    state = _quoted_from(before, events)
    assert state.accrued_at == scenario.now
    q = quote_redeem(
        state.vault.cash,
        state.vault.debt_units_wad,
        state.vault.supply,
        state.index_price_wad,
        p.collateral_decimals,
        100 * WAD,
        p.redeem_fee_bps,
        p.execution_cost_bps,
    )
    supply_after = state.vault.supply - 100 * WAD
    redeemed = only(ev.Redeemed, events)
    assert redeemed == attrs.evolve(
        redeemed,
        at=scenario.now,
        holder_id="bob",
        tokens_burned=100 * WAD,
        units_bought_wad=q.units_bought_wad,
        purchase_cost=q.purchase_cost,
        execution_cost=q.execution_cost,
        gross_out=q.gross_out,
        fee=q.fee,
        collateral_out=q.collateral_out,
        price_wad=state.index_price_wad,
        nav_before_wad=nav_per_token_wad(state),
        nav_after_wad=(max(q.equity_after, 0) * WAD * WAD) // (supply_after * 10**p.collateral_decimals),
        cash_after=q.cash_after,
        debt_units_after_wad=q.debt_units_after_wad,
        supply_after=supply_after,
    )


def _with_equity(state: ProductState, equity: int) -> ProductState:
    debt_value = _debt_value_up(state.vault.debt_units_wad, state.index_price_wad, 6)
    return attrs.evolve(state, vault=attrs.evolve(state.vault, cash=debt_value + equity))


# settle_or_ripcord, the end of every decision, was reached by no fast test: its guards
# lived for minutes until the state machine caught them. A vault with holders and no equity
# left (0 included) settles as wiped out; one with equity past the ripcord is cut back at
# once, but only on a fresh price and when not halted; a settled, empty or unpriced
# product is left alone (SPEC §4).
@pytest.mark.parametrize("equity", [0, -1])
def test_the_end_of_a_decision_settles_a_vault_with_no_equity_left(equity):
    scenario = minted()
    broke = _with_equity(scenario.product, equity)
    # Any price counts, the smallest too: at 10^-18 the debt is worth a base unit, over no cash.
    dust_priced = attrs.evolve(broke, index_price_wad=1, vault=attrs.evolve(broke.vault, cash=0))
    for wiped_out in (broke, dust_priced):
        draft = Draft(wiped_out)
        settle_or_ripcord(draft, scenario.now)
        settled = only(ev.Settled, draft.events)
        assert (settled.reason, settled.at) == ("equity wiped out", scenario.now)
    draft = Draft(_with_equity(scenario.product, 1))  # one base unit of equity: not wiped out
    settle_or_ripcord(draft, scenario.now)
    assert not [e for e in draft.events if isinstance(e, ev.Settled)]
    for untouched in (
        attrs.evolve(broke, settled=True),
        attrs.evolve(broke, vault=attrs.evolve(broke.vault, supply=0)),
        attrs.evolve(broke, index_price_wad=0),
    ):
        draft = Draft(untouched)
        settle_or_ripcord(draft, scenario.now)
        assert draft.events == []


def test_the_end_of_a_decision_cuts_a_leverage_past_the_ripcord_only_on_a_fresh_unhalted_price():
    scenario = minted()
    state = scenario.product
    debt_value = _debt_value_up(state.vault.debt_units_wad, state.index_price_wad, 6)
    past = _with_equity(state, debt_value // 5)  # leverage -5
    assert exact_leverage(past) < Fraction(state.params.ripcord_leverage_wad, WAD)
    max_age = state.params.max_oracle_age_s
    for now in (scenario.now, past.price_observed_at + max_age):
        draft = Draft(past)
        settle_or_ripcord(draft, now)
        rebalances = [e for e in draft.events if isinstance(e, ev.Rebalanced)]
        assert [(r.reason, r.at) for r in rebalances] == [("ripcord", now)]
    for untouched, now in (
        (attrs.evolve(past, halted=True), scenario.now),
        (past, past.price_observed_at + max_age + 1),
        (_with_equity(state, debt_value), scenario.now),  # leverage -1: the target
    ):
        draft = Draft(untouched)
        settle_or_ripcord(draft, now)
        assert draft.events == []


# Found by `make mutate`: `funding.paid > 0` → `>= 0` or `> 1`, and `elif funding.paid < 0`
# → `<= 0` or `< 1`, survived: no test accrued a fee with no funding, nor exactly one base
# unit of funding. A movement records collateral that moved: none when funding rounds to 0,
# one of exactly 1 when it rounds to 1.
def test_an_accrual_records_a_funding_movement_exactly_when_funding_moved_a_base_unit():
    scenario = minted(5_000 * USDC)  # funding rate 0: the streaming fee alone accrues
    scenario.advance(60)
    fee_only = only(ev.Accrued, scenario.run(cmd.Tick()))
    assert (fee_only.funding_paid, fee_only.movements) == (0, ())
    assert fee_only.streaming_fee_tokens > 0
    state = scenario.product
    notional = _debt_value_up(state.vault.debt_units_wad, state.index_price_wad, 6)
    rate_wad = -(-WAD * SECONDS_PER_YEAR // (notional * 60))  # notional·rate·60 just reaches WAD·year
    scenario.run(cmd.ReportFundingRate(rate_wad))
    scenario.advance(60)
    one_unit = only(ev.Accrued, scenario.run(cmd.Tick()))
    assert (one_unit.funding_paid, one_unit.movements) == (1, (Movement(VAULT, LENDER, 1),))


# Found by `make mutate`: `draft.defer_accrual(_accrued(…))` → `defer_accrual(None)`
# survived: no test changed the funding rate after a period whose funding rounded to 0.
# The period before a rate change accrues at the old rate: its carry is written before the
# new rate, or the next accrual would charge the whole period at the new one.
def test_a_rate_change_writes_the_carry_of_a_period_that_moved_no_base_unit():
    params = attrs.evolve(default_params(), streaming_fee_bps=0)
    scenario = minted(5_000 * USDC, params=params)
    scenario.run(cmd.ReportFundingRate(1))  # 10^-18 a year: no base unit in a minute
    scenario.advance(60)
    state = scenario.product
    notional = _debt_value_up(state.vault.debt_units_wad, state.index_price_wad, 6)
    events = scenario.run(cmd.ReportFundingRate(2))
    accrued = only(ev.Accrued, events)
    assert (accrued.funding_paid, accrued.funding_carry) == (0, state.funding_carry + notional * 60)
    assert scenario.product.funding_carry == state.funding_carry + notional * 60
    assert scenario.product.accrued_at == scenario.now


# Found by `make mutate`: `notional = … if state.index_price_wad else 0` → `else 1`
# survived: no test accrued funding on a product before its first price. With no price
# there is no debt (no mint without a fresh price): no funding accrues, not even a carry.
def test_a_product_with_no_price_yet_accrues_no_funding():
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct("IIT-1", DEFAULT_COMPONENTS, default_params()))
    scenario.run(cmd.ReportFundingRate(WAD))
    scenario.advance(3_600)
    scenario.run(cmd.ReportFundingRate(2 * WAD))  # writes the accrual of the hour before
    assert scenario.product.index_price_wad == 0
    assert scenario.product.funding_carry == 0
    assert scenario.product.accrued_at == scenario.now


# Found by `make mutate`: the `minimum` clause of MintTooSmall's message survived being
# dropped, forced or garbled: no test read it. A refused mint tells the client what it must
# yield: a first mint more than the locked minimum supply, a later one a token base unit.
def test_a_refused_mint_says_whether_it_must_yield_more_than_the_locked_minimum():
    first = launched()
    with pytest.raises(MintTooSmall) as refused:
        decide(first.product, cmd.Mint("alice", 1, 0), first.now)
    assert str(refused.value).endswith(
        "it must yield more than the locked minimum supply at least one token base unit"
    )
    later = minted()
    state = later.product
    rich = attrs.evolve(state, vault=attrs.evolve(state.vault, cash=state.vault.cash + 10**30))
    with pytest.raises(MintTooSmall) as refused:  # a token is worth far more than a base unit
        decide(rich, cmd.Mint("bob", 1, 0), later.now)
    assert str(refused.value).endswith(" tokens, it must yield at least one token base unit")


# Found by `make mutate`: `index_price_wad == 0` → `== 1` in current_leverage_wad survived:
# no test asked the leverage at the smallest price. Only no price at all means no leverage;
# any accepted price, 10^-18 included, values the debt and gives one.
def test_a_leverage_exists_at_any_accepted_price_and_not_without_one():
    state = minted().product
    dust_priced = attrs.evolve(state, index_price_wad=1)
    assert current_leverage_wad(dust_priced) == leverage_wad(
        _debt_value_up(state.vault.debt_units_wad, 1, 6),
        state.vault.cash - _debt_value_up(state.vault.debt_units_wad, 1, 6),
    )
    assert current_leverage_wad(attrs.evolve(state, index_price_wad=0)) is None


# Found by `make mutate`: the field name given to check_holder_id in decide_claim_fees
# survived being dropped or changed (and the check of the literal "to_holder_id" in place
# of the holder): no test claimed fees to a bad holder. The rejection names the field at
# fault, as every InvalidArgument does (SPEC §7), and a reserved holder takes no claim.
@pytest.mark.parametrize("bad", ["", "treasury", "locked:minimum-supply", "a b"])
def test_a_fee_claim_to_a_bad_holder_id_is_refused_naming_the_field(bad):
    scenario = minted()
    with pytest.raises(InvalidArgument, match=r"^to_holder_id"):
        decide(scenario.product, cmd.ClaimFees(bad, 1), scenario.now)


# Found by `make mutate`: `-leverage >= ripcord_leverage_wad` → `>` in
# decide_update_parameters survived: no test set the ripcord exactly at the current
# leverage. A new ripcord at or inside the vault's leverage is refused (the next decision
# would fire it); one base unit past it is accepted.
def test_a_new_ripcord_exactly_at_the_current_leverage_is_refused_and_one_unit_past_it_is_not():
    scenario = minted()
    state = scenario.product
    debt_value = _debt_value_up(state.vault.debt_units_wad, state.index_price_wad, 6)
    levered = _with_equity(state, debt_value * 10 // 13)  # |leverage| 1.3: inside the ripcord 1.5
    magnitude = -current_leverage_wad(levered)
    with pytest.raises(InvalidParameters, match="at or past the new ripcord_leverage"):
        decide(levered, cmd.UpdateParameters((("ripcord_leverage_wad", magnitude),)), scenario.now)
    updated = decide(levered, cmd.UpdateParameters((("ripcord_leverage_wad", magnitude + 1),)), scenario.now)
    assert only(ev.ParametersUpdated, updated).params.ripcord_leverage_wad == magnitude + 1


# Found by `make mutate`: next_keeper_due's guard (each `or` → `and`, `== 0` → `== 1`) and
# `due > after` (→ `>=`, or always) survived: no test asked it about a product that cannot
# trade, nor at the continuation's own moment. A product that is settled, halted, empty or
# unpriced gives the keeper no moment (each alone suffices; any price or supply counts);
# a pending continuation is due strictly after `after`, else not at all.
def test_the_keeper_is_woken_only_for_a_product_that_can_trade_and_only_for_a_later_moment():
    scenario = minted()
    state, now = scenario.product, scenario.now
    assert next_keeper_due(state, now) is not None
    assert next_keeper_due(attrs.evolve(state, index_price_wad=1), now) is not None
    for idle in (
        attrs.evolve(state, settled=True),
        attrs.evolve(state, halted=True),
        attrs.evolve(state, vault=attrs.evolve(state.vault, supply=0)),
        attrs.evolve(state, index_price_wad=0),
    ):
        assert next_keeper_due(idle, now) is None
    pending = attrs.evolve(state, rebalance_pending=True, last_rebalance_at=now)
    due = now + state.params.twap_cooldown_s
    assert next_keeper_due(pending, due - 1) == due
    assert next_keeper_due(pending, due) is None
