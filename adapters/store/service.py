"""The node's use cases over every product of a store: commands at the clock's time, price
reports fanned out to every product holding the asset, and the keeper's tick."""

from __future__ import annotations

from collections.abc import Iterable

from attrs import Factory, field, frozen

from adapters.audit.report import AuditReport, audit
from adapters.clock import Clock
from adapters.store.contract import Outcome
from adapters.store.idempotency import STORED_REQUEST_ID_MAX_LEN
from adapters.store.node import Node
from adapters.store.writer import GroupCommitWriter
from domain import commands as cmd
from domain.errors import InvalidArgument, InvalidPriceReport
from domain.validation import NODE_ID_MARK, shown


@frozen
class NodeService:
    """Every write goes through the store's single group-commit writer."""

    node: Node
    clock: Clock
    writer: GroupCommitWriter = field(
        default=Factory(lambda self: GroupCommitWriter(self.node), takes_self=True)
    )

    def command(self, product_id: str, command: cmd.Command, request_id: str) -> Outcome:
        return self.writer.execute(product_id, command, request_id, self.clock.now())

    def close(self) -> None:
        """Finish the queued commands and stop the writer."""
        self.writer.close()

    def _all(self, requests: dict[str, tuple[cmd.Command, str]], now: int) -> dict[str, Outcome]:
        """Several products' commands at once: they share a commit; the first rejection
        is raised after all have been answered."""
        futures = {pid: self.writer.submit(pid, c, rid, now) for pid, (c, rid) in requests.items()}
        return {pid: future.result() for pid, future in futures.items()}

    def holders_of(self, symbols: str | tuple[str, ...]) -> tuple[str, ...]:
        """The products whose index holds ``symbols`` (any of them)."""
        wanted = {symbols} if isinstance(symbols, str) else set(symbols)
        found = []
        for product_id in self.node.product_ids():
            loaded = self.node.load(product_id)
            if loaded is not None and wanted & set(loaded.state.symbols):
                found.append(product_id)
        return tuple(found)

    def fan_out_ids(self, symbols: str | tuple[str, ...], request_id: str) -> dict[str, str]:
        """The request id of a price report for each product holding any of ``symbols``
        (``request_id#product_id``, so a retried report applies once per product; none
        when no product holds them). The '#' puts it in the node's namespace: a client's own
        ids never contain one. Checked before anything is recorded: a fan-out that failed
        half-way on an id too long would fail the same way on every retry."""
        products = self.holders_of(symbols)
        ids = self.request_ids(products, request_id)
        too_long = [i for i in ids.values() if len(i) > STORED_REQUEST_ID_MAX_LEN]
        if too_long:
            raise InvalidArgument(
                f"request_id {shown(request_id)} is too long for the fan-out: {shown(too_long[0])} has "
                f"more than {STORED_REQUEST_ID_MAX_LEN} characters"
            )
        return ids

    def refuse_if_stale_everywhere(self, product_ids: Iterable[str], observed_at: int, now: int) -> None:
        """A report that every product holding its symbols would refuse as stale is refused
        before anything is recorded (a rejected command writes nothing); a report of
        symbols nobody holds has no product to judge its age and is recorded."""
        ages = []
        for product_id in product_ids:
            loaded = self.node.load(product_id)
            if loaded is not None and not loaded.state.settled:
                ages.append(loaded.state.params.max_oracle_age_s)
        if ages and now - observed_at > max(ages):
            raise InvalidPriceReport(
                f"report observed at {observed_at} is already stale for every product holding its "
                f"symbols (max_oracle_age_s at most {max(ages)}, now {now})"
            )

    def request_ids(self, products: tuple[str, ...], request_id: str) -> dict[str, str]:
        """Each product's own request id for a report fanned out under ``request_id``."""
        return {pid: f"{request_id}{NODE_ID_MARK}{pid}" for pid in products}

    def report_price(
        self, symbol: str, price_wad: int, observed_at: int, reporter_id: str, request_id: str
    ) -> dict[str, Outcome]:
        """A price is per asset: recorded once in the oracle's book, and every product
        holding ``symbol`` sees it (SPEC §5)."""
        report = cmd.ReportPrice(symbol, price_wad, observed_at, reporter_id)
        return self.report_prices_as(report, reporter_id, observed_at, ((symbol, price_wad),), request_id)

    def report_prices(
        self, reporter_id: str, observed_at: int, prices: tuple[tuple[str, int], ...], request_id: str
    ) -> dict[str, Outcome]:
        """A round: recorded once in the oracle's book, then judged as one update by every
        product holding any of its symbols."""
        round_ = cmd.ReportPrices(reporter_id, observed_at, prices)
        return self.report_prices_as(round_, reporter_id, observed_at, prices, request_id)

    def report_prices_as(
        self,
        command: cmd.Command,
        reporter_id: str,
        observed_at: int,
        prices: tuple[tuple[str, int], ...],
        request_id: str,
    ) -> dict[str, Outcome]:
        ids = self.fan_out_ids(tuple(symbol for symbol, _ in prices), request_id)
        now = self.clock.now()
        self.refuse_if_stale_everywhere(ids, observed_at, now)
        self.node.record_round(request_id, reporter_id, observed_at, prices, now)
        return self._all({pid: (command, rid) for pid, rid in ids.items()}, now)

    def keeper_request_id(self, product_id: str, now: int) -> str:
        """The keeper's request id for ``product_id`` at ``now``. It names the stream version
        the keeper saw: two keepers that saw the same log tick the product once, and a tick
        after new events at the same moment (a fresh price, say) is decided again. It starts
        with '#', which no client id contains: no client can take, block or replay it."""
        loaded = self.node.load(product_id)
        return f"{NODE_ID_MARK}keeper:{product_id}:{now}:{loaded.version if loaded else 0}"

    def tick(self) -> dict[str, Outcome]:
        """The keeper: accrue, settle or pull the ripcord, and run due rebalances, for every
        product, in one commit."""
        now = self.clock.now()
        return self._all(
            {pid: (cmd.Tick(), self.keeper_request_id(pid, now)) for pid in self.node.product_ids()}, now
        )

    def check_invariants(self, product_id: str | None = None) -> AuditReport:
        """The audit of the store this node serves (gRPC ``CheckInvariants``): safe while
        commands keep arriving, it judges the log up to where its replay reached."""
        return audit(self.node, product_id)
