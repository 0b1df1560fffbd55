"""Integer fixed-point arithmetic with a named rounding direction.

Every division on money in the domain goes through this module, so that each one
states which way it rounds. The rule (SPEC §1, the ERC-4626 rule): what the vault
pays out or credits rounds down, what it is owed rounds up, its debt is valued
rounding up and its assets rounding down.

Units:
- collateral amounts are integers in base units (``10**collateral_decimals`` per unit);
- token amounts are integers with 18 decimals;
- prices, index quantities, leverage and rates are WAD fixed point (18 decimals).

The functions carry PEP 316 contracts that CrossHair proves for all inputs within
the stated bounds (``make crosshair``).
"""

from __future__ import annotations

WAD = 10**18
BPS = 10_000
SECONDS_PER_YEAR = 365 * 24 * 60 * 60


def mul_div_down(a: int, b: int, denominator: int) -> int:
    """``floor(a * b / denominator)`` for non-negative operands.

    pre: 0 <= a and 0 <= b and 0 < denominator
    post: __return__ * denominator <= a * b < (__return__ + 1) * denominator
    """
    return (a * b) // denominator


def div_floor(numerator: int, denominator: int) -> int:
    """``floor(numerator / denominator)``, toward minus infinity for a negative numerator:
    an amount the vault pays rounds down, one it receives (a negative one) rounds up.

    pre: 0 < denominator
    post: __return__ * denominator <= numerator < (__return__ + 1) * denominator
    """
    return numerator // denominator


def mul_div_up(a: int, b: int, denominator: int) -> int:
    """``ceil(a * b / denominator)`` for non-negative operands.

    pre: 0 <= a and 0 <= b and 0 < denominator
    post: (__return__ - 1) * denominator < a * b <= __return__ * denominator
    """
    return -((-(a * b)) // denominator)


def bps_down(amount: int, rate_bps: int) -> int:
    """The share ``rate_bps`` of ``amount``, rounded down (what the vault credits).

    pre: 0 <= amount and 0 <= rate_bps <= BPS
    post: 0 <= __return__ <= amount
    """
    return mul_div_down(amount, rate_bps, BPS)


def bps_up(amount: int, rate_bps: int) -> int:
    """The share ``rate_bps`` of ``amount``, rounded up (what the vault is owed).

    pre: 0 <= amount and 0 <= rate_bps <= BPS
    post: 0 <= __return__ <= amount
    post: __return__ * BPS >= amount * rate_bps
    """
    return mul_div_up(amount, rate_bps, BPS)


def collateral_scale(collateral_decimals: int) -> int:
    """Base units of collateral per whole collateral unit.

    pre: 0 <= collateral_decimals <= 18
    post: __return__ >= 1
    """
    scale: int = 10**collateral_decimals
    return scale


def value_up(units_wad: int, price_wad: int, collateral_decimals: int) -> int:
    """Collateral base units worth ``units_wad`` index units at ``price_wad``, rounded up.

    Used to value what the vault owes (its debt) and what it pays to buy back.

    pre: 0 <= units_wad and 0 <= price_wad and 0 <= collateral_decimals <= 18
    post: __return__ * WAD * WAD >= units_wad * price_wad * 10**collateral_decimals
    """
    return mul_div_up(units_wad * price_wad, collateral_scale(collateral_decimals), WAD * WAD)


def value_down(units_wad: int, price_wad: int, collateral_decimals: int) -> int:
    """Collateral base units worth ``units_wad`` index units at ``price_wad``, rounded down.

    Used for what the vault receives when it sells index units.

    pre: 0 <= units_wad and 0 <= price_wad and 0 <= collateral_decimals <= 18
    post: __return__ * WAD * WAD <= units_wad * price_wad * 10**collateral_decimals
    """
    return mul_div_down(units_wad * price_wad, collateral_scale(collateral_decimals), WAD * WAD)


def units_down(value: int, price_wad: int, collateral_decimals: int) -> int:
    """Index units (WAD) that ``value`` collateral base units buy at ``price_wad``, rounded down.

    pre: 0 <= value and 0 < price_wad and 0 <= collateral_decimals <= 18
    post: __return__ * price_wad * 10**collateral_decimals <= value * WAD * WAD
    """
    return mul_div_down(value, WAD * WAD, price_wad * collateral_scale(collateral_decimals))


def holding_value_down(tokens: int, nav_per_token_wad: int, collateral_decimals: int) -> int:
    """Collateral base units that ``tokens`` (18 decimals) are worth at ``nav_per_token_wad``
    (WAD: whole collateral units per whole token), rounded down: what a position is shown
    to be worth never exceeds what its tokens could claim.

    pre: 0 <= tokens and 0 <= nav_per_token_wad and 0 <= collateral_decimals <= 18
    post: __return__ * WAD * WAD <= tokens * nav_per_token_wad * 10**collateral_decimals
    post: (__return__ + 1) * WAD * WAD > tokens * nav_per_token_wad * 10**collateral_decimals
    """
    return mul_div_down(tokens * nav_per_token_wad, collateral_scale(collateral_decimals), WAD * WAD)


def signed_ratio_wad(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` as WAD, rounded away from zero (conservative for leverage).

    pre: denominator > 0
    post: abs(__return__) * denominator >= abs(numerator) * WAD
    """
    magnitude = mul_div_up(abs(numerator), WAD, denominator)
    return -magnitude if numerator < 0 else magnitude


def median(values: tuple[int, ...]) -> int:
    """The median of a non-empty tuple; for an even count the mean of the middle two, rounded down.

    Prices are not balances: the median of an even count rounds down so that a
    median never exceeds the larger middle report.

    pre: 0 < len(values) <= 5
    post: min(values) <= __return__ <= max(values)
    """
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 1:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2
