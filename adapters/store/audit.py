"""The audit (SPEC §3, §4): replay a whole store from its first event and check, for every
product, the hash chain, every invariant after every event (and the per-command laws after
every command), idempotency (each request's events form one decision, once, with the
request marker that makes a retry a replay), and that the replayed state equals what the
node would load (snapshots included). Violations name their position: the store-wide
notification id, and the product's stream version.

The audit judges the store as it was when it began: the rows up to the last notification
id then (writers may go on; what they add is left to the next audit). The replay of the
product streams (``adapters.store.audit_replay``) reports, besides what single records
break, the decisions and request markers it met; the checks that span streams — a request
applied twice, in any streams, and the markers against the decisions — are made here, on
that report, in store order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from operator import attrgetter

from attrs import define, field

from adapters.store.audit_replay import DecisionEnd, Finding, Marker, ShareReport, replay_share
from adapters.store.audit_rows import Share
from adapters.store.node import Node

__all__ = ["PROGRESS_EVERY", "AuditReport", "Finding", "Progress", "audit"]

PROGRESS_EVERY = 10_000  # records read between two progress reports

Progress = Callable[[int, int], None]  # (records read, records in the store)


@define
class AuditReport:
    events_checked: int = 0
    products: int = 0
    invariants_checked: int = 0
    findings: list[Finding] = field(factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def audit(
    node: Node,
    product_id: str | None = None,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> AuditReport:
    """Audit every product in ``node``'s store (or only ``product_id``).

    ``progress(read, total)`` is called every ``progress_every`` records read (every record
    of the store counts, so a filtered audit of a long log shows progress too) and once at
    the end; ``total`` is the store's size when the audit started."""
    stop = node.recorder.max_notification_id() or 0
    counter = _ProgressCounter(progress, progress_every, stop)
    share_report = replay_share(node, Share(stop), product_id, counter.one if progress else None)
    counter.finish()
    return _merge([share_report], product_id)


@define
class _ProgressCounter:
    """Rows read, reported every ``every`` and once at the end of a long log."""

    progress: Progress | None
    every: int
    total: int
    read: int = 0

    def one(self, _position: int) -> None:
        self.add(1)

    def add(self, rows: int) -> None:
        if self.progress is None:
            return
        first = (self.read // self.every + 1) * self.every
        for read in range(first, self.read + rows + 1, self.every):
            self.progress(read, max(self.total, read))
        self.read += rows

    def finish(self) -> None:
        if self.progress and self.read > self.every and self.read % self.every:
            self.progress(self.read, max(self.total, self.read))  # the end of a long log


def _merge(reports: list[ShareReport], product_id: str | None) -> AuditReport:
    """One report of the shares' reports, with the checks that span streams."""
    streams = sorted((s for r in reports for s in r.streams), key=attrgetter("first_position"))
    broken = {s.product_id: s.broken for s in streams}
    # A replay in store order keeps, of each request, the decision that ended first.
    decisions: dict[str, DecisionEnd] = {}
    for end in heapq.merge(*(r.ends for r in reports)):
        decisions.setdefault(end[1], end)
    again = []
    for position, request_id, product, version in heapq.merge(*(r.starts for r in reports)):
        first = decisions.get(request_id)
        if first is not None and first[0] < position:
            _, _, first_product, first_version, _, first_position = first
            again.append(
                Finding(
                    position,
                    product,
                    version,
                    "idempotency",
                    f"request {request_id!r} applied again: its first decision is at position "
                    f"{first_position} (product {first_product} version {first_version})",
                )
            )
    markers: dict[str, Marker] = {}
    for marker in heapq.merge(*(r.markers for r in reports)):
        markers[marker[1]] = marker
    # A record's own findings, then (at a decision's first event) a request applied again.
    findings = list(heapq.merge(*(r.findings for r in reports), again, key=attrgetter("position")))
    findings += [f for s in streams for f in s.findings]
    findings += _check_markers(broken, decisions, markers, product_id)
    return AuditReport(
        events_checked=sum(r.events_checked for r in reports),
        products=len(streams),
        invariants_checked=sum(r.invariants_checked for r in reports),
        findings=findings,
    )


def _check_markers(
    broken: dict[str, bool],
    decisions: dict[str, DecisionEnd],
    markers: dict[str, Marker],
    product_id: str | None,
) -> list[Finding]:
    """Every decision has the request marker that makes its retry a replay, and every
    marker that records events points at them (a marker without its events means events
    were cut off the end of a stream, where the hash chain alone cannot see it)."""
    found: list[Finding] = []
    for request_id, (_, _, product, first_version, event_count, first_position) in decisions.items():
        if broken[product]:
            continue
        marker = markers.get(request_id)
        recorded = marker[2:] if marker else None
        if recorded != (product, first_version, event_count):
            found.append(
                Finding(
                    first_position,
                    product,
                    first_version,
                    "idempotency",
                    f"request {request_id!r} has {event_count} event(s) but its request "
                    f"marker records {recorded}: a retry of it would not be recognised",
                )
            )
    for request_id, (position, _, product, first_version, event_count) in markers.items():
        if product_id is not None and product != product_id:
            continue
        if event_count and request_id not in decisions and not broken.get(product, False):
            found.append(
                Finding(
                    position,
                    product,
                    first_version,
                    "idempotency",
                    f"request {request_id!r} is recorded with {event_count} event(s) from "
                    f"version {first_version}, which are not in the log",
                )
            )
    return found
