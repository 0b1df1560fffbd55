"""Laws of the money math as contracts that CrossHair proves for all inputs within bounds
(``make crosshair``). Each function composes the domain's own functions, so the proof is
about the code that runs. The per-step laws (rounding direction of every division, fees
never negative, no dilution by a mint's tokens, a redemption's payout within its share)
are contracts on the domain functions themselves (``domain/fixedpoint.py``,
``domain/vault_math.py``, ``domain/accrual.py``); this module chains them.

Chain of "no free money" for a mint then a redemption at an unchanged price:
the fee is non-negative, so ``net ≤ amount`` (``bps_up``); a sale adds at most its
proceeds to equity (``sale_adds_at_most_its_proceeds``), so equity added ``≤ net``; and
redeeming the tokens of a mint returns at most the equity it added
(``round_trip_returns_at_most_equity_added``), because a buy-back never values the
remaining debt below its share (``buyback_never_undervalues_debt``).
"""

from __future__ import annotations

from domain.evolve import apply_movements
from domain.fixedpoint import value_down, value_up
from domain.model import Movement
from domain.vault_math import redemption_gross_out, tokens_for_equity_added


def round_trip_returns_at_most_equity_added(equity_before: int, supply: int, added: int) -> int:
    """Gross collateral from redeeming, at once and at an unchanged price, every token that a
    mint adding ``added`` equity created.

    pre: equity_before > 0 and supply > 0 and added >= 0
    post: __return__ <= added
    """
    tokens = tokens_for_equity_added(added, supply, equity_before)
    if tokens == 0:
        return 0
    equity_after_mint = equity_before + added
    return redemption_gross_out(equity_after_mint, equity_after_mint, supply + tokens, tokens)


def sale_adds_at_most_its_proceeds(debt_units_wad: int, units_wad: int, price_wad: int) -> bool:
    """Selling ``units_wad`` more index units raises the debt's value (rounded up) by at least
    the sale proceeds (rounded down): a hedge sale never creates equity.

    pre: 0 <= debt_units_wad and 0 <= units_wad and 0 < price_wad
    post: __return__
    """
    increase = value_up(debt_units_wad + units_wad, price_wad, 6) - value_up(debt_units_wad, price_wad, 6)
    return increase >= value_down(units_wad, price_wad, 6)


def buyback_never_undervalues_debt(debt_units_wad: int, units_wad: int, price_wad: int) -> bool:
    """Buying back part of the debt at the rounded-up price, plus the rest valued rounded up,
    costs at least the whole debt's value: a redemption's trade never creates equity.

    pre: 0 <= units_wad <= debt_units_wad and 0 < price_wad
    post: __return__
    """
    rest = value_up(debt_units_wad - units_wad, price_wad, 6)
    return rest + value_up(units_wad, price_wad, 6) >= value_up(debt_units_wad, price_wad, 6)


def movements_conserve_collateral(
    source_balance: int, destination_balance: int, other_balance: int, amount: int
) -> bool:
    """A movement debits one account and credits another by the same amount: the ledger's
    total is unchanged, whichever accounts it names.

    pre: amount >= 0
    post: __return__
    """
    ledger = {"holder:a": source_balance, "vault": destination_balance, "treasury": other_balance}
    after = apply_movements(ledger, (Movement("holder:a", "vault", amount),))
    return sum(after.values()) == sum(ledger.values())
