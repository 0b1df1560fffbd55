"""A scripted market through the pure domain: what a −1× product does over a few days.

Launch on a 3-asset index, three reporters, mints and redeems by three holders, daily
resets, a rally that pulls the ripcord, a paused period, a spike that trips the circuit
breaker and is confirmed by a second reporter; every step printed as a row, and the
whole log checked against every invariant at the end.
"""

from __future__ import annotations

import attrs

from adapters.formatting import fixed, wad
from domain import commands as cmd
from domain import events as ev
from domain.decide import decide
from domain.draft import current_leverage_wad, nav_wad
from domain.errors import DomainError
from domain.evolve import evolve_all
from domain.fixedpoint import WAD
from domain.model import Component, ProductState
from domain.params import default_params
from invariants.log import LogReport, check_log

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


@attrs.define
class DemoRun:
    """The product as the demo drove it, and the rows it printed."""

    state: ProductState | None = None
    decisions: list[list[ev.Event]] = attrs.Factory(list)
    rows: list[tuple[str, ...]] = attrs.Factory(list)

    def step(self, now: int, label: str, command: cmd.Command) -> list[ev.Event]:
        try:
            events = decide(self.state, command, now)
        except DomainError as error:
            self._row(now, label, f"rejected: {type(error).__name__}")
            return []
        self.state = evolve_all(self.state, events)
        if events:
            self.decisions.append(events)
        self.record(now, label, events)
        return events

    def record(self, now: int, label: str, events: list[ev.Event]) -> None:
        self._row(now, label, describe(events))

    def _row(self, now: int, label: str, outcome: str) -> None:
        state = self.state
        assert state is not None
        leverage = current_leverage_wad(state)
        self.rows.append(
            (
                f"d{(now - START) // DAY} {((now - START) % DAY) // HOUR:02d}h",
                label,
                wad(state.index_price_wad, 2),
                wad(nav_wad(state), 6),
                wad(leverage, 3) if leverage is not None else "-",
                fixed(state.vault.cash, state.params.collateral_decimals, 2),
                state.status.value,
                outcome,
            )
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
            case ev.PriceAccepted() if event.move_wad:
                notes.append(f"index price {wad(event.index_price_wad, 2)} accepted")
            case ev.Paused() | ev.Resumed() | ev.ProductLaunched():
                notes.append(type(event).__name__)
    return "; ".join(dict.fromkeys(notes)) or "-"


def _prices(btc: int, eth: int, sol: int) -> dict[str, int]:
    return {"BTC": btc * WAD, "ETH": eth * WAD, "SOL": sol * WAD}


@attrs.define
class Market:
    """The scripted market: reporters publish prices; a heartbeat re-reports the current
    prices before a holder acts, as live oracles do, so prices stay fresh."""

    run: DemoRun
    prices: dict[str, int] = attrs.Factory(dict)

    def _report(self, now: int, reporters: tuple[str, ...]) -> list[ev.Event]:
        caused: list[ev.Event] = []
        for reporter in reporters:
            for symbol, price in self.prices.items():
                events = decide(self.run.state, cmd.ReportPrice(symbol, price, now, reporter), now)
                self.run.state = evolve_all(self.run.state, events)
                if events:
                    self.run.decisions.append(events)
                caused += events
        return caused

    def move(
        self,
        now: int,
        label: str,
        prices: dict[str, int],
        reporters: tuple[str, ...] = REPORTERS,
        adopt: bool = True,
    ) -> None:
        """``reporters`` publish ``prices``; with ``adopt`` they become the market's prices."""
        previous, self.prices = self.prices, prices
        self.run.record(now, label, self._report(now, reporters))
        if not adopt:
            self.prices = previous

    def act(self, now: int, label: str, command: cmd.Command) -> None:
        if not self.run.state or not self.run.state.halted:
            self._report(now, REPORTERS)
        self.run.step(now, label, command)


def run_demo() -> tuple[DemoRun, LogReport]:
    """Drive the scripted market; return what happened and the audit of the log."""
    run = DemoRun()
    market = Market(run)
    t = START
    run.step(t, "launch -1x on BTC/ETH/SOL", cmd.LaunchProduct("IIT-DEMO", COMPONENTS, default_params()))
    market.move(t, "3 reporters publish prices", _prices(60_000, 3_000, 150))
    market.act(t + HOUR, "alice mints 10,000", cmd.Mint("alice", 10_000 * USDC, 0))
    market.act(t + 2 * HOUR, "bob mints 5,000", cmd.Mint("bob", 5_000 * USDC, 0))
    market.move(t + 6 * HOUR, "market dips 5%", _prices(57_000, 2_850, 142))
    market.act(t + 12 * HOUR, "carol mints 2,500", cmd.Mint("carol", 2_500 * USDC, 0))
    t += DAY
    market.act(t, "keeper tick: daily reset", cmd.Tick())
    market.move(t + 8 * HOUR, "rally +9%", _prices(62_000, 3_100, 155))
    market.move(t + 12 * HOUR, "rally +16% more", _prices(72_000, 3_600, 180))
    market.act(t + 15 * HOUR, "alice redeems half", cmd.Redeem("alice", _half(run, "alice"), 0))
    t += DAY
    market.act(t, "keeper tick: daily reset", cmd.Tick())
    market.act(t + HOUR, "admin pauses minting", cmd.Pause())
    market.act(t + 2 * HOUR, "dave tries to mint", cmd.Mint("dave", 1_000 * USDC, 0))
    market.move(t + 3 * HOUR, "market drifts", _prices(70_500, 3_520, 176))
    market.act(t + 4 * HOUR, "bob redeems while paused", cmd.Redeem("bob", _half(run, "bob"), 0))
    market.act(t + 5 * HOUR, "admin resumes", cmd.Resume())
    t += DAY
    market.act(t, "keeper tick: daily reset", cmd.Tick())
    crash = {**market.prices, "BTC": 42_000 * WAD}
    market.move(t + HOUR, "oracle-a: BTC -40% (outvoted)", crash, REPORTERS[:1], adopt=False)
    market.move(t + HOUR + 60, "oracle-b agrees: move > 20%", crash, REPORTERS[1:2])
    market.act(t + 2 * HOUR, "carol tries to redeem", cmd.Redeem("carol", _half(run, "carol"), 0))
    market.move(t + 2 * HOUR + 60, "oracle-c and -a confirm", crash, (REPORTERS[2], REPORTERS[0]))
    market.act(t + 3 * HOUR, "keeper tick", cmd.Tick())
    market.act(t + 4 * HOUR, "carol redeems half", cmd.Redeem("carol", _half(run, "carol"), 0))
    t += DAY
    market.act(t, "keeper tick: daily reset", cmd.Tick())
    return run, check_log(run.decisions)


def _half(run: DemoRun, holder_id: str) -> int:
    assert run.state is not None
    return run.state.balance_of(holder_id) // 2


HEADERS = ("time", "step", "index", "NAV/token", "leverage", "vault cash", "status", "what happened")


def render(run: DemoRun, report: LogReport) -> str:
    """The demo's table and the audit's verdict."""
    widths = [max(len(row[i]) for row in [HEADERS, *run.rows]) for i in range(len(HEADERS) - 1)]
    lines = []
    for row in [HEADERS, *run.rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]))
    lines.insert(1, "-" * len(lines[0]))
    verdict = "clean" if report.ok else f"{len(report.violations)} violation(s)"
    lines.append("")
    lines.append(f"audit: {report.events_checked} events replayed, every invariant checked: {verdict}")
    lines.extend(f"  position {v.position}: {v.invariant}: {v.detail}" for v in report.violations)
    return "\n".join(lines)
