"""Record an oracle round and fan it out: a price is a fact about an asset (SPEC §5), so a
report is recorded once in the oracle's book, whether or not a product holds its symbols,
then judged as one update by every product holding any of them, each under its own
request id (``request_id#product_id``) and keeping its rejection apart."""

from __future__ import annotations

from collections.abc import Iterable

from attrs import frozen

from adapters.clock import Clock
from adapters.service.commits import Commits, ProductResult
from adapters.service.execute import require_request_id
from adapters.store import price_reports
from adapters.store.codec import command_fingerprint
from adapters.store.contract import RequestIdReused
from adapters.store.idempotency import STORED_REQUEST_ID_MAX_LEN
from adapters.store.node import Node
from adapters.store.records import PriceReportRecorded
from domain import commands as cmd
from domain.errors import InvalidArgument, InvalidPriceReport
from domain.validation import NODE_ID_MARK, check_reporter_id, shown


@frozen
class Prices:
    node: Node
    clock: Clock
    commits: Commits

    def report_price(
        self, symbol: str, price_wad: int, observed_at: int, reporter_id: str, request_id: str
    ) -> list[ProductResult]:
        """A price is a round of one (see ``report_prices``)."""
        report = cmd.ReportPrice(symbol, price_wad, observed_at, reporter_id)
        return self._report(report, reporter_id, observed_at, ((symbol, price_wad),), request_id)

    def report_prices(
        self, reporter_id: str, observed_at: int, prices: tuple[tuple[str, int], ...], request_id: str
    ) -> list[ProductResult]:
        """Record a round once in the oracle's book (whether or not a product holds its
        symbols), then fan it out to every product holding any of them, each judging it as
        one update and keeping its rejection apart: when every product rejects, the first
        rejection is raised (the round stays in the book: a fact about the assets)."""
        round_ = cmd.ReportPrices(reporter_id, observed_at, prices)
        return self._report(round_, reporter_id, observed_at, prices, request_id)

    def _report(
        self,
        command: cmd.Command,
        reporter_id: str,
        observed_at: int,
        prices: tuple[tuple[str, int], ...],
        request_id: str,
    ) -> list[ProductResult]:
        require_request_id(request_id)
        check_reporter_id(reporter_id)
        for symbol, price in prices:
            if price <= 0:
                raise InvalidPriceReport(f"price of {symbol} must be positive (WAD), got {price}")
        fingerprint = command_fingerprint("", command)
        every_id = request_ids(self.node.product_ids(), request_id)
        first, handled = price_reports.first_answer(self.node, request_id, every_id)
        if first is not None:
            return self._report_again(first, command, fingerprint)
        # A repeat of a report that every product it went to applied (or that was answered
        # before records existed): those products only, each answering its first outcome,
        # whichever products hold the symbols now.
        ids = handled or self.fan_out_ids(tuple(symbol for symbol, _ in prices), request_id)
        now = self.clock.now()
        if not handled:
            self._refuse_if_stale_everywhere(ids, observed_at, now)
        # Recorded once in the oracle book, whether or not a product holds the symbols (a
        # repeat finds its marker and records nothing).
        self.node.record_round(request_id, reporter_id, observed_at, prices, now)
        results = self.commits.each(((pid, command, rid) for pid, rid in ids.items()), now)
        applied = [r for r in results if r.outcome is not None]
        if results and not applied:
            assert results[0].error is not None
            raise results[0].error
        if len(applied) < len(results) or not results:
            # Applied by some, rejected by others (or held by no product): keep which
            # products it went to and what the ones that rejected it said (no marker holds
            # that), for a repeat.
            price_reports.record(
                self.node,
                request_id,
                fingerprint,
                [(r.product_id, ids[r.product_id] if r.outcome else None, r.error) for r in results],
            )
        for result in applied:
            assert result.outcome is not None
            self.commits.applied(result.outcome)
        return results

    def _report_again(
        self, first: PriceReportRecorded, report: cmd.Command, fingerprint: str
    ) -> list[ProductResult]:
        """A repeat of a recorded fan-out: the same products in the same order; those that
        applied it answer their first outcome (their markers), the others their first
        rejection, and products launched since are not sent it."""
        if first.fingerprint != fingerprint:
            raise RequestIdReused(
                f"request_id {first.request_id!r} was used for a different price report; use a new request id"
            )
        report_ids = {row["product_id"]: row["request_id"] for row in first.outcomes if "request_id" in row}
        replays = {
            r.product_id: r
            for r in self.commits.each(
                ((pid, report, rid) for pid, rid in report_ids.items()), self.clock.now()
            )
        }
        results = []
        for row in first.outcomes:
            pid = row["product_id"]
            if pid in replays:
                results.append(replays[pid])
            else:
                error = price_reports.rejection_of(row["error"], row["message"])
                results.append(ProductResult(pid, None, error))
        return results

    def fan_out_ids(self, symbols: tuple[str, ...], request_id: str) -> dict[str, str]:
        """The request id of a price report for each product holding any of ``symbols``
        (``request_id#product_id``, so a retried report applies once per product; none
        when no product holds them). The '#' puts it in the node's namespace: a client's own
        ids never contain one. Checked before anything is recorded: a fan-out that failed
        half-way on an id too long would fail the same way on every retry."""
        ids = request_ids(self._holders_of(symbols), request_id)
        too_long = [i for i in ids.values() if len(i) > STORED_REQUEST_ID_MAX_LEN]
        if too_long:
            raise InvalidArgument(
                f"request_id {shown(request_id)} is too long for the fan-out: {shown(too_long[0])} has "
                f"more than {STORED_REQUEST_ID_MAX_LEN} characters"
            )
        return ids

    def _holders_of(self, symbols: tuple[str, ...]) -> tuple[str, ...]:
        """The products whose index holds any of ``symbols``."""
        wanted = set(symbols)
        found = []
        for product_id in self.node.product_ids():
            loaded = self.node.load(product_id)
            if loaded is not None and wanted & set(loaded.state.symbols):
                found.append(product_id)
        return tuple(found)

    def _refuse_if_stale_everywhere(self, product_ids: Iterable[str], observed_at: int, now: int) -> None:
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


def request_ids(products: Iterable[str], request_id: str) -> dict[str, str]:
    """Each product's own request id for a report fanned out under ``request_id``."""
    return {pid: f"{request_id}{NODE_ID_MARK}{pid}" for pid in products}
