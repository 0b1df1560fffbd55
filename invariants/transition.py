"""Laws over one event and the states around it (SPEC §4)."""

from __future__ import annotations

from collections.abc import Callable

from domain import events as ev
from domain.fixedpoint import BPS, WAD, collateral_scale
from domain.model import LOCKED_HOLDER, TREASURY_HOLDER, ProductState
from domain.vault_math import equity
from invariants.verdict import Verdict, holds, violated

TransitionInvariant = Callable[[ProductState | None, ev.Event, ProductState], Verdict]


def _equity_at(state: ProductState, price_wad: int) -> tuple[int, int]:
    """Equity as an exact fraction (numerator, denominator) at ``price_wad``."""
    scale = collateral_scale(state.params.collateral_decimals)
    denominator = WAD * WAD
    debt_exact = state.vault.debt_units_wad * price_wad * scale
    return state.vault.cash * denominator - debt_exact, denominator


def _booked_equity(state: ProductState, price_wad: int) -> int:
    """Equity as the vault books it (SPEC §1): its debt valued rounding up."""
    return equity(state.vault.cash, state.vault.debt_units_wad, price_wad, state.params.collateral_decimals)


def no_dilution(before: ProductState | None, event: ev.Event, after: ProductState) -> Verdict:
    """A mint or redeem never lowers the NAV per token of the other holders: at the event's
    price, E_after / S_after ≥ E_before / S_before, with equity as the vault books it (debt
    valued rounding up, SPEC §1; exact equity can differ from it by under one base unit)."""
    name = "no_dilution"
    if before is None or not isinstance(event, ev.Minted | ev.Redeemed):
        return holds(name)
    if before.vault.supply == 0:
        return holds(name)
    e_before = _booked_equity(before, event.price_wad)
    e_after = _booked_equity(after, event.price_wad)
    if after.vault.supply == 0:
        return holds(name)
    if e_after * before.vault.supply < e_before * after.vault.supply:
        return violated(
            name,
            f"{type(event).__name__} of {event.holder_id} lowered NAV per token: equity "
            f"{e_before}/{before.vault.supply} -> {e_after}/{after.vault.supply}",
        )
    return holds(name)


def no_free_money(before: ProductState | None, event: ev.Event, after: ProductState) -> Verdict:
    """A minter gets tokens worth at most what it paid; a redeemer gets at most its share of
    equity. Together: mint then redeem at an unchanged price never returns more than paid in."""
    name = "no_free_money"
    if before is None:
        return holds(name)
    if isinstance(event, ev.Minted) and after.vault.supply > 0:
        e_after, denominator = _equity_at(after, event.price_wad)
        if event.tokens_minted * e_after > event.collateral_in * denominator * after.vault.supply:
            return violated(
                name,
                f"mint of {event.collateral_in} gave {event.tokens_minted} tokens worth more "
                f"than paid at NAV after the mint",
            )
    if (
        isinstance(event, ev.SettlementRedeemed)
        and before.vault.supply > 0
        and event.collateral_out * before.vault.supply > event.tokens_burned * max(before.vault.cash, 0)
    ):
        return violated(
            name,
            f"settlement redemption of {event.tokens_burned} tokens paid {event.collateral_out}, "
            f"more than their pro-rata share of cash {before.vault.cash}",
        )
    if isinstance(event, ev.Redeemed) and before.vault.supply > 0:
        e_before, denominator = _equity_at(before, event.price_wad)
        if event.gross_out * denominator * before.vault.supply > event.tokens_burned * e_before:
            return violated(
                name,
                f"redemption of {event.tokens_burned} tokens paid {event.gross_out}, more than "
                f"their share of equity",
            )
    return holds(name)


def rounding_favours_vault(before: ProductState | None, event: ev.Event, after: ProductState) -> Verdict:
    """Fees owed to the vault round up; sale proceeds round down; purchases round up; no
    fee or cost is negative."""
    name = "rounding_favours_vault"
    if before is None:
        return holds(name)
    params = before.params
    scale = collateral_scale(params.collateral_decimals)
    if isinstance(event, ev.Minted):
        exact_proceeds = event.units_sold_wad * event.price_wad * scale
        if min(event.fee, event.execution_cost, event.sale_proceeds) < 0:
            return violated(name, f"negative fee or cost in {event}")
        if event.fee * BPS < event.collateral_in * params.mint_fee_bps:
            return violated(name, f"mint fee {event.fee} rounded down")
        if event.sale_proceeds * WAD * WAD > exact_proceeds:
            return violated(name, f"sale proceeds {event.sale_proceeds} rounded up")
        if event.execution_cost * BPS < event.sale_proceeds * params.execution_cost_bps:
            return violated(name, f"execution cost {event.execution_cost} rounded down")
    if isinstance(event, ev.Redeemed):
        exact_purchase = event.units_bought_wad * event.price_wad * scale
        if min(event.fee, event.execution_cost, event.collateral_out) < 0:
            return violated(name, f"negative fee, cost or payout in {event}")
        if event.fee * BPS < event.gross_out * params.redeem_fee_bps:
            return violated(name, f"redeem fee {event.fee} rounded down")
        if event.purchase_cost * WAD * WAD < exact_purchase:
            return violated(name, f"purchase cost {event.purchase_cost} rounded down")
        if event.execution_cost * BPS < event.purchase_cost * params.execution_cost_bps:
            return violated(name, f"execution cost {event.execution_cost} rounded down")
    if isinstance(event, ev.Rebalanced):
        if event.execution_cost < 0 or event.units_wad < 0:
            return violated(name, f"negative cost or units in {event}")
        if event.execution_cost * BPS < event.notional * params.execution_cost_bps:
            return violated(name, f"rebalance execution cost {event.execution_cost} rounded down")
    if isinstance(event, ev.Accrued) and event.streaming_fee_tokens < 0:
        return violated(name, f"negative streaming fee {event.streaming_fee_tokens}")
    return holds(name)


def lifecycle_respected(before: ProductState | None, event: ev.Event, after: ProductState) -> Verdict:
    """Nothing is minted while paused, halted or settled; nothing trades at NAV while halted
    or settled; SETTLED is terminal."""
    name = "lifecycle_respected"
    if before is None:
        return holds(name)
    if before.settled and not after.settled:
        return violated(name, "a settled product became unsettled")
    if isinstance(event, ev.Minted) and (before.paused or before.halted or before.settled):
        return violated(name, f"minted while {before.status}")
    if isinstance(event, ev.Redeemed | ev.Rebalanced) and (before.halted or before.settled):
        return violated(name, f"{type(event).__name__} while {before.status}")
    if isinstance(event, ev.SettlementRedeemed) and not before.settled:
        return violated(name, "settlement redemption before settlement")
    return holds(name)


def reconstitution_continuous(before: ProductState | None, event: ev.Event, after: ProductState) -> Verdict:
    """Reconstitution never raises the index price, and lowers it by no more than the
    rounding of the new quantities (each rounds down by under one WAD unit, worth under
    ``price / WAD`` of the index price, plus one for the index price's own rounding)."""
    name = "reconstitution_continuous"
    if not isinstance(event, ev.IndexReconstituted):
        return holds(name)
    gap = event.index_price_before_wad - event.index_price_after_wad
    rounding = sum(price // WAD + 1 for _, price in event.component_prices) + 1
    if not 0 <= gap <= rounding:
        return violated(
            name,
            f"index price went from {event.index_price_before_wad} to {event.index_price_after_wad}, "
            f"beyond the rounding bound {rounding}",
        )
    return holds(name)


def settlement_recorded(before: ProductState | None, event: ev.Event, after: ProductState) -> Verdict:
    """A settlement values the debt rounding up at its price, repays what the cash covers,
    and records the rest as the lender's bad debt: ``repaid + bad_debt == debt_value``."""
    name = "settlement_recorded"
    if before is None or not isinstance(event, ev.Settled):
        return holds(name)
    scale = collateral_scale(before.params.collateral_decimals)
    exact = before.vault.debt_units_wad * event.price_wad * scale
    if event.debt_value * WAD * WAD < exact:
        return violated(name, f"debt valued at {event.debt_value}, below its value at the price")
    if event.repaid + event.bad_debt != event.debt_value or min(event.repaid, event.bad_debt) < 0:
        return violated(
            name,
            f"repaid {event.repaid} + bad debt {event.bad_debt} != debt value {event.debt_value}",
        )
    if event.repaid > max(before.vault.cash, 0):
        return violated(name, f"repaid {event.repaid} with only {before.vault.cash} cash")
    if event.bad_debt > 0 and event.repaid < before.vault.cash:
        return violated(name, f"bad debt {event.bad_debt} recorded while cash was left unpaid")
    if after.bad_debt != before.bad_debt + event.bad_debt:
        return violated(name, f"bad debt in state {after.bad_debt} does not include this settlement")
    return holds(name)


def treasury_moves_only_by_claim(
    before: ProductState | None, event: ev.Event, after: ProductState
) -> Verdict:
    """SPEC §2: the treasury is a reserved holder; its tokens leave it only by
    ``FeesClaimed`` (``AdminService.ClaimFees``), exactly the claimed amount, to the named
    holder, never to a reserved one."""
    name = "treasury_moves_only_by_claim"
    if before is None:
        return holds(name)
    was, now = before.balance_of(TREASURY_HOLDER), after.balance_of(TREASURY_HOLDER)
    if isinstance(event, ev.FeesClaimed):
        if event.to_holder_id in (TREASURY_HOLDER, LOCKED_HOLDER):
            return violated(name, f"fees claimed to the reserved holder {event.to_holder_id!r}")
        gained = after.balance_of(event.to_holder_id) - before.balance_of(event.to_holder_id)
        if now != was - event.tokens or gained != event.tokens or now != event.treasury_after:
            return violated(
                name,
                f"claim of {event.tokens}: treasury {was} -> {now} (recorded {event.treasury_after}), "
                f"{event.to_holder_id} gained {gained}",
            )
        return holds(name)
    if now < was:
        return violated(
            name, f"{type(event).__name__} took {was - now} tokens from the treasury without a claim"
        )
    return holds(name)


TRANSITION_INVARIANTS: tuple[TransitionInvariant, ...] = (
    no_dilution,
    no_free_money,
    rounding_favours_vault,
    lifecycle_respected,
    reconstitution_continuous,
    settlement_recorded,
    treasury_moves_only_by_claim,
)


def check_transition(before: ProductState | None, event: ev.Event, after: ProductState) -> list[Verdict]:
    """The verdicts of every transition invariant that is violated."""
    found = []
    for law in TRANSITION_INVARIANTS:
        verdict = law(before, event, after)
        if not verdict.ok:
            found.append(verdict)
    return found
