"""One readable line per stored event, for ``iit events``: who, what and how much, every
amount exact with its own decimals (collateral per the product, tokens 18, WAD 18) and
trailing zeros dropped, so a fee of 1,000 base units of a 6-decimal collateral reads
``0.001`` rather than a rounded ``0.00``."""

from __future__ import annotations

from domain import events as ev

TOKEN_DECIMALS = 18
WAD_DECIMALS = 18
HEADER = f"{'POSITION':>8}  {'OCCURRED (UTC)':<20}  {'PRODUCT':<10} {'VERSION':<7} {'TYPE':<22} SUMMARY"


def exact(value: int, decimals: int) -> str:
    """``value`` with ``decimals`` implied decimals, exactly: thousands grouped, no
    trailing zeros in the fraction ("0.001", "1,000", "-2.5")."""
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**decimals)
    digits = str(fraction).rjust(decimals, "0").rstrip("0") if decimals else ""
    return f"{sign}{whole:,}" + (f".{digits}" if digits else "")


def _wad(value: int) -> str:
    return exact(value, WAD_DECIMALS)


def _tokens(value: int) -> str:
    return exact(value, TOKEN_DECIMALS)


def line_of(event: ev.Event, collateral_decimals: int) -> str:
    """What ``event`` says, in a few words with its figures ("" for a bare status change)."""

    def cash(value: int) -> str:
        return exact(value, collateral_decimals)

    match event:
        case ev.ProductLaunched():
            parts = ", ".join(f"{_wad(c.quantity_wad)} {c.symbol}" for c in event.components)
            return f"launched: index {parts}, target leverage {_wad(event.params.target_leverage_wad)}"
        case ev.PriceReported():
            return f"{event.reporter_id} reports {event.symbol} at {_wad(event.price_wad)}"
        case ev.PriceAccepted():
            return f"index price {_wad(event.index_price_wad)} (move {_wad(event.move_wad)})"
        case ev.CircuitBreakerTripped():
            move, limit = _wad(event.pending.move_wad), _wad(event.max_price_move_wad)
            return f"circuit breaker: move {move} beyond {limit}, HALTED"
        case ev.HaltResolved():
            return f"halt resolved by {event.resolved_by}, accepted={event.accepted}"
        case ev.FundingRateSet():
            rate, previous = _wad(event.funding_rate_wad), _wad(event.previous_funding_rate_wad)
            return f"funding rate {rate}/yr (was {previous})"
        case ev.Accrued():
            return (
                f"accrued {event.at - event.accrued_from} s: funding {cash(event.funding_paid)} paid, "
                f"streaming fee {_tokens(event.streaming_fee_tokens)} tokens"
            )
        case ev.Minted():
            return (
                f"{event.holder_id} minted {_tokens(event.tokens_minted)} tokens for "
                f"{cash(event.collateral_in)}, fee {cash(event.fee)}, NAV {_wad(event.nav_after_wad)}"
            )
        case ev.Redeemed():
            return (
                f"{event.holder_id} redeemed {_tokens(event.tokens_burned)} tokens for "
                f"{cash(event.collateral_out)}, fee {cash(event.fee)}, NAV {_wad(event.nav_after_wad)}"
            )
        case ev.SettlementRedeemed():
            tokens, out = _tokens(event.tokens_burned), cash(event.collateral_out)
            return f"{event.holder_id} redeemed {tokens} tokens for {out} (pro rata)"
        case ev.Transferred():
            return f"{event.from_holder_id} -> {event.to_holder_id}: {_tokens(event.tokens)} tokens"
        case ev.Rebalanced():
            return (
                f"rebalance ({event.reason}) {event.side} {_wad(event.units_wad)} units, leverage "
                f"{_wad(event.leverage_before_wad)} -> {_wad(event.leverage_after_wad)}, "
                f"cost {cash(event.execution_cost)}"
            )
        case ev.ParametersUpdated():
            return "parameters updated"
        case ev.IndexReconstituted():
            parts = ", ".join(f"{_wad(c.quantity_wad)} {c.symbol}" for c in event.components)
            return f"index reconstituted: {parts}"
        case ev.Settled():
            return f"settled ({event.reason}): repaid {cash(event.repaid)}, bad debt {cash(event.bad_debt)}"
        case ev.Paused():
            return "minting paused"
        case ev.Resumed():
            return "minting resumed"
    return ""
