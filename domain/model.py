"""Value objects and the state of one product: index, oracle book, vault, ledger.

State is immutable: ``domain.evolve`` returns a new state for each event. Mappings
inside a state are never mutated after construction; ``evolve`` copies what it changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import attrs
from attrs import frozen

from domain.params import Params

# Ledger accounts of collateral (SPEC §2). Holders have one account each: "holder:<id>".
VAULT = "vault"
TREASURY = "treasury"
MARKET = "market"
LENDER = "lender"
HOLDER_PREFIX = "holder:"

# Token holders that are not people. The treasury receives the streaming fee; the
# locked holder keeps the minimum supply of the first mint forever (the inflation-attack
# defence of Uniswap V2 and ERC-4626 vaults), so the supply can never return to dust.
TREASURY_HOLDER = "treasury"
LOCKED_HOLDER = "locked:minimum-supply"
MINIMUM_LOCKED_SUPPLY = 10**9
HOLDER_ID_MAX_LEN = 128


def holder_account(holder_id: str) -> str:
    """The ledger account of a holder's collateral."""
    return HOLDER_PREFIX + holder_id


class Status(StrEnum):
    """The lifecycle of SPEC §2, derived from the product's flags (most severe first)."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    HALTED = "HALTED"
    SETTLED = "SETTLED"


class RebalanceReason(StrEnum):
    """Why a rebalance ran."""

    RIPCORD = "ripcord"
    BAND = "band"
    CONTINUATION = "continuation"
    SCHEDULE = "schedule"


@frozen
class Component:
    """One component of an index: ``quantity_wad`` units of ``symbol`` per index unit."""

    symbol: str
    quantity_wad: int


@frozen
class Report:
    """One reporter's latest price for one symbol."""

    reporter_id: str
    price_wad: int
    observed_at: int


@frozen
class Movement:
    """A double-entry movement of collateral: ``source`` is debited, ``destination`` credited."""

    source: str
    destination: str
    amount: int


@frozen
class PendingPrice:
    """A price that tripped the circuit breaker and awaits confirmation or resolution."""

    index_price_wad: int
    component_prices: tuple[tuple[str, int], ...]
    observed_at: int
    move_wad: int


@frozen
class Vault:
    """Collateral cash (base units), index units owed (WAD) and token supply (18 decimals)."""

    cash: int = 0
    debt_units_wad: int = 0
    supply: int = 0


@frozen
class ProductState:
    """Everything the domain knows about one product."""

    product_id: str
    params: Params
    components: tuple[Component, ...]
    launched_at: int
    vault: Vault = Vault()
    balances: Mapping[str, int] = attrs.field(factory=dict)
    ledger: Mapping[str, int] = attrs.field(factory=dict)
    # symbol -> reporter -> latest report; only the index's symbols are kept.
    reports: Mapping[str, Mapping[str, Report]] = attrs.field(factory=dict)
    # The last accepted price: 0 until every component has one.
    index_price_wad: int = 0
    component_prices: tuple[tuple[str, int], ...] = ()
    price_observed_at: int = 0
    # When the price before the current one was observed (a scheduled moment that fell
    # between the two was missed only if that price was stale then).
    previous_price_observed_at: int = 0
    pending_price: PendingPrice | None = None
    # Reports received while halted: only these can confirm a tripped move, so the
    # reports that tripped the breaker never confirm it themselves.
    confirmations: Mapping[str, Mapping[str, Report]] = attrs.field(factory=dict)
    # The reports of the update (round) that tripped the breaker: with ``confirmations``
    # they are the reports "since the trip" that a dismissal or an admin's acceptance uses.
    trip_reports: Mapping[str, Mapping[str, Report]] = attrs.field(factory=dict)
    paused: bool = False
    halted: bool = False
    settled: bool = False
    funding_rate_wad: int = 0
    # Exact remainder of funding not yet settled in whole base units (see domain.accrual).
    funding_carry: int = 0
    accrued_at: int = 0
    next_rebalance_at: int = 0
    rebalance_pending: bool = False
    # A capped (TWAP) trade continues towards this |leverage| (WAD; 0: the target) once
    # ``twap_cooldown_s`` has passed since the last rebalance.
    rebalance_goal_wad: int = 0
    last_rebalance_at: int = 0
    bad_debt: int = 0

    @property
    def status(self) -> Status:
        """The lifecycle status, most severe flag first."""
        if self.settled:
            return Status.SETTLED
        if self.halted:
            return Status.HALTED
        if self.paused:
            return Status.PAUSED
        return Status.ACTIVE

    @property
    def symbols(self) -> tuple[str, ...]:
        """The index's component symbols, in definition order."""
        return tuple(c.symbol for c in self.components)

    def balance_of(self, holder_id: str) -> int:
        """Tokens held by ``holder_id`` (0 for an unknown holder)."""
        return self.balances.get(holder_id, 0)
