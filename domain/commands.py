"""Commands: what a client asks of one product. Time and ids are passed in, never read.

Idempotency (``request_id``) belongs to the application service around the domain; a
command here is a pure request.
"""

from __future__ import annotations

from attrs import field, frozen

from domain.model import Component
from domain.params import Params, ParamsChanges, params_changes


@frozen
class Command:
    """Base of all commands."""


@frozen
class LaunchProduct(Command):
    product_id: str
    components: tuple[Component, ...]
    params: Params


@frozen
class ReportPrice(Command):
    symbol: str
    price_wad: int
    observed_at: int
    reporter_id: str


@frozen
class ReportFundingRate(Command):
    funding_rate_wad: int


@frozen
class Mint(Command):
    holder_id: str
    collateral_amount: int
    min_tokens_out: int


@frozen
class Redeem(Command):
    holder_id: str
    token_amount: int
    min_collateral_out: int


@frozen
class Transfer(Command):
    from_holder_id: str
    to_holder_id: str
    token_amount: int


@frozen
class Rebalance(Command):
    """A client's request to rebalance: runs only if a rebalance is due."""


@frozen
class Tick(Command):
    """The keeper: accrue, settle or ripcord if needed, and run any due rebalance."""


@frozen
class Pause(Command):
    pass


@frozen
class Resume(Command):
    pass


@frozen
class UpdateParameters(Command):
    """Set some of a product's parameters: ``changes`` holds (name, value) for each field
    the admin set, in name order; every other field keeps the value the product has when
    the command is decided. The command is the patch, not the merged result, so a repeat
    of the request is the same command whatever changed since (SPEC §2). Built from a
    whole ``Params``, it sets every field."""

    changes: ParamsChanges = field(converter=params_changes)


@frozen
class ResolveHalt(Command):
    accept: bool


@frozen
class ReconstituteIndex(Command):
    components: tuple[Component, ...]
    # Prices (WAD) for symbols new to the index; existing symbols keep their accepted price.
    new_symbol_prices: tuple[tuple[str, int], ...]


@frozen
class SettleProduct(Command):
    """An admin's wind-down: close the debt at the accepted price, then pro-rata redemption."""
