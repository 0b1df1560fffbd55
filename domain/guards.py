"""The guards a decision runs before it changes anything: the product is not settled, not
halted by the circuit breaker, and has a fresh accepted price.
"""

from __future__ import annotations

from domain.errors import OracleStale, PriceUnavailable, ProductHalted, ProductSettled
from domain.model import ProductState
from domain.oracle import is_fresh


def require_not_settled(state: ProductState) -> None:
    if state.settled:
        raise ProductSettled(f"product {state.product_id} is settled")


def require_not_halted(state: ProductState) -> None:
    if state.halted:
        pending = state.pending_price
        detail = f" (pending index price {pending.index_price_wad})" if pending else ""
        raise ProductHalted(
            f"product {state.product_id} is halted by the circuit breaker{detail}: "
            "a quorum must confirm the move or an admin must resolve it"
        )


def require_fresh_price(state: ProductState, now: int) -> None:
    if state.index_price_wad == 0:
        raise PriceUnavailable(
            f"product {state.product_id} has no accepted price yet for all of {', '.join(state.symbols)}"
        )
    if not is_fresh(state.price_observed_at, now, state.params.max_oracle_age_s):
        raise OracleStale(
            f"product {state.product_id}: the accepted price was observed at "
            f"{state.price_observed_at}, {now - state.price_observed_at}s ago, older than "
            f"max_oracle_age_s={state.params.max_oracle_age_s}"
        )
