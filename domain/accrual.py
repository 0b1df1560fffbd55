"""Funding on the debt notional and the streaming fee, brought up to date before every
command that reads the vault (SPEC §2).

Funding is exact over time: the owed amount ``notional × rate × dt / year`` is kept as a
numerator over ``WAD × year``; whole base units are settled with floor division, so what
the vault pays rounds down and what it receives rounds up, and the remainder (always in
``[0, WAD × year)``) carries to the next accrual — ticking every second pays the same
total as ticking once a day.

The streaming fee follows Set Protocol's formula: with ``a = fee × dt / year``, the
treasury receives ``supply × a / (1 − a)`` new tokens, rounded down, so that after the
mint it owns exactly the fraction ``a`` of the supply.
"""

from __future__ import annotations

from attrs import frozen

from domain.fixedpoint import BPS, SECONDS_PER_YEAR, WAD

FUNDING_DENOMINATOR = WAD * SECONDS_PER_YEAR


@frozen
class FundingAccrual:
    """Funding settled in whole base units (positive: paid by the vault) and the carry."""

    paid: int
    carry: int


def accrue_funding(notional: int, rate_wad: int, elapsed_s: int, carry: int) -> FundingAccrual:
    """Funding owed for ``elapsed_s`` on ``notional`` at ``rate_wad`` per year.

    pre: notional >= 0 and elapsed_s >= 0 and 0 <= carry < FUNDING_DENOMINATOR
    post: 0 <= __return__.carry < FUNDING_DENOMINATOR
    post: __return__.paid * FUNDING_DENOMINATOR + __return__.carry == notional * rate_wad * elapsed_s + carry
    """
    total = notional * rate_wad * elapsed_s + carry
    paid = total // FUNDING_DENOMINATOR
    return FundingAccrual(paid=paid, carry=total - paid * FUNDING_DENOMINATOR)


def streaming_fee_tokens(supply: int, fee_bps: int, elapsed_s: int) -> int:
    """Tokens minted to the treasury for ``elapsed_s`` at ``fee_bps`` per year.

    ``a`` is capped below one half (a fee of 10 %/yr reaches it after five years without
    an accrual), so the formula never divides by zero.

    pre: supply >= 0 and 0 <= fee_bps <= 1000 and elapsed_s >= 0
    post: __return__ >= 0
    post: __return__ * (BPS * SECONDS_PER_YEAR - min(fee_bps * elapsed_s, BPS * SECONDS_PER_YEAR // 2)) <= supply * min(fee_bps * elapsed_s, BPS * SECONDS_PER_YEAR // 2)
    """
    denominator = BPS * SECONDS_PER_YEAR
    numerator = min(fee_bps * elapsed_s, denominator // 2)
    return supply * numerator // (denominator - numerator)
