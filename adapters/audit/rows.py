"""The audit's read of the log: every row of a share of the store, in notification order,
decoded into the record the library's mapper makes of it (or the error that kept it from
being read).

A share is the rows up to a notification id (the store's last when the audit began) of
some streams: the whole store for a serial audit; for the processes of a parallel one,
shares that together hold every stream once — each product's stream in one share, every
other stream (request markers, the registry) in the share whose range of ids holds it.
Every transaction's rows are all below that id or all above it (SQLite has one writer; the
library's PostgreSQL recorder commits in id order under a table lock), so the audit judges
a consistent prefix of a live store.

Read with one query per page on the library's own table (``adapters.store.sql.share_pages``),
and decoded by the mapper's own transcoder. The library's own path (``Notification``
objects, then ``Mapper.to_domain_event``) costs half of a plain read in Python overhead;
this one builds the same record directly when it safely can — a known record type, no
cipher or compressor, a JSON object without a ``class_version`` — and hands every other row
to the mapper itself, so an unreadable row fails with the mapper's own error. A plain
``json.loads`` in place of the transcoder's decoder gains nothing measurable here (the
object hook runs once per JSON object, a handful per row), so the transcoder decodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

from attrs import frozen
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from adapters.store.records import ProductListed, RequestRecorded, StoredProductEvent
from adapters.store.sql import share_pages

# (position, version, record, state as stored) of a row; the record is an ``UnreadableRow`` if
# it cannot be read
DecodedRow = tuple[int, int, Any, bytes]


@frozen
class UnreadableRow:
    """A row that the mapper cannot turn into a record, and why."""

    stream_id: Any  # as the library's notifications carry it (a UUID)
    error: Exception


@frozen
class Share:
    """The rows with a notification id up to ``stop`` of the streams in ``own``, and of every
    stream not in ``listed`` whose id is in ``[low, high)`` (``None``: unbounded on that side).
    The default is the whole store."""

    stop: int
    low: UUID | None = None
    high: UUID | None = None
    own: tuple[UUID, ...] = ()
    listed: tuple[UUID, ...] = ()

    @property
    def whole(self) -> bool:
        return self.low is None and self.high is None and not self.listed

    @property
    def has_range(self) -> bool:
        """Whether the range can hold a stream id (an empty one is ``[x, x)``)."""
        return self.low is None or self.high is None or self.low < self.high

    def reads(self, stream_id: UUID) -> bool:
        """Whether the rows of the stream ``stream_id`` are in this share."""
        if stream_id in self.own:
            return True
        above_low = self.low is None or stream_id >= self.low
        below_high = self.high is None or stream_id < self.high
        return stream_id not in self.listed and above_low and below_high


def can_split(app: Application[Any]) -> bool:
    """Whether shares of this store can be read by other processes: a SQLite file or a
    PostgreSQL database, with UUID stream ids (what ranges of stream ids are made of)."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        datastore = recorder.datastore
        return datastore.originator_id_type == "uuid" and not datastore.pool.is_sqlite_memory_mode
    if isinstance(recorder, PostgresApplicationRecorder):
        return recorder.datastore.originator_id_type == "uuid"
    return False


def decoded_rows(app: Application[Any], share: Share) -> Iterator[DecodedRow]:
    """Every row of ``share``, in notification order, with its record or why it has none."""
    pages, stream_id = share_pages(app, share)
    decode = _Decoder(app.mapper, stream_id)
    for page in pages:
        for position, stored_id, version, topic, state in page:
            try:
                record = decode(stored_id, version, topic, state)
            except Exception as error:  # an unreadable row is a finding, not a crash
                record = UnreadableRow(stream_id(stored_id), error)
            yield position, version, record, state


_PAYLOAD_KEY = b',"payload":'


def stored_payload_json(state: bytes) -> str | None:
    """The JSON of a product event's payload as the node stores it — last in the record
    (``codec.PayloadTranscoder``), the very canonical JSON its chain hash was computed over —
    or None if the row is not laid out so. Only a candidate: it may be any text; whoever uses
    it must check it against the hash, and fall back to encoding the decoded payload."""
    at = state.rfind(_PAYLOAD_KEY)
    if at < 0 or not state.endswith(b"}"):
        return None
    try:
        return state[at + len(_PAYLOAD_KEY) : -1].decode()
    except UnicodeDecodeError:
        return None


class _Decoder:
    """``mapper.to_domain_event`` of a row, without building a ``StoredEvent`` first when
    the row is one of the node's own records in plain JSON. Such a record keeps its stream
    id as stored (SQLite: hex), not as a UUID: the audit reads ``product_id`` instead."""

    def __init__(self, mapper: Mapper[Any], stream_id: Callable[[Any], Any]) -> None:
        self.mapper = mapper
        self.stream_id = stream_id
        plain = mapper.cipher is None and mapper.compressor is None
        plain = plain and isinstance(mapper.transcoder, JSONTranscoder)
        records = (StoredProductEvent, RequestRecorded, ProductListed)
        # None of them declares a class_version (the mapper's upcasting).
        self.classes: dict[str, type] = {get_topic(cls): cls for cls in records} if plain else {}
        self.decode_json = mapper.transcoder.decode

    def __call__(self, stored_id: Any, version: int, topic: str, state: bytes) -> Any:  # noqa: ANN401 - a record of any of the node's types
        cls = self.classes.get(topic)
        if cls is not None:
            try:
                fields = self.decode_json(state)
            except Exception:  # the mapper below raises its own error for it
                fields = None
            if type(fields) is dict and "class_version" not in fields:
                # What the mapper does with a decoded state, minus its lookups.
                fields["originator_id"] = stored_id
                fields["originator_version"] = version
                record: Any = object.__new__(cls)
                object.__setattr__(record, "__dict__", fields)
                return record
        stored = StoredEvent(self.stream_id(stored_id), version, topic, state)
        return self.mapper.to_domain_event(stored)
