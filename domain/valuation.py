"""What a product's vault is worth at the accepted price: the debt's value, equity,
leverage and NAV per token (what decisions, invariants and adapters read).
"""

from __future__ import annotations

from domain.fixedpoint import value_up
from domain.model import ProductState
from domain.vault_math import leverage_wad, nav_per_token_wad


def debt_value(state: ProductState) -> int:
    return value_up(state.vault.debt_units_wad, state.index_price_wad, state.params.collateral_decimals)


def current_equity(state: ProductState) -> int:
    return state.vault.cash - debt_value(state)


def current_leverage_wad(state: ProductState) -> int | None:
    """Signed leverage at the accepted price, or None without positive equity or a price."""
    if state.index_price_wad == 0:
        return None
    equity_value = current_equity(state)
    if equity_value <= 0:
        return None
    return leverage_wad(debt_value(state), equity_value)


def nav_wad(state: ProductState) -> int:
    """NAV per token (WAD) at the accepted price; 1.0 before the first mint."""
    if state.settled:
        return nav_per_token_wad(state.vault.cash, state.vault.supply, state.params.collateral_decimals)
    return nav_per_token_wad(current_equity(state), state.vault.supply, state.params.collateral_decimals)
