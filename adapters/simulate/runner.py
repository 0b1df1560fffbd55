"""Drive products through a price path with the real domain, one product per policy.

Each step, at the path's time: a funding report if the rate changed, then each reporter
publishes the step's prices, as a round of every component (``ReportPrices``, judged as
one update: the way multi-asset feeds publish; the default) or one report per component
(``feed="per-asset"``: between two reports of one step the index is priced from new and
old component prices, and a trip on such a partial index is dismissed by the step's
later reports), a confirmation by other reporters if the whole step's move tripped the
circuit breaker (a backtest replays history, so a recorded move is a real one; no admin
ever resolves a halt), then the keeper's ``Tick``. The ripcord runs in the decision whose
move crossed it. Between two steps the keeper also runs at every moment a
product has work due (a TWAP chunk after its cooldown, a schedule pinned to a time of
day), as a served node wakes its keeper then. Time
comes from a ``SimulatedClock``; the decisions run in memory (``decide``/``evolve``) or
through the node's application service on a store (``Node.execute``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from attrs import frozen

from adapters.clock import SimulatedClock
from adapters.simulate.paths import PricePath, index_quantities_wad
from adapters.simulate.policies import Policy
from domain import commands as cmd
from domain import events as ev
from domain.decide import decide
from domain.evolve import evolve_all
from domain.model import Component, ProductState
from domain.params import Params
from domain.rebalancing import next_keeper_due
from domain.valuation import current_equity, current_leverage_wad, nav_wad

HOLDER = "sim-holder"
FEEDS = ("rounds", "per-asset")
CATCH_UP_STEPS_MAX = 100_000  # keeper wake-ups between two steps of a path
CONFIRMATION_REPORTERS_MIN = 2  # the domain confirms a tripped move with at least two reporters


def reporters(quorum: int) -> tuple[str, ...]:
    """The oracle reporters of a backtest: as many as the quorum needs."""
    return tuple(f"sim-oracle-{n}" for n in range(1, quorum + 1))


def confirmers(quorum: int) -> tuple[str, ...]:
    """Reporters who confirm a tripped move: ``max(2, quorum)`` others."""
    return tuple(f"sim-confirm-{n}" for n in range(1, max(CONFIRMATION_REPORTERS_MIN, quorum) + 1))


class Driver(Protocol):
    """Runs one command for one product at ``now`` and returns its events and the state after."""

    def execute(self, product_id: str, command: cmd.Command, now: int) -> tuple[list[ev.Event], ProductState]:
        """Decide and apply ``command``."""
        ...


class MemoryDriver:
    """The pure domain and nothing else: ``decide`` then ``evolve``."""

    def __init__(self) -> None:
        self.states: dict[str, ProductState] = {}

    def execute(self, product_id: str, command: cmd.Command, now: int) -> tuple[list[ev.Event], ProductState]:
        state = self.states.get(product_id)
        events = decide(state, command, now)
        after = evolve_all(state, events)
        assert after is not None
        self.states[product_id] = after
        return events, after


class StoreDriver:
    """The node's application service on an event store: every decision is stored, with its
    hash chain and a request id, as the served node stores it (``iit audit`` can check it)."""

    def __init__(self, store_url: str, run_id: str) -> None:
        from adapters.store.node import Node  # noqa: PLC0415 - the store is optional for a backtest

        self.node = Node.open(store_url)
        self.run_id = run_id
        self._count = 0

    def execute(self, product_id: str, command: cmd.Command, now: int) -> tuple[list[ev.Event], ProductState]:
        self._count += 1
        outcome = self.node.execute(product_id, command, f"sim-{self.run_id}-{self._count}", now)
        assert outcome.state is not None
        return list(outcome.events), outcome.state

    def exists(self, product_id: str) -> bool:
        return self.node.load(product_id) is not None


@frozen
class RebalanceNote:
    """One rebalance as the report shows it (amounts in collateral base units)."""

    reason: str
    side: str
    notional: int
    execution_cost: int
    leverage_before_wad: int
    leverage_after_wad: int
    price_wad: int = 0  # the index price it traded at
    at: int = 0


@frozen
class StepRow:
    """The product after one step of the path."""

    time: int
    index_price_wad: int
    equity: int
    nav_wad: int
    leverage_wad: int | None
    worst_leverage_wad: int  # the largest |leverage| of the step before any of its trades
    rebalances: tuple[RebalanceNote, ...]
    funding_paid: int
    circuit_breaker: bool
    status: str


@frozen
class PolicyRun:
    """A product driven through the whole path under one policy."""

    policy: Policy
    product_id: str
    params: Params
    rows: tuple[StepRow, ...]

    @property
    def settled(self) -> bool:
        return self.rows[-1].status == "SETTLED"


@frozen
class Setup:
    """What is launched: parameters (before the policy), components, the initial mint."""

    params: Params
    initial_mint: int  # collateral base units
    funding_wad: int = 0  # constant rate per year, unless the path has a funding column
    quantities_wad: tuple[int, ...] | None = None  # None: an equal-weighted index at 100
    feed: str = "rounds"  # how reporters publish a step: one of FEEDS


def _rebalances(events: Sequence[ev.Event]) -> list[RebalanceNote]:
    return [
        RebalanceNote(
            reason=str(e.reason),
            side=e.side,
            notional=e.notional,
            execution_cost=e.execution_cost,
            leverage_before_wad=e.leverage_before_wad,
            leverage_after_wad=e.leverage_after_wad,
            price_wad=e.price_wad,
            at=e.at,
        )
        for e in events
        if isinstance(e, ev.Rebalanced)
    ]


def _row(
    now: int, state: ProductState, events: Sequence[ev.Event], worst_wad: int, funding_paid: int
) -> StepRow:
    leverage = current_leverage_wad(state)
    notes = tuple(_rebalances(events))
    # Before trading: the leverage the prices left and what each trade started from, never
    # the leverage after a trade (which would hide every value below the target).
    worst = max([worst_wad, *(-n.leverage_before_wad for n in notes)])
    return StepRow(
        time=now,
        index_price_wad=state.index_price_wad,
        equity=current_equity(state) if not state.settled else state.vault.cash,
        nav_wad=nav_wad(state),
        leverage_wad=leverage,
        worst_leverage_wad=worst,
        rebalances=notes,
        funding_paid=funding_paid,
        circuit_breaker=any(isinstance(e, ev.CircuitBreakerTripped) for e in events),
        status=state.status.value,
    )


def _funding_paid(events: Sequence[ev.Event]) -> int:
    return sum(e.funding_paid for e in events if isinstance(e, ev.Accrued))


def _catch_up(
    run: Callable[[cmd.Command], tuple[list[ev.Event], ProductState]],
    clock: SimulatedClock,
    state: ProductState,
    until: int,
) -> tuple[list[ev.Event], ProductState]:
    """The keeper at every moment before ``until`` at which the product has work due."""
    caused: list[ev.Event] = []
    for _ in range(CATCH_UP_STEPS_MAX):
        due = next_keeper_due(state, clock.now())
        if due is None or not clock.now() < due < until:
            break
        clock.advance_to(due)
        ticked, state = run(cmd.Tick())
        caused += ticked
    return caused, state


def run_policy(
    driver: Driver,
    path: PricePath,
    setup: Setup,
    policy: Policy,
    product_id: str,
    progress: Callable[[int], object] | None = None,
) -> PolicyRun:
    """Launch ``product_id`` under ``policy`` and drive it through ``path``."""
    clock = SimulatedClock(path.times[0])
    params = policy.params(setup.params)
    quantities = setup.quantities_wad or index_quantities_wad(path.prices_wad[0])
    components = tuple(Component(s, q) for s, q in zip(path.symbols, quantities, strict=True))

    def run(command: cmd.Command) -> tuple[list[ev.Event], ProductState]:
        return driver.execute(product_id, command, clock.now())

    def report(prices: tuple[int, ...], names: tuple[str, ...]) -> tuple[list[ev.Event], ProductState]:
        caused: list[ev.Event] = []
        state: ProductState | None = None
        pairs = tuple(zip(path.symbols, prices, strict=True))
        for reporter in names:
            if setup.feed == "rounds":
                events, state = run(cmd.ReportPrices(reporter, clock.now(), pairs))
                caused += events
                continue
            for symbol, price in pairs:
                events, state = run(cmd.ReportPrice(symbol, price, clock.now(), reporter))
                caused += events
        assert state is not None
        return caused, state

    events, state = run(cmd.LaunchProduct(product_id, components, params))
    funding = path.funding_wad[0] if path.funding_wad is not None else setup.funding_wad
    if funding:
        events += run(cmd.ReportFundingRate(funding))[0]
    oracles, confirming = reporters(params.oracle_quorum), confirmers(params.oracle_quorum)
    caused, state = report(path.prices_wad[0], oracles)
    minted, state = run(cmd.Mint(HOLDER, setup.initial_mint, 0))
    initial = current_leverage_wad(state)
    rows = [_row(clock.now(), state, [*events, *caused, *minted], -initial if initial else 0, 0)]
    for k in range(1, len(path.times)):
        caused, state = _catch_up(run, clock, state, path.times[k])
        clock.advance_to(path.times[k])
        if path.funding_wad is not None and path.funding_wad[k] != funding:
            funding = path.funding_wad[k]
            caused += run(cmd.ReportFundingRate(funding))[0]
        reported, state = report(path.prices_wad[k], oracles)
        caused += reported
        if state.halted:
            # The whole step's move is past the breaker (a partial index that tripped it
            # was dismissed by the step's later reports): other reporters confirm it.
            confirmed, state = report(path.prices_wad[k], confirming)
            caused += confirmed
        assert not state.halted, f"step {k}: the product stayed halted after its confirmation"
        leverage = current_leverage_wad(state)
        worst = -leverage if leverage is not None else 0
        ticked, state = run(cmd.Tick())
        caused += ticked
        rows.append(_row(clock.now(), state, caused, worst, _funding_paid(caused)))
        if progress is not None:
            progress(1)
        if state.settled:
            if progress is not None:
                progress(len(path.times) - 1 - k)
            break
    return PolicyRun(policy=policy, product_id=product_id, params=params, rows=tuple(rows))


def run_backtest(
    driver: Driver,
    path: PricePath,
    setup: Setup,
    policies: Sequence[Policy],
    product_prefix: str = "SIM",
    progress: Callable[[int], object] | None = None,
) -> list[PolicyRun]:
    """One product per policy, all on the same path."""
    return [
        run_policy(driver, path, setup, policy, f"{product_prefix}-{policy.name.replace('+', '-')}", progress)
        for policy in policies
    ]
