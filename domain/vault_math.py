"""The money math of the vault: equity, NAV, leverage, and quotes for mint, redeem and
rebalance trades. Pure integer functions on plain numbers, so that CrossHair can prove
their contracts (``make crosshair``) and the decisions stay thin.

Rounding (SPEC §1): debt is valued up and proceeds of a sale down; fees owed to the
vault round up; tokens minted and collateral paid out round down; and each quote
computes the payer's result from the *actual* change in equity, so that rounding and
execution cost land on the minter or redeemer, never on the other holders.
"""

from __future__ import annotations

from attrs import frozen

from domain.fixedpoint import (
    BPS,
    WAD,
    bps_up,
    collateral_scale,
    mul_div_down,
    mul_div_up,
    units_down,
    value_down,
    value_up,
)

TOKEN_DECIMALS = 18


def equity(cash: int, debt_units_wad: int, price_wad: int, collateral_decimals: int) -> int:
    """``cash − debt value``, the debt valued rounding up (assets low, debt high).

    pre: 0 <= debt_units_wad and 0 <= price_wad and 0 <= collateral_decimals <= 18
    post: __return__ <= cash
    """
    return cash - value_up(debt_units_wad, price_wad, collateral_decimals)


def tokens_per_collateral_unit(collateral_decimals: int) -> int:
    """Token base units per collateral base unit at a NAV of exactly 1.

    pre: 0 <= collateral_decimals <= 18
    post: __return__ >= 1
    """
    scale: int = 10 ** (TOKEN_DECIMALS - collateral_decimals)
    return scale


def nav_per_token_wad(equity_value: int, supply: int, collateral_decimals: int) -> int:
    """NAV per whole token in whole collateral units (WAD), rounded down; 1.0 with no supply.

    pre: 0 <= collateral_decimals <= 18 and supply >= 0
    post: supply > 0 or __return__ == WAD
    post: __return__ >= 0
    """
    if supply == 0:
        return WAD
    return mul_div_down(max(equity_value, 0), WAD * WAD, supply * collateral_scale(collateral_decimals))


def leverage_wad(debt_value: int, equity_value: int) -> int:
    """Signed leverage ``−debt value / equity`` as WAD, magnitude rounded up (conservative).

    pre: debt_value >= 0 and equity_value > 0
    post: __return__ <= 0
    post: -__return__ * equity_value >= debt_value * WAD
    """
    return -mul_div_up(debt_value, WAD, equity_value)


def tokens_for_equity_added(added: int, supply: int, equity_before: int) -> int:
    """Tokens for a mint that added ``added`` equity: ``added × supply / equity``, rounded down.

    The law it proves: the other holders' NAV per token is not lowered.

    pre: added >= 0 and supply > 0 and equity_before > 0
    post: __return__ >= 0
    post: __return__ * equity_before <= added * supply
    post: (equity_before + added) * supply >= equity_before * (supply + __return__)
    """
    return mul_div_down(added, supply, equity_before)


def redemption_gross_out(equity_before: int, equity_traded: int, supply: int, tokens: int) -> int:
    """What a redemption of ``tokens`` may pay: the equity left after its trade above what the
    remaining holders must keep (their share before, rounded up), and never more than the
    redeemed share of equity before. Zero or less means the redemption cannot pay its way.

    The laws it proves: no dilution of the remaining holders, and no more than the share.

    pre: equity_before > 0 and 0 < tokens <= supply and equity_traded <= equity_before
    post: __return__ * supply <= equity_before * tokens
    post: __return__ <= 0 or (equity_traded - __return__) * supply >= equity_before * (supply - tokens)
    """
    keep = mul_div_up(equity_before, supply - tokens, supply)
    return min(equity_traded - keep, mul_div_down(equity_before, tokens, supply))


@frozen
class MintQuote:
    """What a mint does to the vault, all amounts in base units."""

    fee: int
    net: int
    units_sold_wad: int
    sale_proceeds: int
    execution_cost: int
    cash_after: int
    debt_units_after_wad: int
    equity_before: int
    equity_after: int
    tokens_out: int  # all new tokens, including any locked on the first mint


def quote_mint(
    cash: int,
    debt_units_wad: int,
    supply: int,
    price_wad: int,
    collateral_decimals: int,
    amount: int,
    fee_bps: int,
    cost_bps: int,
    target_magnitude_wad: int,
) -> MintQuote:
    """Quote a mint of ``amount`` collateral.

    The vault sells index units in proportion to the equity added, so that leverage is
    unchanged (the first mint sets it to the target). The hedge notional ``n`` solves
    ``n = (net − n·cost) × leverage``, so the execution cost is paid from the minter's
    contribution. Tokens = equity added × supply / equity before, rounded down, with the
    equity before valued high and the equity after valued low (both against the minter).
    """
    fee = bps_up(amount, fee_bps)
    net = amount - fee
    debt_value = value_up(debt_units_wad, price_wad, collateral_decimals)
    equity_before = cash - debt_value
    if supply == 0 or debt_units_wad == 0:
        ratio_num, ratio_den = target_magnitude_wad, WAD
    else:
        ratio_num, ratio_den = debt_value, equity_before
    notional = mul_div_down(net, ratio_num * BPS, ratio_den * BPS + ratio_num * cost_bps)
    if supply == 0 or debt_units_wad == 0:
        units = units_down(notional, price_wad, collateral_decimals)
    else:
        units = mul_div_down(debt_units_wad, notional, debt_value)
    proceeds = value_down(units, price_wad, collateral_decimals)
    cost = bps_up(proceeds, cost_bps)
    cash_after = cash + net + proceeds - cost
    debt_after = debt_units_wad + units
    equity_after = cash_after - value_up(debt_after, price_wad, collateral_decimals)
    # The minter buys into the existing equity valued *high* (debt valued down): booked
    # equity understates it by up to a base unit, and at dust sizes pricing tokens off it
    # would hand the minter part of the other holders' equity.
    equity_before_high = cash - value_down(debt_units_wad, price_wad, collateral_decimals)
    added = max(equity_after - equity_before_high, 0)
    if supply == 0:
        tokens = added * tokens_per_collateral_unit(collateral_decimals)
    else:
        tokens = tokens_for_equity_added(added, supply, equity_before_high)
    return MintQuote(
        fee=fee,
        net=net,
        units_sold_wad=units,
        sale_proceeds=proceeds,
        execution_cost=cost,
        cash_after=cash_after,
        debt_units_after_wad=debt_after,
        equity_before=equity_before,
        equity_after=equity_after,
        tokens_out=tokens,
    )


@frozen
class RedeemQuote:
    """What a redemption does to the vault, all amounts in base units."""

    units_bought_wad: int
    purchase_cost: int
    execution_cost: int
    gross_out: int
    fee: int
    collateral_out: int
    cash_after: int
    debt_units_after_wad: int
    equity_before: int
    equity_after: int


def quote_redeem(
    cash: int,
    debt_units_wad: int,
    supply: int,
    price_wad: int,
    collateral_decimals: int,
    tokens: int,
    fee_bps: int,
    cost_bps: int,
) -> RedeemQuote:
    """Quote a redemption of ``tokens``.

    The vault buys back the redeemed share of its debt (rounded up, so it repays at least
    its share), pays the execution cost, and pays out whatever equity is left above what
    the remaining holders must keep (their share before, rounded up). Negative means the
    redemption cannot pay for its own trade: the decision rejects it.
    """
    units = min(mul_div_up(debt_units_wad, tokens, supply), debt_units_wad)
    purchase = value_up(units, price_wad, collateral_decimals)
    cost = bps_up(purchase, cost_bps)
    equity_before = cash - value_up(debt_units_wad, price_wad, collateral_decimals)
    cash_traded = cash - purchase - cost
    debt_after = debt_units_wad - units
    equity_traded = cash_traded - value_up(debt_after, price_wad, collateral_decimals)
    # The remaining holders keep their share of the equity valued *high* (debt valued
    # down), so that the redeemer, not they, bears the rounding of the debt's value.
    equity_before_high = cash - value_down(debt_units_wad, price_wad, collateral_decimals)
    gross = redemption_gross_out(equity_before_high, equity_traded, supply, tokens)
    fee = bps_up(gross, fee_bps) if gross > 0 else 0
    cash_after = cash_traded - max(gross, 0)
    return RedeemQuote(
        units_bought_wad=units,
        purchase_cost=purchase,
        execution_cost=cost,
        gross_out=gross,
        fee=fee,
        collateral_out=gross - fee,
        cash_after=cash_after,
        debt_units_after_wad=debt_after,
        equity_before=equity_before,
        equity_after=equity_traded - max(gross, 0),
    )


@frozen
class RebalanceQuote:
    """A trade back towards target leverage."""

    side: str
    units_wad: int
    notional: int
    execution_cost: int
    capped: bool
    cash_after: int
    debt_units_after_wad: int


def recentered_magnitude_wad(magnitude_wad: int, target_magnitude_wad: int, speed_wad: int) -> int:
    """|leverage| a rebalance aims at: ``speed`` of the way from ``magnitude`` to the target
    (Index Coop FLI's recentering speed; 1.0 is all the way). The distance moved rounds up,
    so any positive speed moves at least one WAD unit and 1.0 lands exactly on target.

    pre: magnitude_wad >= 0 and target_magnitude_wad >= 0 and 0 < speed_wad <= WAD
    post: min(magnitude_wad, target_magnitude_wad) <= __return__ <= max(magnitude_wad, target_magnitude_wad)
    post: speed_wad < WAD or __return__ == target_magnitude_wad
    """
    distance = target_magnitude_wad - magnitude_wad
    moved = mul_div_up(abs(distance), speed_wad, WAD)
    return magnitude_wad + moved if distance >= 0 else magnitude_wad - moved


def sale_notional(excess_wad: int, goal_magnitude_wad: int, cost_bps: int) -> int:
    """The sale ``n`` that takes leverage up to ``g`` after its cost: with ``excess_wad =
    g·E − D·WAD``, ``n = excess / (WAD·(1 + g·c))``, rounded down. The law: the sale never
    takes the debt past ``g`` times the equity its cost leaves, ``(D + n)·WAD ≤ g·(E − c·n)``.

    pre: excess_wad >= 0 and 0 <= goal_magnitude_wad <= 100 * WAD and 0 <= cost_bps <= 1000
    post: __return__ >= 0
    post: __return__ * (WAD * BPS + goal_magnitude_wad * cost_bps) <= excess_wad * BPS
    """
    return mul_div_down(excess_wad, BPS, WAD * BPS + goal_magnitude_wad * cost_bps)


def purchase_notional(shortfall_wad: int, goal_magnitude_wad: int, cost_bps: int) -> int:
    """The purchase ``m`` that takes leverage down to ``g`` after its cost: with
    ``shortfall_wad = D·WAD − g·E``, ``m = shortfall / (WAD·(1 − g·c))``, rounded down. The
    law: it never takes the debt below ``g`` times the equity left, ``(D − m)·WAD ≥
    g·(E − c·m)``. (``g·c ≥ 1``, a cost as large as the leverage it removes, has no
    solution: the caller buys back all the debt it can.)

    pre: shortfall_wad >= 0 and 0 <= goal_magnitude_wad <= 100 * WAD and 0 <= cost_bps <= 1000
    post: __return__ >= 0
    post: goal_magnitude_wad * cost_bps >= WAD * BPS or __return__ * (WAD * BPS - goal_magnitude_wad * cost_bps) <= shortfall_wad * BPS
    """
    denominator = WAD * BPS - goal_magnitude_wad * cost_bps
    if denominator <= 0:
        return shortfall_wad
    return mul_div_down(shortfall_wad, BPS, denominator)


def rebalance_notional(debt_value: int, equity_value: int, goal_magnitude_wad: int, cost_bps: int) -> int:
    """The signed notional that takes leverage to ``goal`` *after* paying its execution cost
    (positive: sell more units, ``sale_notional``; negative: buy back, ``purchase_notional``),
    rounded towards zero so that the vault never trades more than it needs. A sale of ``n``
    leaves debt ``D + n`` and equity ``E − c·n``; solving ``D + n = g·(E − c·n)`` gives
    ``n = (g·E − D) / (1 + g·c)``; a purchase solves ``D − n = g·(E − c·n)``:
    ``n = (D − g·E) / (1 − g·c)``.
    """
    gap = goal_magnitude_wad * equity_value - debt_value * WAD  # WAD-scaled base units
    if gap >= 0:
        return sale_notional(gap, goal_magnitude_wad, cost_bps)
    return -purchase_notional(-gap, goal_magnitude_wad, cost_bps)


def quote_rebalance(
    cash: int,
    debt_units_wad: int,
    price_wad: int,
    collateral_decimals: int,
    goal_magnitude_wad: int,
    cost_bps: int,
    max_trade_notional: int,
) -> RebalanceQuote:
    """Quote the trade that takes |leverage| to ``goal_magnitude_wad`` once its execution
    cost is paid (``rebalance_notional``; ``max_trade_notional`` caps it, 0 means no cap).
    Selling rounds proceeds down, buying rounds the price up; a trade of zero units is a
    quote with ``units_wad == 0`` (the caller records nothing).
    """
    debt_value = value_up(debt_units_wad, price_wad, collateral_decimals)
    equity_value = cash - debt_value
    gap = rebalance_notional(debt_value, max(equity_value, 1), goal_magnitude_wad, cost_bps)
    wanted = abs(gap)
    capped = 0 < max_trade_notional < wanted
    notional = max_trade_notional if capped else wanted
    units = units_down(notional, price_wad, collateral_decimals)
    if gap >= 0:
        proceeds = value_down(units, price_wad, collateral_decimals)
        cost = bps_up(proceeds, cost_bps)
        return RebalanceQuote(
            side="sell",
            units_wad=units,
            notional=proceeds,
            execution_cost=cost,
            capped=capped,
            cash_after=cash + proceeds - cost,
            debt_units_after_wad=debt_units_wad + units,
        )
    units = min(units, debt_units_wad)
    purchase = value_up(units, price_wad, collateral_decimals)
    cost = bps_up(purchase, cost_bps)
    return RebalanceQuote(
        side="buy",
        units_wad=units,
        notional=purchase,
        execution_cost=cost,
        capped=capped,
        cash_after=cash - purchase - cost,
        debt_units_after_wad=debt_units_wad - units,
    )
