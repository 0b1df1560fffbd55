"""``iit demo``: the scripted market (constants in ``adapters.demo_market``), played against a real node.

A node is started in-process on 127.0.0.1 port 0 with a temporary SQLite store, a
simulated clock and a bearer token per actor; then an admin, three oracle reporters and
four holders drive it through gRPC clients only: a −1× product on a BTC/ETH/SOL index,
mints and redeems, daily resets, a rally that pulls the ripcord, a paused period, a cross
move (BTC up 30 %, ETH and SOL down, the index flat) that each reporter publishes as one
round and that passes without a halt, and a BTC crash that trips the circuit breaker
until more reporters confirm it. Each row shows
the product as ``GetProduct`` returns it and what the events streamed by
``StreamEvents`` since the previous row say; the run ends with ``CheckInvariants``.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

import grpc
from attrs import define, field
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.demo_market import COMPONENTS, DAY, HOUR, REPORTERS, START, USDC, describe
from adapters.formatting import fixed, wad
from adapters.grpc import auth
from adapters.grpc.client import Client
from adapters.grpc.server import NodeConfig, RunningNode, start_node
from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, keeper_pb2, oracle_pb2, token_pb2
from adapters.store.codec import decode_event
from domain.fixedpoint import WAD

PRODUCT = "IIT-DEMO"
HOLDERS = ("alice", "bob", "carol", "dave")
HEADERS = ("time", "step", "index", "NAV/token", "leverage", "vault cash", "status", "what happened")
_STATUS = {
    common_pb2.PRODUCT_STATUS_ACTIVE: "ACTIVE",
    common_pb2.PRODUCT_STATUS_PAUSED: "PAUSED",
    common_pb2.PRODUCT_STATUS_HALTED: "HALTED",
    common_pb2.PRODUCT_STATUS_SETTLED: "SETTLED",
}


def _prices(btc: int, eth: int, sol: int) -> dict[str, int]:
    return {"BTC": btc * WAD, "ETH": eth * WAD, "SOL": sol * WAD}


@define
class Driver:
    """The actors' clients, the simulated time, and the rows printed so far."""

    node: RunningNode
    clients: dict[str, Client]
    now: int = START
    prices: dict[str, int] = field(factory=dict)
    position: int = 0
    requests: int = 0
    rows: list[tuple[str, ...]] = field(factory=list)

    def _rid(self) -> str:
        self.requests += 1
        return f"demo-{self.requests}"

    def _md(self, who: str) -> Client:
        return self.clients[who]

    def at(self, moment: int) -> None:
        """Move the node's simulated clock: ``Tick(now)`` runs the keeper at the new time,
        and whatever it did gets a row of its own."""
        if moment <= self.now:
            return
        admin = self._md("admin")
        admin.keeper.Tick(keeper_pb2.TickRequest(now=Timestamp(seconds=moment)), metadata=admin.md)
        self.now = moment
        described = self._new_events()
        if described != "-":
            self.row("keeper, as the clock moves", described)

    def _new_events(self) -> str:
        admin = self._md("admin")
        stream = admin.audit.StreamEvents(
            audit_pb2.StreamEventsRequest(from_position=self.position, product_id=PRODUCT), metadata=admin.md
        )
        events = []
        for message in stream:
            self.position = message.position
            events.append(decode_event(message.type, message.schema, json.loads(message.payload_json)))
        return describe(events)

    def row(self, label: str, outcome: str | None = None) -> None:
        described = outcome or self._new_events()
        admin = self._md("admin")
        product = admin.token.GetProduct(token_pb2.GetProductRequest(product_id=PRODUCT), metadata=admin.md)
        decimals = product.params.collateral_decimals
        self.rows.append(
            (
                f"d{(self.now - START) // DAY} {((self.now - START) % DAY) // HOUR:02d}h",
                label,
                wad(int(product.index_price), 2),
                wad(int(product.nav_per_token), 6),
                wad(int(product.leverage), 3) if product.leverage else "-",
                fixed(int(product.cash), decimals, 2),
                _STATUS.get(product.status, "?"),
                described,
            )
        )

    def step(self, moment: int, label: str, call: Callable[[], object]) -> None:
        """At ``moment``, re-report the market (a live oracle's heartbeat, unless halted),
        then run ``call``; a rejection is shown as the node's status and message."""
        self.at(moment)
        admin = self._md("admin")
        product = admin.token.GetProduct(token_pb2.GetProductRequest(product_id=PRODUCT), metadata=admin.md)
        if product.status != common_pb2.PRODUCT_STATUS_HALTED and self.prices:
            self._report(REPORTERS, self.prices)
        self._new_events()  # the heartbeat is not this row's story
        try:
            call()
        except grpc.RpcError as error:
            self.row(label, f"rejected: {error.code().name}: {(error.details() or '').split(':')[0]}")
            return
        self.row(label)

    def _report(self, reporters: tuple[str, ...], prices: dict[str, int]) -> None:
        for reporter in reporters:
            client = self._md(reporter)
            for symbol, price in prices.items():
                client.oracle.ReportPrice(
                    oracle_pb2.ReportPriceRequest(
                        symbol=symbol,
                        price=str(price),
                        observed_at=Timestamp(seconds=self.now),
                        reporter_id=reporter,
                        request_id=self._rid(),
                    ),
                    metadata=client.md,
                )

    def round_move(self, moment: int, label: str, prices: dict[str, int]) -> None:
        """Every reporter publishes ``prices`` as one round (``ReportPrices``): each product
        judges the whole index once, so components moving apart trip nothing."""
        self.at(moment)
        halted = accepted = 0
        for reporter in REPORTERS:
            client = self._md(reporter)
            response = client.oracle.ReportPrices(
                oracle_pb2.ReportPricesRequest(
                    reporter_id=reporter,
                    observed_at=Timestamp(seconds=self.now),
                    prices=[oracle_pb2.RoundPrice(symbol=s, price=str(p)) for s, p in prices.items()],
                    request_id=self._rid(),
                ),
                metadata=client.md,
            )
            halted += sum(o.halted for o in response.outcomes)
            accepted += sum(o.price_accepted for o in response.outcomes)
        self.prices = prices
        events = self._new_events()
        summary = f"{accepted} of {len(REPORTERS)} rounds accepted, {halted} halts, index unchanged"
        self.row(label, summary if events == "-" else f"{summary}; {events}")

    def move(
        self,
        moment: int,
        label: str,
        prices: dict[str, int],
        reporters: tuple[str, ...] = REPORTERS,
        adopt: bool = True,
    ) -> None:
        """``reporters`` publish ``prices``; with ``adopt`` they become the market's prices."""
        self.at(moment)
        self._report(reporters, prices)
        if adopt:
            self.prices = prices
        self.row(label)

    # The actors' requests -----------------------------------------------------------------

    def launch(self) -> None:
        admin = self._md("admin")
        admin.admin.LaunchProduct(
            admin_pb2.LaunchProductRequest(
                product_id=PRODUCT,
                components=[
                    common_pb2.Component(symbol=c.symbol, quantity=str(c.quantity_wad)) for c in COMPONENTS
                ],
                params=common_pb2.Params(),  # every parameter at its documented default
                request_id=self._rid(),
            ),
            metadata=admin.md,
        )
        self.row("launch -1x on BTC/ETH/SOL")

    def mint(self, holder: str, collateral: int) -> Callable[[], object]:
        client = self._md(holder)
        request = token_pb2.MintRequest(
            product_id=PRODUCT, holder_id=holder, collateral_amount=str(collateral), request_id=self._rid()
        )
        return lambda: client.token.Mint(request, metadata=client.md)

    def redeem_half(self, holder: str) -> Callable[[], object]:
        client = self._md(holder)

        def call() -> object:
            balance = client.token.GetBalance(
                token_pb2.GetBalanceRequest(product_id=PRODUCT, holder_id=holder), metadata=client.md
            )
            request = token_pb2.RedeemRequest(
                product_id=PRODUCT,
                holder_id=holder,
                token_amount=str(int(balance.tokens) // 2),
                request_id=self._rid(),
            )
            return client.token.Redeem(request, metadata=client.md)

        return call

    def admin_call(self, name: str) -> Callable[[], object]:
        admin = self._md("admin")
        if name == "pause":
            request = admin_pb2.PauseRequest(product_id=PRODUCT, request_id=self._rid())
            return lambda: admin.admin.Pause(request, metadata=admin.md)
        resume = admin_pb2.ResumeRequest(product_id=PRODUCT, request_id=self._rid())
        return lambda: admin.admin.Resume(resume, metadata=admin.md)

    def keeper(self) -> Callable[[], object]:
        """A keeper tick one second on, after the oracles' heartbeat: the tick that ran as the
        clock moved saw an hours-old (stale) price and could only accrue."""
        admin = self._md("admin")

        def call() -> object:
            self.now += 1
            request = keeper_pb2.TickRequest(now=Timestamp(seconds=self.now))
            return admin.keeper.Tick(request, metadata=admin.md)

        return call


def script(d: Driver) -> None:
    """The demo's story, told through the node's API."""
    t = START
    d.launch()
    d.move(t, "3 reporters publish prices", _prices(60_000, 3_000, 150))
    d.step(t + HOUR, "alice mints 10,000", d.mint("alice", 10_000 * USDC))
    d.step(t + 2 * HOUR, "bob mints 5,000", d.mint("bob", 5_000 * USDC))
    d.move(t + 6 * HOUR, "market dips 5%", _prices(57_000, 2_850, 142))
    d.step(t + 12 * HOUR, "carol mints 2,500", d.mint("carol", 2_500 * USDC))
    t += DAY
    d.step(t, "keeper tick: daily reset", d.keeper())
    d.move(t + 8 * HOUR, "rally +9%", _prices(62_000, 3_100, 155))
    d.move(t + 12 * HOUR, "rally +16% more: ripcord", _prices(72_000, 3_600, 180))
    d.step(t + 15 * HOUR, "alice redeems half", d.redeem_half("alice"))
    t += DAY
    d.step(t, "keeper tick: daily reset", d.keeper())
    d.step(t + HOUR, "admin pauses minting", d.admin_call("pause"))
    d.step(t + 2 * HOUR, "dave tries to mint", d.mint("dave", 1_000 * USDC))
    d.move(t + 3 * HOUR, "market drifts", _prices(70_500, 3_520, 176))
    d.step(t + 4 * HOUR, "bob redeems while paused", d.redeem_half("bob"))
    d.step(t + 5 * HOUR, "admin resumes", d.admin_call("resume"))
    # BTC +30 % while ETH and SOL fall by as much value (each -30 %): the index stays at
    # 1,409. Published as rounds, no product sees BTC's move alone.
    cross = {"BTC": 91_650 * WAD, "ETH": 2_462_500 * WAD // 1_000, "SOL": 123_125 * WAD // 1_000}
    d.round_move(t + 6 * HOUR, "cross move in rounds: BTC +30%, ETH/SOL -30%, no halt", cross)
    t += DAY
    d.step(t, "keeper tick: daily reset", d.keeper())
    crash = {**d.prices, "BTC": 55_000 * WAD}
    d.move(t + HOUR, "crash: oracle-a BTC -40% (outvoted)", crash, REPORTERS[:1], adopt=False)
    d.move(t + HOUR + 60, "oracle-b agrees: move > 20%", crash, REPORTERS[1:2], adopt=False)
    d.step(t + 2 * HOUR, "carol tries to redeem", d.redeem_half("carol"))
    d.move(t + 2 * HOUR + 60, "oracle-c and -a confirm", crash, (REPORTERS[2], REPORTERS[0]))
    d.step(t + 3 * HOUR, "keeper tick", d.keeper())
    d.step(t + 4 * HOUR, "carol redeems half", d.redeem_half("carol"))
    t += DAY
    d.step(t, "keeper tick: daily reset", d.keeper())


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS) - 1)]
    lines = []
    for row in [HEADERS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]))
    lines.insert(1, "-" * len(lines[0]))
    return lines


def demo_store_url(directory: Path) -> str:
    """The demo node's SQLite store in ``directory``."""
    return f"sqlite:///{directory}/demo.db"


def start_demo_node(directory: Path, viewer: bool = False) -> tuple[RunningNode, dict[str, str]]:
    """A node on loopback port 0 with a fresh SQLite store in ``directory`` and a simulated
    clock at the demo's start, and a bearer token for the admin, every reporter and holder
    (and a viewer if asked): the node both demos (``iit demo``, ``make dashboard``) play on."""
    tokens = {who: secrets.token_urlsafe(24) for who in ("admin", *REPORTERS, *HOLDERS)}
    entries = [auth.entry("admin", "", tokens["admin"])]
    if viewer:
        tokens["viewer"] = secrets.token_urlsafe(24)
        entries.append(auth.entry("viewer", "", tokens["viewer"]))
    entries += [auth.entry("oracle", r, tokens[r]) for r in REPORTERS]
    entries += [auth.entry("holder", h, tokens[h]) for h in HOLDERS]
    config = NodeConfig(
        store_url=demo_store_url(directory),
        listen="127.0.0.1:0",
        clock="simulated",
        start=START,
        auth=auth.build(entries),
    )
    return start_node(config), tokens


def run_demo(store_dir: Path | None = None) -> tuple[str, bool]:
    """Play the market against a fresh node; return the printed report and whether the
    audit over the wire is clean."""
    directory = store_dir or Path(tempfile.mkdtemp(prefix="iit-demo-"))
    node, tokens = start_demo_node(directory)
    channel = grpc.insecure_channel(f"127.0.0.1:{node.port}")
    try:
        driver = Driver(node, {who: Client(channel, token) for who, token in tokens.items()})
        script(driver)
        admin = driver.clients["admin"]
        report = admin.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=admin.md)
    finally:
        channel.close()
        node.stop(0)
    lines = [
        f"a node on 127.0.0.1:{node.port} (store {demo_store_url(directory)}, simulated clock), "
        "driven through gRPC:",
        "",
        *_table(driver.rows),
        "",
    ]
    verdict = "clean" if report.ok else f"{len(report.violations)} violation(s)"
    lines.append(
        f"CheckInvariants: {report.events_checked} events replayed, {report.invariants_checked} "
        f"invariant checks: {verdict}"
    )
    lines.extend(f"  position {v.position}: {v.invariant}: {v.detail}" for v in report.violations)
    return "\n".join(lines), report.ok
