"""The audit (SPEC §3, §4): replay a whole store from its first event and check, for every
product, the hash chain, every invariant after every event (and the per-command laws after
every command), idempotency (each request's events form one decision, once, with the
request marker that makes a retry a replay), and that the replayed state equals what the
node would load (snapshots included). Violations name their position: the store-wide notification id, and the
product's stream version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from attrs import define, field, frozen
from eventsourcing.persistence import Notification

from adapters.store.codec import GENESIS_HASH, chain_hash, decode_event, decode_state
from adapters.store.node import Node
from adapters.store.records import (
    ProductSnapshot,
    RequestRecorded,
    StoredProductEvent,
    product_stream_id,
)
from domain.events import Event
from domain.evolve import evolve
from domain.model import ProductState
from invariants.state import check_decision_end, check_state
from invariants.transition import check_transition

PAGE_SIZE = 1_000
PROGRESS_EVERY = 10_000  # records read between two progress reports

Progress = Callable[[int, int], None]  # (records read, records in the store)


@frozen
class Finding:
    position: int  # notification id in the store (0 when the finding is about a whole product)
    product_id: str
    version: int
    invariant: str
    detail: str


@define
class _Stream:
    """What the audit knows of one product's stream so far."""

    state: ProductState | None = None
    version: int = 0
    last_hash: str = GENESIS_HASH
    broken: bool = False
    snapshots: dict[int, ProductSnapshot] = field(factory=dict)
    # The decision being read: its request id, first version, events so far, position.
    request_id: str | None = None
    first_version: int = 0
    event_count: int = 0
    first_position: int = 0


@frozen
class _Decision:
    """One request's events in one product's stream."""

    product_id: str
    first_version: int
    event_count: int
    position: int


@define
class AuditReport:
    events_checked: int = 0
    products: int = 0
    invariants_checked: int = 0
    findings: list[Finding] = field(factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _notifications(node: Node) -> Iterator[tuple[Notification, Any]]:
    """Every notification with its record, or the error that kept it from being read."""
    start = 1
    while True:
        page = node.recorder.select_notifications(start, PAGE_SIZE)
        if not page:
            return
        for notification in page:
            try:
                yield notification, node.mapper.to_domain_event(notification)
            except Exception as error:  # an unreadable row is a finding, not a crash
                yield notification, error
        start = page[-1].id + 1


def audit(
    node: Node,
    product_id: str | None = None,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> AuditReport:
    """Audit every product in ``node``'s store (or only ``product_id``).

    ``progress(read, total)`` is called every ``progress_every`` records read (every record
    of the store counts, so a filtered audit of a long log shows progress too) and once at
    the end; ``total`` is the store's size when the audit started (writers may add more)."""
    report = AuditReport()
    streams: dict[str, _Stream] = {}
    laws = _law_count()
    total = node.recorder.max_notification_id() or 0
    read = 0
    decisions: dict[str, _Decision] = {}
    markers: dict[str, tuple[int, RequestRecorded]] = {}
    for notification, record in _notifications(node):
        position = notification.id
        read += 1
        if progress and read % progress_every == 0:
            progress(read, max(total, position))
        if isinstance(record, Exception):
            report.events_checked += 1
            report.findings.append(
                Finding(
                    position,
                    str(notification.originator_id),
                    notification.originator_version,
                    "replayable",
                    f"the stored row cannot be read: {record}",
                )
            )
            continue
        if isinstance(record, RequestRecorded):
            markers[record.request_id] = (position, record)
        if not isinstance(record, StoredProductEvent):
            continue
        if product_id is not None and record.product_id != product_id:
            continue
        stream = streams.get(record.product_id)
        if stream is None:
            stream = streams[record.product_id] = _Stream(snapshots=_snapshots(node, record.product_id))
        report.events_checked += 1
        if stream.broken:
            continue
        found = _check_record(stream, position, record)
        report.invariants_checked += laws
        report.findings.extend(found)
        if any(f.invariant in {"hash_chain", "replayable"} for f in found):
            stream.broken = True  # later positions of a broken chain say nothing new
        else:
            report.findings.extend(_track_decision(stream, position, record, decisions))
    for pid, stream in streams.items():
        if not stream.broken:
            report.findings.extend(_check_against_node(node, pid, stream))
    report.findings.extend(_check_markers(streams, decisions, markers, product_id))
    report.products = len(streams)
    if progress and read > progress_every and read % progress_every:
        progress(read, max(total, read))  # the end of a long log
    return report


def _law_count() -> int:
    from invariants.state import DECISION_INVARIANTS, STATE_INVARIANTS  # noqa: PLC0415
    from invariants.transition import TRANSITION_INVARIANTS  # noqa: PLC0415

    # + the hash chain and idempotency, checked per event too
    return len(STATE_INVARIANTS) + len(DECISION_INVARIANTS) + len(TRANSITION_INVARIANTS) + 2


def _check_record(stream: _Stream, position: int, record: StoredProductEvent) -> list[Finding]:
    def finding(invariant: str, detail: str) -> Finding:
        return Finding(position, record.product_id, record.originator_version, invariant, detail)

    expected_version = stream.version + 1
    if record.originator_version != expected_version:
        return [
            finding(
                "hash_chain",
                f"version {record.originator_version} where {expected_version} was due: "
                "an event is missing or out of order",
            )
        ]
    if record.prev_hash != stream.last_hash:
        return [
            finding(
                "hash_chain",
                f"prev_hash {record.prev_hash[:12]}… does not match the hash of version "
                f"{stream.version} ({stream.last_hash[:12]}…): an event before it was edited, "
                "removed or reordered",
            )
        ]
    digest = chain_hash(
        record.product_id,
        record.originator_version,
        record.type,
        record.schema,
        record.payload,
        record.request_id,
        record.decision_end,
        record.prev_hash,
    )
    if digest != record.hash:
        return [
            finding("hash_chain", f"{record.type} does not hash to its recorded hash: its content was edited")
        ]
    try:
        event: Event = decode_event(record.type, record.schema, record.payload)
        after = evolve(stream.state, event)
    except Exception as error:  # any failure to rebuild is the finding itself
        return [finding("replayable", f"{record.type}: {type(error).__name__}: {error}")]
    laws = check_transition(stream.state, event, after)
    laws += check_decision_end(after) if record.decision_end else check_state(after)
    stream.state = after
    stream.version = record.originator_version
    stream.last_hash = record.hash
    found = [finding(v.invariant, v.detail) for v in laws]
    snapshot = stream.snapshots.pop(stream.version, None)
    if snapshot is not None and (snapshot.last_hash != record.hash or decode_state(snapshot.state) != after):
        found.append(finding("snapshot_matches_log", "the snapshot at this version differs from the replay"))
    return found


def _track_decision(
    stream: _Stream, position: int, record: StoredProductEvent, decisions: dict[str, _Decision]
) -> list[Finding]:
    """Idempotency in the log: a request's events form one decision, in one stream, once."""
    found: list[Finding] = []
    version = record.originator_version
    if stream.request_id is None:
        first = decisions.get(record.request_id)
        if first is not None:
            found.append(
                Finding(
                    position,
                    record.product_id,
                    version,
                    "idempotency",
                    f"request {record.request_id!r} applied again: its first decision is at "
                    f"position {first.position} (product {first.product_id} version {first.first_version})",
                )
            )
        stream.request_id, stream.first_version = record.request_id, version
        stream.event_count, stream.first_position = 0, position
    elif record.request_id != stream.request_id:
        found.append(
            Finding(
                position,
                record.product_id,
                version,
                "idempotency",
                f"an event of request {record.request_id!r} inside the decision of {stream.request_id!r}",
            )
        )
    stream.event_count += 1
    if record.decision_end:
        decisions.setdefault(
            stream.request_id or record.request_id,
            _Decision(record.product_id, stream.first_version, stream.event_count, stream.first_position),
        )
        stream.request_id = None
    return found


def _check_markers(
    streams: dict[str, _Stream],
    decisions: dict[str, _Decision],
    markers: dict[str, tuple[int, RequestRecorded]],
    product_id: str | None,
) -> list[Finding]:
    """Every decision has the request marker that makes its retry a replay, and every
    marker that records events points at them (a marker without its events means events
    were cut off the end of a stream, where the hash chain alone cannot see it)."""
    found: list[Finding] = []
    for request_id, decision in decisions.items():
        if streams[decision.product_id].broken:
            continue
        position_marker = markers.get(request_id)
        recorded = (
            (position_marker[1].product_id, position_marker[1].first_version, position_marker[1].event_count)
            if position_marker
            else None
        )
        if recorded != (decision.product_id, decision.first_version, decision.event_count):
            found.append(
                Finding(
                    decision.position,
                    decision.product_id,
                    decision.first_version,
                    "idempotency",
                    f"request {request_id!r} has {decision.event_count} event(s) but its request "
                    f"marker records {recorded}: a retry of it would not be recognised",
                )
            )
    for request_id, (position, marker) in markers.items():
        if product_id is not None and marker.product_id != product_id:
            continue
        stream = streams.get(marker.product_id)
        if marker.event_count and request_id not in decisions and not (stream and stream.broken):
            found.append(
                Finding(
                    position,
                    marker.product_id,
                    marker.first_version,
                    "idempotency",
                    f"request {request_id!r} is recorded with {marker.event_count} event(s) from "
                    f"version {marker.first_version}, which are not in the log",
                )
            )
    return found


def _snapshots(node: Node, product_id: str) -> dict[int, ProductSnapshot]:
    if node.snapshots is None:
        return {}
    found: dict[int, ProductSnapshot] = {}
    for snapshot in node.snapshots.get(product_stream_id(product_id)):
        assert isinstance(snapshot, ProductSnapshot)
        found[snapshot.originator_version] = snapshot
    return found


def _check_against_node(node: Node, product_id: str, stream: _Stream) -> list[Finding]:
    """Replayed state = the state a fresh node loads (latest snapshot plus later events) at
    the version the replay reached; a snapshot beyond the log's end is a finding too.

    Other nodes may append while the audit runs (gRPC ``CheckInvariants`` audits a live
    store): the comparison is made at the replayed version, and a snapshot past it counts
    only if the stream has no event there, so later writes are never reported."""
    beyond_the_log = not any(True for _ in node.stored_events(product_id, gt=stream.version))
    findings = [
        Finding(0, product_id, version, "snapshot_matches_log", "a snapshot has no event at its version")
        for version in stream.snapshots
        if version <= stream.version or beyond_the_log
    ]
    loaded = node.load_cold(product_id, stream.version)
    if loaded is None or loaded.state != stream.state or loaded.version != stream.version:
        findings.append(
            Finding(
                0,
                product_id,
                stream.version,
                "replay_matches_live",
                "the state the node loads differs from the replay of the log",
            )
        )
    return findings
