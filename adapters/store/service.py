"""The node's use cases over every product of a store: commands at the clock's time, price
reports fanned out to every product holding the asset, and the keeper's tick."""

from __future__ import annotations

from attrs import Factory, field, frozen

from adapters.audit.report import AuditReport, audit
from adapters.clock import Clock
from adapters.store.node import REQUEST_ID_MAX_LEN, Node, Outcome
from adapters.store.writer import GroupCommitWriter
from domain import commands as cmd
from domain.errors import InvalidArgument, InvalidPriceReport


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

    def holders_of(self, symbol: str) -> tuple[str, ...]:
        """The products whose index holds ``symbol``."""
        found = []
        for product_id in self.node.product_ids():
            loaded = self.node.load(product_id)
            if loaded is not None and symbol in loaded.state.symbols:
                found.append(product_id)
        return tuple(found)

    def fan_out_ids(self, symbol: str, request_id: str) -> dict[str, str]:
        """The request id of a price report for each product holding ``symbol``
        (``request_id#product_id``, so a retried report applies once per product), checked
        before any product sees the report: a fan-out that failed half-way on an id too
        long would fail the same way on every retry, never completing."""
        products = self.holders_of(symbol)
        if not products:
            raise InvalidPriceReport(f"no product holds {symbol!r}")
        ids = self.request_ids(products, request_id)
        too_long = [i for i in ids.values() if len(i) > REQUEST_ID_MAX_LEN]
        if too_long:
            raise InvalidArgument(
                f"request_id {request_id!r} is too long for the fan-out: {too_long[0]!r} has more "
                f"than {REQUEST_ID_MAX_LEN} characters"
            )
        return ids

    def request_ids(self, products: tuple[str, ...], request_id: str) -> dict[str, str]:
        """Each product's own request id for a report fanned out under ``request_id``."""
        return {pid: f"{request_id}#{pid}" for pid in products}

    def report_price(
        self, symbol: str, price_wad: int, observed_at: int, reporter_id: str, request_id: str
    ) -> dict[str, Outcome]:
        """A price is per asset: every product holding ``symbol`` sees it (SPEC §5)."""
        ids = self.fan_out_ids(symbol, request_id)
        report = cmd.ReportPrice(symbol, price_wad, observed_at, reporter_id)
        return self._all({pid: (report, rid) for pid, rid in ids.items()}, self.clock.now())

    def keeper_request_id(self, product_id: str, now: int) -> str:
        """The keeper's request id for ``product_id`` at ``now``. It names the stream version
        the keeper saw: two keepers that saw the same log tick the product once, and a tick
        after new events at the same moment (a fresh price, say) is decided again."""
        loaded = self.node.load(product_id)
        return f"keeper:{product_id}:{now}:{loaded.version if loaded else 0}"

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
