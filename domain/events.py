"""Domain events: immutable, named in the past tense, each readable without the code.

Every event carries ``at`` (seconds since the Unix epoch, passed in by the caller) and
what a reader of the log needs: amounts, prices, the reason. Events that change the
vault carry the vault's figures after the event and the collateral movements of the
double-entry ledger, so that replay is a plain sum and an audit can cross-check both.
"""

from __future__ import annotations

from attrs import frozen

from domain.model import Component, Movement, PendingPrice, RebalanceReason, Report
from domain.params import Params


@frozen(kw_only=True)
class Event:
    """Base of all domain events."""

    at: int


@frozen(kw_only=True)
class ProductLaunched(Event):
    """A product was launched with its index and parameters."""

    product_id: str
    components: tuple[Component, ...]
    params: Params


@frozen(kw_only=True)
class PriceReported(Event):
    """A reporter reported a component price (recorded whether or not it is accepted)."""

    symbol: str
    price_wad: int
    observed_at: int
    reporter_id: str


@frozen(kw_only=True)
class PriceAccepted(Event):
    """The index price moved to a new accepted value (median of fresh reports, quorum met)."""

    index_price_wad: int
    previous_index_price_wad: int
    move_wad: int
    component_prices: tuple[tuple[str, int], ...]
    observed_at: int


@frozen(kw_only=True)
class CircuitBreakerTripped(Event):
    """A candidate price moved more than ``max_price_move``: not applied, product halted."""

    pending: PendingPrice
    last_index_price_wad: int
    max_price_move_wad: int
    # The reports of the update that tripped it, (symbol, report): they count as reported
    # "since the trip" for a dismissal or an admin's acceptance, never as confirmations.
    tripping_reports: tuple[tuple[str, Report], ...] = ()


@frozen(kw_only=True)
class HaltResolved(Event):
    """The halt ended: a quorum confirmed the move, an admin accepted or rejected it, or
    the reports that followed the trip put the index back within ``max_price_move`` and so
    dismissed it (``resolved_by="reports"``, ``accepted`` false: the tripped index is not
    applied; the ``PriceAccepted`` that follows carries the index those reports make)."""

    accepted: bool
    resolved_by: str  # "quorum", "admin" or "reports"
    pending: PendingPrice


@frozen(kw_only=True)
class FundingRateSet(Event):
    """The signed funding rate per year (WAD) on the debt notional changed.

    Positive: the vault pays the lender; negative: the vault receives.
    """

    funding_rate_wad: int
    previous_funding_rate_wad: int


@frozen(kw_only=True)
class Accrued(Event):
    """Funding and the streaming fee were brought up to date from ``accrued_from`` to ``at``."""

    accrued_from: int
    debt_notional: int
    funding_rate_wad: int
    funding_paid: int  # signed base units: positive paid by the vault, negative received
    funding_carry: int
    streaming_fee_tokens: int
    supply_before: int
    cash_after: int
    supply_after: int
    movements: tuple[Movement, ...]


@frozen(kw_only=True)
class Minted(Event):
    """A holder paid collateral in and received tokens; the vault sold index units to hedge."""

    holder_id: str
    collateral_in: int
    fee: int
    units_sold_wad: int
    sale_proceeds: int
    execution_cost: int
    tokens_minted: int
    tokens_locked: int
    price_wad: int
    nav_before_wad: int
    nav_after_wad: int
    cash_after: int
    debt_units_after_wad: int
    supply_after: int
    movements: tuple[Movement, ...]


@frozen(kw_only=True)
class Redeemed(Event):
    """A holder burned tokens for collateral at NAV; the vault bought back index units."""

    holder_id: str
    tokens_burned: int
    units_bought_wad: int
    purchase_cost: int
    execution_cost: int
    gross_out: int
    fee: int
    collateral_out: int
    price_wad: int
    nav_before_wad: int
    nav_after_wad: int
    cash_after: int
    debt_units_after_wad: int
    supply_after: int
    movements: tuple[Movement, ...]


@frozen(kw_only=True)
class Transferred(Event):
    """Tokens moved from one holder to another."""

    from_holder_id: str
    to_holder_id: str
    tokens: int


@frozen(kw_only=True)
class Rebalanced(Event):
    """The vault traded index units back towards its target leverage."""

    reason: RebalanceReason
    side: str  # "sell" (borrow and sell more units) or "buy" (buy back and repay)
    units_wad: int
    notional: int
    execution_cost: int
    price_wad: int
    leverage_before_wad: int
    leverage_after_wad: int
    capped: bool
    next_rebalance_at: int
    cash_after: int
    debt_units_after_wad: int
    movements: tuple[Movement, ...]
    # The signed leverage this rebalance aimed at (the target, or the recentered value);
    # 0 in events stored before recentering existed, whose goal was the target.
    goal_leverage_wad: int = 0


@frozen(kw_only=True)
class Paused(Event):
    """An admin paused minting (redemption stays open)."""


@frozen(kw_only=True)
class Resumed(Event):
    """An admin resumed minting."""


@frozen(kw_only=True)
class ParametersUpdated(Event):
    """An admin changed the product's parameters (validated by the launch rule)."""

    previous: Params
    params: Params
    # The next scheduled rebalance when the change moved the schedule (a new interval or
    # time of day); None keeps it.
    next_rebalance_at: int | None = None


@frozen(kw_only=True)
class IndexReconstituted(Event):
    """An admin replaced the index's components, scaled so the index price does not jump."""

    previous_components: tuple[Component, ...]
    components: tuple[Component, ...]
    component_prices: tuple[tuple[str, int], ...]
    index_price_before_wad: int
    index_price_after_wad: int
    # The oracle's fresh reports that priced the new symbols (symbol, report): they join
    # the product's report book, so reports of every component are accepted at once after.
    new_symbol_reports: tuple[tuple[str, Report], ...] = ()
    # When the oldest price of the new index was observed (0: the accepted price's time).
    observed_at: int = 0


@frozen(kw_only=True)
class Settled(Event):
    """The product was settled: debt closed out, any shortfall recorded as the lender's bad debt."""

    reason: str
    price_wad: int
    debt_units_closed_wad: int
    debt_value: int
    repaid: int
    bad_debt: int
    cash_after: int
    movements: tuple[Movement, ...]


@frozen(kw_only=True)
class SettlementRedeemed(Event):
    """After settlement, a holder redeemed a pro-rata share of the cash that was left."""

    holder_id: str
    tokens_burned: int
    collateral_out: int
    cash_after: int
    supply_after: int
    movements: tuple[Movement, ...]


@frozen(kw_only=True)
class FeesClaimed(Event):
    """An admin moved fee tokens from the treasury to a holder (``AdminService.ClaimFees``)."""

    to_holder_id: str
    tokens: int
    treasury_after: int


ALL_EVENT_TYPES: tuple[type[Event], ...] = (
    ProductLaunched,
    PriceReported,
    PriceAccepted,
    CircuitBreakerTripped,
    HaltResolved,
    FundingRateSet,
    Accrued,
    Minted,
    Redeemed,
    Transferred,
    Rebalanced,
    Paused,
    Resumed,
    ParametersUpdated,
    IndexReconstituted,
    Settled,
    SettlementRedeemed,
    FeesClaimed,
)
