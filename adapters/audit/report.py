"""The audit (SPEC §3, §4): replay a whole store from its first event and check, for every
product, the hash chain, every invariant after every event (and the per-command laws after
every command), idempotency (each request's events form one decision, once, with the
request marker that makes a retry a replay), and that the replayed state equals what the
node would load (snapshots included). Violations name their position: the store-wide
notification id, and the product's stream version.

The audit judges the store as it was when it began: the rows up to the last notification
id then (writers may go on; what they add is left to the next audit). Product streams are
independent, so a large store with several products is replayed in several processes,
each a share of the streams (``adapters.audit.parallel``), and the shares' reports are
merged here; the checks that span streams — a request applied twice, in any streams, and
the request markers against the decisions — are made once, on the merged reports, in store
order, so the findings are the same, in the same order, as one process finds them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from itertools import chain
from operator import attrgetter

from attrs import define, field

from adapters.audit.engine import DecisionEnd, Finding, Marker, ShareReport, replay_share
from adapters.audit.parallel import available_cores, can_start_processes, plan_shares, replay_in_processes
from adapters.audit.rows import Share, can_split
from adapters.store.node import Node

__all__ = ["PROGRESS_EVERY", "AuditReport", "Finding", "Progress", "audit"]

PROGRESS_EVERY = 10_000  # records read between two progress reports
# Below this many rows in the store, one process audits it: starting others costs more.
PARALLEL_MIN_ROWS = 10_000

Progress = Callable[[int, int], None]  # (records read, records in the store)


@define
class AuditReport:
    events_checked: int = 0
    products: int = 0
    invariants_checked: int = 0
    findings: list[Finding] = field(factory=list)
    processes: int = 1  # that replayed the store

    @property
    def ok(self) -> bool:
        return not self.findings


def audit(
    node: Node,
    product_id: str | None = None,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
    processes: int | None = None,
) -> AuditReport:
    """Audit every product in ``node``'s store (or only ``product_id``).

    ``progress(read, total)`` is called every ``progress_every`` records read (every record
    of the store counts, so a filtered audit of a long log shows progress too) and once at
    the end; ``total`` is the store's size when the audit started.

    ``processes``: how many processes may replay the store; 1 replays it in this one. By
    default, as many as there are cores, when the store has several products and
    ``PARALLEL_MIN_ROWS`` rows or more, is a SQLite file or PostgreSQL, and the audit is
    not of one product."""
    if processes is not None and processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    stop = node.recorder.max_notification_id() or 0
    counter = _ProgressCounter(progress, progress_every, stop)
    wanted = _processes_wanted(node, product_id, stop, processes)
    report = None
    if wanted > 1:
        shares = plan_shares(node, stop, wanted)
        if len(shares) > 1:
            on_read = counter.add if progress else None
            reports = replay_in_processes(node, shares, product_id, on_read, min(progress_every, 1_000))
            report = _merge(reports, product_id, processes=len(shares))
            if report is None:
                # A share met a product that another share met too (a record filed under
                # another product's stream): only a replay in store order judges that
                # exactly, so the store is replayed again in this process, without
                # reporting its rows a second time.
                counter.silence()
    if report is None:
        share_report = replay_share(node, Share(stop), product_id, counter.one if progress else None)
        report = _merge([share_report], product_id, processes=1)
        assert report is not None, "one share cannot meet a product twice"
    counter.finish()
    return report


def _processes_wanted(node: Node, product_id: str | None, stop: int, processes: int | None) -> int:
    if processes == 1 or product_id is not None or not can_split(node) or not can_start_processes():
        return 1
    if processes is None and stop < PARALLEL_MIN_ROWS:
        return 1
    return min(processes or available_cores(), len(node.product_ids()))


@define
class _ProgressCounter:
    """Rows read, reported every ``every`` and once at the end of a long log."""

    progress: Progress | None
    every: int
    total: int
    read: int = 0
    silent: bool = False

    def one(self, _position: int) -> None:
        self.add(1)

    def add(self, rows: int) -> None:
        if self.silent or self.progress is None:
            return
        first = (self.read // self.every + 1) * self.every
        for read in range(first, self.read + rows + 1, self.every):
            self.progress(read, max(self.total, read))
        self.read += rows

    def silence(self) -> None:
        self.silent = True

    def finish(self) -> None:
        if self.progress and self.read > self.every and self.read % self.every:
            self.progress(self.read, max(self.total, self.read))  # the end of a long log


def _merge(reports: list[ShareReport], product_id: str | None, processes: int) -> AuditReport | None:
    """One report of the shares' reports, with the checks that span streams; None if two
    shares met the same product."""
    streams = sorted((s for r in reports for s in r.streams), key=attrgetter("first_position"))
    broken = {s.product_id: s.broken for s in streams}
    if len(broken) != len(streams):
        return None
    # A replay in store order keeps, of each request, the decision that ended first.
    # (Each share's lists are in store order, positions unique: sorting merges them, in C.)
    decisions: dict[str, DecisionEnd] = {}
    for end in sorted(chain.from_iterable(r.ends for r in reports)):
        decisions.setdefault(end[1], end)
    again = []
    for position, request_id, product, version in sorted(chain.from_iterable(r.starts for r in reports)):
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
    for marker in sorted(chain.from_iterable(r.markers for r in reports)):
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
        processes=processes,
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
