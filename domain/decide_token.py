"""Decisions of holders: mint, redeem (at NAV, or pro rata after settlement), transfer."""

from __future__ import annotations

from domain import events as ev
from domain.accrual import accrue
from domain.commands import Mint, Redeem, Transfer
from domain.draft import Draft
from domain.errors import (
    InsufficientBalance,
    InvalidArgument,
    MintTooSmall,
    ProductPaused,
    RedeemTooSmall,
    SlippageExceeded,
    SupplyCapReached,
    VaultInsolvent,
)
from domain.fixedpoint import mul_div_down
from domain.guards import require_fresh_price, require_not_halted, require_not_settled
from domain.model import (
    LOCKED_HOLDER,
    MARKET,
    MINIMUM_LOCKED_SUPPLY,
    TREASURY,
    VAULT,
    Movement,
    ProductState,
    holder_account,
)
from domain.settlement import settle_or_ripcord
from domain.validation import check_holder_id, check_non_negative, check_positive
from domain.valuation import current_equity, nav_wad
from domain.vault_math import nav_per_token_wad, quote_mint, quote_redeem


def _require_solvent(state: ProductState) -> int:
    equity_value = current_equity(state)
    if state.vault.supply > 0 and equity_value <= 0:
        raise VaultInsolvent(
            f"product {state.product_id} has equity {equity_value}: it must settle "
            "(the keeper's next tick settles it)"
        )
    return equity_value


def decide_mint(state: ProductState, command: Mint, now: int) -> Draft:
    check_holder_id(command.holder_id)
    check_positive(command.collateral_amount, "collateral_amount")
    check_non_negative(command.min_tokens_out, "min_tokens_out")
    require_not_settled(state)
    require_not_halted(state)
    if state.paused:
        raise ProductPaused(f"product {state.product_id} is paused: minting is stopped")
    require_fresh_price(state, now)
    draft = Draft(state)
    accrue(draft, now)
    state = draft.state
    _require_solvent(state)
    params = state.params
    quote = quote_mint(
        state.vault.cash,
        state.vault.debt_units_wad,
        state.vault.supply,
        state.index_price_wad,
        params.collateral_decimals,
        command.collateral_amount,
        params.mint_fee_bps,
        params.execution_cost_bps,
        params.target_magnitude_wad,
    )
    first_mint = state.vault.supply == 0
    locked = MINIMUM_LOCKED_SUPPLY if first_mint else 0
    tokens_to_holder = quote.tokens_out - locked
    if tokens_to_holder <= 0:
        minimum = "more than the locked minimum supply " if first_mint else ""
        raise MintTooSmall(
            f"a mint of {command.collateral_amount} base units yields {quote.tokens_out} tokens, "
            f"it must yield {minimum}at least one token base unit"
        )
    supply_after = state.vault.supply + quote.tokens_out
    if params.supply_cap and supply_after > params.supply_cap:
        raise SupplyCapReached(
            f"minting {quote.tokens_out} tokens would take the supply to {supply_after}, "
            f"over supply_cap={params.supply_cap}"
        )
    if tokens_to_holder < command.min_tokens_out:
        raise SlippageExceeded(
            f"the mint yields {tokens_to_holder} tokens, fewer than min_tokens_out={command.min_tokens_out}"
        )
    holder = holder_account(command.holder_id)
    movements = [Movement(holder, VAULT, quote.net)]
    if quote.fee:
        movements.append(Movement(holder, TREASURY, quote.fee))
    if quote.sale_proceeds:
        movements.append(Movement(MARKET, VAULT, quote.sale_proceeds))
    if quote.execution_cost:
        movements.append(Movement(VAULT, MARKET, quote.execution_cost))
    draft.emit(
        ev.Minted(
            at=now,
            holder_id=command.holder_id,
            collateral_in=command.collateral_amount,
            fee=quote.fee,
            units_sold_wad=quote.units_sold_wad,
            sale_proceeds=quote.sale_proceeds,
            execution_cost=quote.execution_cost,
            tokens_minted=tokens_to_holder,
            tokens_locked=locked,
            price_wad=state.index_price_wad,
            nav_before_wad=nav_wad(state),
            nav_after_wad=nav_per_token_wad(quote.equity_after, supply_after, params.collateral_decimals),
            cash_after=quote.cash_after,
            debt_units_after_wad=quote.debt_units_after_wad,
            supply_after=supply_after,
            movements=tuple(movements),
        )
    )
    settle_or_ripcord(draft, now)
    return draft


def _check_redeemable_balance(state: ProductState, holder_id: str, tokens: int) -> None:
    balance = state.balance_of(holder_id)
    if balance < tokens:
        raise InsufficientBalance(
            f"holder {holder_id} has {balance} tokens of {state.product_id}, asked to redeem {tokens}"
        )


def decide_redeem(state: ProductState, command: Redeem, now: int) -> Draft:
    check_holder_id(command.holder_id)
    check_positive(command.token_amount, "token_amount")
    check_non_negative(command.min_collateral_out, "min_collateral_out")
    if state.settled:
        return _decide_settlement_redeem(state, command, now)
    require_not_halted(state)
    require_fresh_price(state, now)
    _check_redeemable_balance(state, command.holder_id, command.token_amount)
    draft = Draft(state)
    accrue(draft, now)
    state = draft.state
    _require_solvent(state)
    params = state.params
    quote = quote_redeem(
        state.vault.cash,
        state.vault.debt_units_wad,
        state.vault.supply,
        state.index_price_wad,
        params.collateral_decimals,
        command.token_amount,
        params.redeem_fee_bps,
        params.execution_cost_bps,
    )
    if quote.gross_out <= 0:
        raise RedeemTooSmall(
            f"redeeming {command.token_amount} tokens does not cover its own trade cost: "
            "it would pay out nothing"
        )
    if quote.collateral_out < command.min_collateral_out:
        raise SlippageExceeded(
            f"the redemption pays {quote.collateral_out} base units, less than "
            f"min_collateral_out={command.min_collateral_out}"
        )
    supply_after = state.vault.supply - command.token_amount
    movements = [Movement(VAULT, MARKET, quote.purchase_cost)] if quote.purchase_cost else []
    if quote.execution_cost:
        movements.append(Movement(VAULT, MARKET, quote.execution_cost))
    movements.append(Movement(VAULT, holder_account(command.holder_id), quote.collateral_out))
    if quote.fee:
        movements.append(Movement(VAULT, TREASURY, quote.fee))
    draft.emit(
        ev.Redeemed(
            at=now,
            holder_id=command.holder_id,
            tokens_burned=command.token_amount,
            units_bought_wad=quote.units_bought_wad,
            purchase_cost=quote.purchase_cost,
            execution_cost=quote.execution_cost,
            gross_out=quote.gross_out,
            fee=quote.fee,
            collateral_out=quote.collateral_out,
            price_wad=state.index_price_wad,
            nav_before_wad=nav_wad(state),
            nav_after_wad=nav_per_token_wad(quote.equity_after, supply_after, params.collateral_decimals),
            cash_after=quote.cash_after,
            debt_units_after_wad=quote.debt_units_after_wad,
            supply_after=supply_after,
            movements=tuple(movements),
        )
    )
    settle_or_ripcord(draft, now)
    return draft


def _decide_settlement_redeem(state: ProductState, command: Redeem, now: int) -> Draft:
    """After settlement: a pro-rata share of the cash left, rounded down; no fee, no trade."""
    _check_redeemable_balance(state, command.holder_id, command.token_amount)
    out = mul_div_down(command.token_amount, max(state.vault.cash, 0), state.vault.supply)
    if out < command.min_collateral_out:
        raise SlippageExceeded(
            f"the settled product pays {out} base units for {command.token_amount} tokens, less "
            f"than min_collateral_out={command.min_collateral_out}"
        )
    return Draft.of(
        state,
        ev.SettlementRedeemed(
            at=now,
            holder_id=command.holder_id,
            tokens_burned=command.token_amount,
            collateral_out=out,
            cash_after=state.vault.cash - out,
            supply_after=state.vault.supply - command.token_amount,
            movements=(Movement(VAULT, holder_account(command.holder_id), out),) if out else (),
        ),
    )


def decide_transfer(state: ProductState, command: Transfer, now: int) -> Draft:
    check_holder_id(command.from_holder_id, "from_holder_id")
    check_holder_id(command.to_holder_id, "to_holder_id")
    check_positive(command.token_amount, "token_amount")
    if command.from_holder_id == command.to_holder_id:
        raise InvalidArgument("a transfer needs two different holders")
    balance = state.balance_of(command.from_holder_id)
    if balance < command.token_amount:
        raise InsufficientBalance(
            f"holder {command.from_holder_id} has {balance} tokens, asked to transfer {command.token_amount}"
        )
    assert command.to_holder_id != LOCKED_HOLDER
    return Draft.of(
        state,
        ev.Transferred(
            at=now,
            from_holder_id=command.from_holder_id,
            to_holder_id=command.to_holder_id,
            tokens=command.token_amount,
        ),
    )
