"""What a mutating RPC's reply is built from: the command's own outcome, never the product
as stored now, so that a repeat answers the first reply field for field (SPEC §2)."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.grpc import wire
from adapters.grpc.stubs import common_pb2
from adapters.store.contract import Outcome
from domain import events as ev
from domain.model import ProductState
from domain.valuation import nav_wad


def product_of(outcome: Outcome) -> common_pb2.Product:
    """The product as the command left it (on a replay: as the first one did), never the
    product as stored now: a repeat answers the first reply whatever happened since."""
    assert outcome.state is not None
    return wire.product(outcome.state, outcome.version)


def redemption(events: Sequence[ev.Event], state: ProductState) -> tuple[int, int, int]:
    """(collateral out, fee, NAV per token after) of a redemption's events."""
    redeemed = [e for e in events if isinstance(e, ev.Redeemed)]
    if redeemed:
        return redeemed[0].collateral_out, redeemed[0].fee, redeemed[0].nav_after_wad
    pro_rata = next(e for e in events if isinstance(e, ev.SettlementRedeemed))
    return pro_rata.collateral_out, 0, nav_wad(state)
