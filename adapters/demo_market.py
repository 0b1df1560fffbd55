"""The demo's market (its index, reporters and calendar) and the captions of events.

``iit demo`` (``adapters.grpc.demo``) plays the scripted market against a real node with
these constants; ``describe`` says in a few words what a decision's events did, for the
demo's table and for ``iit events``.
"""

from __future__ import annotations

from adapters.formatting import fixed, wad
from domain import events as ev
from domain.fixedpoint import WAD
from domain.model import Component

START = 1_767_225_600  # 2026-01-01T00:00:00Z
HOUR = 3_600
DAY = 24 * HOUR
USDC = 10**6
REPORTERS = ("oracle-a", "oracle-b", "oracle-c")
COMPONENTS = (
    Component("BTC", WAD // 100),
    Component("ETH", WAD // 10),
    Component("SOL", 2 * WAD),
)


def describe(events: list[ev.Event]) -> str:
    """What a decision's events say, in a few words (for tables and log tails)."""
    notes: list[str] = []
    for event in events:
        match event:
            case ev.Minted():
                notes.append(f"minted {wad(event.tokens_minted, 2)} tokens, fee {fixed(event.fee, 6, 2)}")
            case ev.Redeemed():
                notes.append(f"paid out {fixed(event.collateral_out, 6, 2)}, fee {fixed(event.fee, 6, 2)}")
            case ev.Rebalanced():
                notes.append(
                    f"rebalance ({event.reason}) {event.side} {wad(event.units_wad, 4)} units, "
                    f"leverage {wad(event.leverage_before_wad, 3)} -> {wad(event.leverage_after_wad, 3)}, "
                    f"cost {fixed(event.execution_cost, 6, 2)}"
                )
            case ev.CircuitBreakerTripped():
                notes.append(f"circuit breaker: move {wad(event.pending.move_wad, 3)} > max, HALTED")
            case ev.HaltResolved() if event.resolved_by == "reports":
                notes.append("trip dismissed: the reports that followed put the index back in the band")
            case ev.HaltResolved():
                notes.append(f"halt resolved by {event.resolved_by}, accepted={event.accepted}")
            case ev.Settled():
                notes.append(f"settled, bad debt {fixed(event.bad_debt, 6, 2)}")
            case ev.FeesClaimed():
                notes.append(f"fees claimed: {wad(event.tokens, 2)} tokens to {event.to_holder_id}")
            case ev.PriceAccepted() if event.move_wad:
                notes.append(f"index price {wad(event.index_price_wad, 2)} accepted")
            case ev.Paused() | ev.Resumed() | ev.ProductLaunched():
                notes.append(type(event).__name__)
    return "; ".join(dict.fromkeys(notes)) or "-"
