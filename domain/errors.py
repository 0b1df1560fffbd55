"""Named domain errors: every expected rejection has its own type.

Adapters map each type to a gRPC status code in one table (SPEC §5); the ``code``
class attribute names the category so that the table stays small and total.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """An expected rejection of a command. A rejected command produces no event."""

    code: ClassVar[str] = "FAILED_PRECONDITION"


class InvalidArgument(DomainError):
    """The command itself is malformed: a negative amount, an unknown symbol, a bad id."""

    code: ClassVar[str] = "INVALID_ARGUMENT"


class InvalidParameters(InvalidArgument):
    """Product parameters violate a bound or the launch solvency rule."""


class InvalidComponents(InvalidArgument):
    """An index definition is empty, repeats a symbol, or has a non-positive quantity."""


class InvalidPriceReport(InvalidArgument):
    """A price report is non-positive, from the future, or for a symbol the product lacks."""


class NotFound(DomainError):
    """The product or holder does not exist."""

    code: ClassVar[str] = "NOT_FOUND"


class ProductNotFound(NotFound):
    """No product has this id."""


class ProductAlreadyExists(DomainError):
    """A product with this id was launched already."""

    code: ClassVar[str] = "ALREADY_EXISTS"


class ProductPaused(DomainError):
    """Minting is paused by the admin (redemption stays open)."""


class ProductHalted(DomainError):
    """The circuit breaker tripped: nothing that needs a price runs until it is resolved."""


class ProductSettled(DomainError):
    """The product is settled: only pro-rata redemption of what is left is possible."""


class ProductNotHalted(DomainError):
    """A halt resolution was requested for a product that is not halted."""


class InvalidTransition(DomainError):
    """A lifecycle change that does not apply to the current status (e.g. pausing twice)."""


class OracleStale(DomainError):
    """The accepted price is older than ``max_oracle_age_s``."""


class PriceUnavailable(DomainError):
    """No price has been accepted yet for every component of the index."""


class SlippageExceeded(DomainError):
    """The result is worse than the client's ``min_tokens_out`` / ``min_collateral_out``."""


class InsufficientBalance(DomainError):
    """The holder has fewer tokens than the command needs."""


class SupplyCapReached(DomainError):
    """The mint would take the supply over ``supply_cap``."""


class MintTooSmall(DomainError):
    """The mint is too small: it rounds to no tokens, or the first mint cannot lock the minimum."""


class RedeemTooSmall(DomainError):
    """The redemption rounds to no collateral."""


class VaultInsolvent(DomainError):
    """Equity is not positive: the product must be settled, nothing is minted or redeemed at NAV."""
