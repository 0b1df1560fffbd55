"""One share of the audit: replay the product streams in a share of the store and check, for
each, the hash chain, every invariant after every event (and the per-command laws after
every command: ``invariants.log.ProductReplay``, the one replay-and-check loop), the
decisions its requests form, the snapshots, and that the replay equals what the node loads.
A serial audit replays the whole store as one share; a parallel one replays disjoint shares
in several processes. What needs every share at once — a request applied in two places, the
request markers against the decisions — is left to ``adapters.audit.report``, which merges
the shares.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import define, field, frozen

from adapters.audit.rows import Share, UnreadableRow, decoded_rows, stored_payload_json
from adapters.store.codec import GENESIS_HASH, chain_hash, chain_hash_encoded, decode_event, decode_state
from adapters.store.node import Node
from adapters.store.records import ProductSnapshot, RequestRecorded, StoredProductEvent, product_stream_id
from invariants import log
from invariants.log import ProductReplay, not_replayable

# Laws checked per event: the state, command and transition laws, the hash chain and idempotency.
LAWS_PER_EVENT = log.LAWS_PER_EVENT + 2


@frozen
class Finding:
    position: int  # notification id in the store (0 when the finding is about a whole product)
    product_id: str
    version: int
    invariant: str
    detail: str


# What a share tells the merge about decisions and markers, as plain tuples (they cross
# from process to process by the ten thousand; a NamedTuple pickles six times slower):
# where a request's decision began: (position, request id, product, version)
DecisionStart = tuple[int, str, str, int]
# a whole decision, at the position of its last event:
# (position, request id, product, first version, event count, position of its first event)
DecisionEnd = tuple[int, str, str, int, int, int]
# a request marker (RequestRecorded): (position, request id, product, first version, event count)
Marker = tuple[int, str, str, int, int]


@frozen
class StreamEnd:
    """A replayed product stream, as the merge needs it."""

    product_id: str
    first_position: int  # where the audit first met the product
    broken: bool
    findings: tuple[Finding, ...]  # replay against what the node loads, and the snapshots


@define
class ShareReport:
    """What one share's replay found. ``findings`` are those of single records, in position
    order; the decisions that began and ended and the request markers are for the merge."""

    read: int = 0
    events_checked: int = 0
    invariants_checked: int = 0
    findings: list[Finding] = field(factory=list)
    streams: list[StreamEnd] = field(factory=list)
    starts: list[DecisionStart] = field(factory=list)
    ends: list[DecisionEnd] = field(factory=list)
    markers: list[Marker] = field(factory=list)


@define
class _Stream:
    """What the replay knows of one product's stream so far."""

    first_position: int
    snapshots: dict[int, ProductSnapshot]
    replay: ProductReplay = field(factory=ProductReplay)
    version: int = 0
    last_hash: str = GENESIS_HASH
    broken: bool = False
    # The decision being read: its request id, first version, events so far, position.
    request_id: str | None = None
    first_version: int = 0
    event_count: int = 0
    decision_position: int = 0


def replay_share(
    node: Node, share: Share, product_id: str | None = None, on_read: Callable[[int], None] | None = None
) -> ShareReport:
    """Replay the product streams of ``share`` (only ``product_id``'s, if given) and check
    them; ``on_read(position)`` after every row read, if given."""
    report = ShareReport()
    findings, markers = report.findings, report.markers
    streams: dict[str, _Stream] = {}
    read = checked = laws = 0  # kept here, not on the report, in the loop run per row
    for position, version, record, state in decoded_rows(node, share):
        read += 1
        if on_read is not None:
            on_read(position)
        if not isinstance(record, StoredProductEvent):
            if isinstance(record, RequestRecorded):
                markers.append(
                    (position, record.request_id, record.product_id, record.first_version, record.event_count)
                )
            elif isinstance(record, UnreadableRow):
                checked += 1
                findings.append(
                    Finding(
                        position,
                        str(record.stream_id),
                        version,
                        "replayable",
                        f"the stored row cannot be read: {record.error}",
                    )
                )
            continue
        if product_id is not None and record.product_id != product_id:
            continue
        stream = streams.get(record.product_id)
        if stream is None:
            stream = streams[record.product_id] = _Stream(position, _snapshots(node, record.product_id))
        checked += 1
        if stream.broken:
            continue
        laws += LAWS_PER_EVENT
        if _check_record(stream, position, record, state, findings):
            stream.broken = True
        else:
            _track_decision(stream, position, record, report)
    report.read, report.events_checked, report.invariants_checked = read, checked, laws
    for pid, stream in streams.items():
        found = () if stream.broken else tuple(_check_against_node(node, pid, stream))
        report.streams.append(StreamEnd(pid, stream.first_position, stream.broken, found))
    return report


def _check_record(
    stream: _Stream, position: int, record: StoredProductEvent, state: bytes, findings: list[Finding]
) -> bool:
    """Check one event of ``stream`` (``state``: its row as stored), appending what it breaks
    to ``findings``; whether its chain or content breaks the stream."""
    version = record.originator_version
    broken = _chain_break(stream, record, state)
    if broken is not None:
        findings.append(Finding(position, record.product_id, version, "hash_chain", broken))
        return True
    replay = stream.replay
    try:
        event = decode_event(record.type, record.schema, record.payload)
    except Exception as error:  # a payload that cannot be decoded cannot be replayed either
        verdict = not_replayable(record.type, error)
        findings.append(Finding(position, record.product_id, version, verdict.invariant, verdict.detail))
        return True
    laws = replay.step(event, record.decision_end)
    for verdict in laws:
        findings.append(Finding(position, record.product_id, version, verdict.invariant, verdict.detail))
    if replay.broken:  # the event could not be applied: the stream ends here
        return True
    after = replay.state
    stream.version = version
    stream.last_hash = record.hash
    if stream.snapshots:
        snapshot = stream.snapshots.pop(version, None)
        if snapshot is not None and (
            snapshot.last_hash != record.hash or decode_state(snapshot.state) != after
        ):
            findings.append(
                Finding(
                    position,
                    record.product_id,
                    version,
                    "snapshot_matches_log",
                    "the snapshot at this version differs from the replay",
                )
            )
    return False


def _chain_break(stream: _Stream, record: StoredProductEvent, state: bytes) -> str | None:
    """How the event breaks its stream's hash chain (``state``: its row as stored), or None."""
    version = record.originator_version
    expected_version = stream.version + 1
    if version != expected_version:
        return f"version {version} where {expected_version} was due: an event is missing or out of order"
    if record.prev_hash != stream.last_hash:
        return (
            f"prev_hash {record.prev_hash[:12]}… does not match the hash of version "
            f"{stream.version} ({stream.last_hash[:12]}…): an event before it was edited, "
            "removed or reordered"
        )
    if not _hashes_to_its_hash(record, state):
        return f"{record.type} does not hash to its recorded hash: its content was edited"
    return None


def _hashes_to_its_hash(record: StoredProductEvent, state: bytes) -> bool:
    """Whether the event's content hashes to its recorded hash: ``codec.chain_hash`` of the
    decoded payload. The node stores the canonical JSON that hash was made of; if that text,
    as stored, hashes to the recorded hash, it is the writer's canonical JSON (SHA-256), and
    it is what the record's payload was decoded from (it closes the record, after the last
    top-level ``payload`` key — any deeper ``payload`` would leave more closing braces after
    it), so the decoded payload encodes to it again: no need to encode it once more. Any
    other row — written before the node stored the payload so, reformatted, or edited — is
    judged by encoding the decoded payload, as the definition says."""
    fields = (record.product_id, record.originator_version, record.type, record.schema)
    rest = (record.request_id, record.decision_end, record.prev_hash)
    stored = stored_payload_json(state)
    if stored is not None and chain_hash_encoded(*fields, stored, *rest) == record.hash:
        return True
    return chain_hash(*fields, record.payload, *rest) == record.hash


def _track_decision(stream: _Stream, position: int, record: StoredProductEvent, report: ShareReport) -> None:
    """Idempotency within a stream: a request's events form one decision. Where each decision
    began and ended goes to the merge, which finds a request decided twice anywhere."""
    version = record.originator_version
    if stream.request_id is None:
        report.starts.append((position, record.request_id, record.product_id, version))
        stream.request_id, stream.first_version = record.request_id, version
        stream.event_count, stream.decision_position = 0, position
    elif record.request_id != stream.request_id:
        report.findings.append(
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
        report.ends.append(
            (
                position,
                stream.request_id or record.request_id,
                record.product_id,
                stream.first_version,
                stream.event_count,
                stream.decision_position,
            )
        )
        stream.request_id = None


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
    if loaded is None or loaded.state != stream.replay.state or loaded.version != stream.version:
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
