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

``accrue`` applies both to a decision's draft as one ``Accrued`` event (or defers it when
it moves nothing).
"""

from __future__ import annotations

from attrs import frozen

from domain import events as ev
from domain.draft import Draft
from domain.fixedpoint import BPS, SECONDS_PER_YEAR, WAD, div_floor, mul_div_down
from domain.model import LENDER, VAULT, Movement, ProductState
from domain.valuation import debt_value

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
    paid = div_floor(total, FUNDING_DENOMINATOR)
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
    return mul_div_down(supply, numerator, denominator - numerator)


def accrue(draft: Draft, now: int) -> None:
    """Bring funding and the streaming fee up to ``now`` (one ``Accrued`` event)."""
    state = draft.state
    elapsed_s = now - state.accrued_at
    if state.settled or elapsed_s <= 0:
        return
    notional = debt_value(state) if state.index_price_wad else 0
    funding = accrue_funding(notional, state.funding_rate_wad, elapsed_s, state.funding_carry)
    fee_tokens = streaming_fee_tokens(state.vault.supply, state.params.streaming_fee_bps, elapsed_s)
    movements: tuple[Movement, ...] = ()
    if funding.paid == 0 and fee_tokens == 0:
        # No base unit moved: no event, unless a later event of this decision needs the
        # accrual before it. The remainder is not lost: ``accrued_at`` and the carry stay,
        # and the next accrual settles the whole period at the same notional and rate.
        draft.defer_accrual(_accrued(state, now, notional, funding.paid, funding.carry, 0, ()))
        return
    if funding.paid > 0:
        movements = (Movement(VAULT, LENDER, funding.paid),)
    elif funding.paid < 0:
        movements = (Movement(LENDER, VAULT, -funding.paid),)
    draft.emit(_accrued(state, now, notional, funding.paid, funding.carry, fee_tokens, movements))


def _accrued(
    state: ProductState,
    now: int,
    notional: int,
    paid: int,
    carry: int,
    fee_tokens: int,
    movements: tuple[Movement, ...],
) -> ev.Accrued:
    return ev.Accrued(
        at=now,
        accrued_from=state.accrued_at,
        debt_notional=notional,
        funding_rate_wad=state.funding_rate_wad,
        funding_paid=paid,
        funding_carry=carry,
        streaming_fee_tokens=fee_tokens,
        supply_before=state.vault.supply,
        cash_after=state.vault.cash - paid,
        supply_after=state.vault.supply + fee_tokens,
        movements=movements,
    )
