"""Known bugs that CrossHair must catch: ``make crosshair`` fails unless CrossHair finds a
counterexample for every contract here. They prove the gate is not vacuous: the same
contracts as the domain's, on implementations that round the wrong way."""

from __future__ import annotations


def fee_rounded_down(amount: int, rate_bps: int) -> int:
    """A fee owed to the vault, wrongly rounded down.

    pre: 0 <= amount and 0 <= rate_bps <= 10_000
    post: __return__ * 10_000 >= amount * rate_bps
    """
    return amount * rate_bps // 10_000


def tokens_rounded_up(added: int, supply: int, equity_before: int) -> int:
    """Tokens for a mint, wrongly rounded up: dilutes the other holders.

    pre: added >= 0 and supply > 0 and equity_before > 0
    post: (equity_before + added) * supply >= equity_before * (supply + __return__)
    """
    return -((-(added * supply)) // equity_before)


def payout_without_keep(equity_before: int, equity_traded: int, supply: int, tokens: int) -> int:
    """A redemption paying its share of equity before the trade, ignoring the trade's cost.

    pre: equity_before > 0 and 0 < tokens <= supply and equity_traded <= equity_before
    post: __return__ <= 0 or (equity_traded - __return__) * supply >= equity_before * (supply - tokens)
    """
    return equity_before * tokens // supply


def debt_valued_down(units_wad: int, price_wad: int) -> int:
    """The debt's value, wrongly rounded down.

    pre: 0 <= units_wad and 0 <= price_wad
    post: __return__ * 10**36 >= units_wad * price_wad * 10**6
    """
    return units_wad * price_wad * 10**6 // 10**36
