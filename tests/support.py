"""A small driver for tests: runs commands through the pure domain, keeps the log of
decisions, and checks every invariant of the log on demand."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from domain import commands as cmd
from domain.decide import decide
from domain.events import Event
from domain.evolve import evolve_all
from domain.fixedpoint import WAD
from domain.model import Component, ProductState
from domain.params import Params, default_params
from invariants.log import LogReport, check_log

BTC_WAD = WAD // 100  # 0.01 BTC per index unit
ETH_WAD = WAD // 10  # 0.1 ETH per index unit
DEFAULT_COMPONENTS = (Component("BTC", BTC_WAD), Component("ETH", ETH_WAD))
DEFAULT_PRICES = {"BTC": 60_000 * WAD, "ETH": 3_000 * WAD}  # index price 900
USDC = 10**6  # one whole collateral unit in base units (6 decimals)


@attrs.define
class Scenario:
    """A product driven through ``decide``; ``now`` advances only when told."""

    state: ProductState | None = None
    now: int = 1_700_000_000
    decisions: list[list[Event]] = attrs.Factory(list)

    def run(self, command: cmd.Command, now: int | None = None) -> list[Event]:
        if now is not None:
            self.now = now
        events = decide(self.state, command, self.now)
        self.state = evolve_all(self.state, events)
        if events:
            self.decisions.append(events)
        return events

    def advance(self, seconds: int) -> None:
        self.now += seconds

    @property
    def product(self) -> ProductState:
        assert self.state is not None
        return self.state

    def report_all(self, prices: dict[str, int], reporter_id: str = "r1") -> list[Event]:
        events: list[Event] = []
        for symbol, price in prices.items():
            events += self.run(cmd.ReportPrice(symbol, price, self.now, reporter_id))
        return events

    def audit(self) -> LogReport:
        return check_log(self.decisions)


def launched(
    params: Params | None = None,
    components: Sequence[Component] = DEFAULT_COMPONENTS,
    prices: dict[str, int] | None = None,
    product_id: str = "IIT-1",
) -> Scenario:
    """A launched product with a fresh accepted price from reporter ``r1``."""
    scenario = Scenario()
    scenario.run(cmd.LaunchProduct(product_id, tuple(components), params or default_params()))
    scenario.report_all(prices or DEFAULT_PRICES)
    return scenario


def minted(amount: int = 1_000 * USDC, holder_id: str = "alice", **kwargs: object) -> Scenario:
    """A launched product into which ``holder_id`` minted ``amount`` collateral base units."""
    scenario = launched(**kwargs)  # type: ignore[arg-type]
    scenario.run(cmd.Mint(holder_id, amount, 0))
    return scenario
