"""The single entry point of the pure domain: ``decide(state, command, now) -> events``.

A decision either returns the events that the command causes (possibly none) or raises
a named ``DomainError`` and causes nothing. ``decide_and_apply`` returns the state those
events leave as well (the decision computed it on its way): a writer that stores the
events and keeps the state has no need to apply them again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain import commands as cmd
from domain import events as ev
from domain.decide_admin import (
    decide_claim_fees,
    decide_launch,
    decide_pause,
    decide_reconstitute,
    decide_resolve_halt,
    decide_resume,
    decide_settle,
    decide_update_parameters,
)
from domain.decide_market import (
    decide_rebalance,
    decide_report_funding_rate,
    decide_report_price,
    decide_report_prices,
    decide_tick,
)
from domain.decide_token import decide_mint, decide_redeem, decide_transfer
from domain.draft import Draft
from domain.errors import ProductNotFound
from domain.model import ProductState

_DECISIONS: dict[type[cmd.Command], Callable[[Any, Any, int], Draft]] = {
    cmd.ReportPrice: decide_report_price,
    cmd.ReportPrices: decide_report_prices,
    cmd.ReportFundingRate: decide_report_funding_rate,
    cmd.Mint: decide_mint,
    cmd.Redeem: decide_redeem,
    cmd.Transfer: decide_transfer,
    cmd.Rebalance: decide_rebalance,
    cmd.Tick: decide_tick,
    cmd.Pause: decide_pause,
    cmd.Resume: decide_resume,
    cmd.UpdateParameters: decide_update_parameters,
    cmd.ResolveHalt: decide_resolve_halt,
    cmd.ReconstituteIndex: decide_reconstitute,
    cmd.SettleProduct: decide_settle,
    cmd.ClaimFees: decide_claim_fees,
}


def decide(state: ProductState | None, command: cmd.Command, now: int) -> list[ev.Event]:
    """The events ``command`` causes at time ``now`` (Unix seconds), or a ``DomainError``."""
    return decide_and_apply(state, command, now).events


def decide_and_apply(state: ProductState | None, command: cmd.Command, now: int) -> Draft:
    """The events ``command`` causes at ``now`` and the state after them (the state given
    when there are none), or a ``DomainError``."""
    if isinstance(command, cmd.LaunchProduct):
        return decide_launch(state, command, now)
    if state is None:
        raise ProductNotFound("no such product: launch it first")
    decision = _DECISIONS[type(command)]
    return decision(state, command, now)
