"""What the dashboard shows of an event: a line for a person, with the holder, the amounts
in their units (collateral with its decimals, tokens with 18, prices and leverage as WAD)
and the rebalance reason. Pure: exact decimal strings from integers, never a float."""

from __future__ import annotations

from domain import events as ev

TOKEN_DECIMALS = 18
WAD_DECIMALS = 18


def exact(value: int, decimals: int) -> str:
    """``value`` with ``decimals`` implied decimals, every significant digit kept (trailing
    zeros of the fraction dropped), thousands grouped: 1234500000 with 6 is "1,234.5"."""
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**decimals)
    digits = str(fraction).rjust(decimals, "0").rstrip("0") if decimals else ""
    return f"{sign}{whole:,}" + (f".{digits}" if digits else "")


def wad(value: int) -> str:
    return exact(value, WAD_DECIMALS)


def tokens(value: int) -> str:
    return f"{exact(value, TOKEN_DECIMALS)} tokens"


def percent(fraction_wad: int) -> str:
    return f"{exact(fraction_wad * 100, WAD_DECIMALS)} %"


def summary(event: ev.Event, collateral_decimals: int) -> tuple[str, str]:
    """(the holder concerned or "", what happened)."""

    def cash(value: int) -> str:
        return f"{exact(value, collateral_decimals)} collateral"

    match event:
        case ev.ProductLaunched():
            p = event.params
            index = ", ".join(f"{wad(c.quantity_wad)} {c.symbol}" for c in event.components)
            return "", (
                f"launched {wad(p.target_leverage_wad)}x on [{index}]; band {wad(p.band_low_wad)}-"
                f"{wad(p.band_high_wad)}, ripcord {wad(p.ripcord_leverage_wad)}"
            )
        case ev.PriceReported():
            return "", f"{event.reporter_id} reports {event.symbol} at {wad(event.price_wad)}"
        case ev.PriceAccepted():
            return "", f"index price {wad(event.index_price_wad)} accepted (move {percent(event.move_wad)})"
        case ev.CircuitBreakerTripped():
            return "", (
                f"HALTED: index move {percent(event.pending.move_wad)} beyond the "
                f"{percent(event.max_price_move_wad)} limit; awaiting confirmation"
            )
        case ev.HaltResolved():
            verdict = "move accepted" if event.accepted else "move rejected"
            return "", f"halt resolved by {event.resolved_by}: {verdict}"
        case ev.FundingRateSet():
            return "", f"funding rate {percent(event.funding_rate_wad)} a year"
        case ev.Accrued():
            return "", (
                f"accrued funding {cash(event.funding_paid)}, "
                f"streaming fee {tokens(event.streaming_fee_tokens)}"
            )
        case ev.Minted():
            return event.holder_id, (
                f"{event.holder_id} minted {tokens(event.tokens_minted)} for {cash(event.collateral_in)} "
                f"(fee {cash(event.fee)})"
            )
        case ev.Redeemed():
            return event.holder_id, (
                f"{event.holder_id} redeemed {tokens(event.tokens_burned)} for {cash(event.collateral_out)} "
                f"(fee {cash(event.fee)})"
            )
        case ev.SettlementRedeemed():
            return event.holder_id, (
                f"{event.holder_id} redeemed {tokens(event.tokens_burned)} pro rata for "
                f"{cash(event.collateral_out)}"
            )
        case ev.Transferred():
            return event.from_holder_id, (
                f"{event.from_holder_id} sent {tokens(event.tokens)} to {event.to_holder_id}"
            )
        case ev.Rebalanced():
            capped = ", capped" if event.capped else ""
            return "", (
                f"rebalance ({event.reason}): {event.side} {wad(event.units_wad)} index units, leverage "
                f"{wad(event.leverage_before_wad)} -> {wad(event.leverage_after_wad)}, cost "
                f"{cash(event.execution_cost)}{capped}"
            )
        case ev.Paused():
            return "", "minting paused by the admin"
        case ev.Resumed():
            return "", "minting resumed by the admin"
        case ev.ParametersUpdated():
            return "", "parameters updated by the admin"
        case ev.IndexReconstituted():
            index = ", ".join(f"{wad(c.quantity_wad)} {c.symbol}" for c in event.components)
            return "", f"index reconstituted: [{index}]"
        case ev.Settled():
            return "", f"SETTLED ({event.reason}), bad debt {cash(event.bad_debt)}"
    return "", type(event).__name__


def collateral_decimals_of(event: ev.Event) -> int | None:
    """A product's collateral decimals, from its launch or a parameter update."""
    if isinstance(event, ev.ProductLaunched | ev.ParametersUpdated):
        return event.params.collateral_decimals
    return None
