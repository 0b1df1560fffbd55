"""What the eventsourcing library stores: plain records with ``originator_id`` and
``originator_version`` (its DomainEventProtocol), holding JSON-ready payloads.

The library's mapper stores ``vars(record)`` and rebuilds a record by setting its
``__dict__``, so these are plain classes, not slotted attrs classes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from adapters.store.key_format import CURRENT_KEYS, LEGACY_KEYS, time_key

NAMESPACE = UUID("6f1c1e7e-6a54-4c1e-9a35-2f0c1f1b7d21")


REGISTRY_STREAM_ID = uuid5(NAMESPACE, "registry")


# Pure and hashed twice or more per command (a batch looks its ids up, then writes their
# markers): remembering the recent ones saves a SHA-1 and a UUID each time.
@lru_cache(maxsize=4_096)
def product_stream_id(product_id: str) -> UUID:
    return uuid5(NAMESPACE, "product:" + product_id)


@lru_cache(maxsize=4_096)
def request_stream_id(request_id: str, key_format: int = LEGACY_KEYS) -> UUID:
    """The stream of a request's marker, in a store of ``key_format`` (``key_format.py``)."""
    return _keyed("request", request_id, key_format)


def _keyed(kind: str, request_id: str, key_format: int) -> UUID:
    if key_format != LEGACY_KEYS:
        key = time_key(kind, request_id)
        if key is not None:
            return key
    return uuid5(NAMESPACE, f"{kind}:{request_id}")


class _Record:
    originator_id: UUID
    originator_version: int

    def __init__(self, **fields: Any) -> None:  # noqa: ANN401 - records hold JSON of any shape
        self.__dict__.update(fields)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({vars(self)!r})"


class StoredProductEvent(_Record):
    """One domain event in a product's stream, chained to its predecessor by hash.

    Fields: ``product_id``, ``type`` and ``schema`` (the event's type and schema version),
    ``payload`` (the event as JSON), ``request_id`` (the command that caused it),
    ``decision_end`` (the last event of that command's decision), ``prev_hash``, ``hash``.
    """

    product_id: str
    type: str
    schema: int
    payload: dict[str, Any]
    request_id: str
    decision_end: bool
    prev_hash: str
    hash: str


class RequestRecorded(_Record):
    """A handled request: saved in the same transaction as the events it caused, so a
    retry finds it exactly when those events exist.

    Fields: ``request_id``, ``product_id``, ``fingerprint`` (of the command),
    ``first_version`` and ``event_count`` (the events it caused in the product's stream).
    """

    request_id: str
    product_id: str
    fingerprint: str
    first_version: int
    event_count: int


class ProductListed(_Record):
    """A product was launched: the registry stream lists every product of the store."""

    product_id: str


class ProductSnapshot(_Record):
    """A product's state at ``originator_version`` of its stream, with the hash of that event."""

    state: dict[str, Any]
    last_hash: str


def price_report_stream_id(request_id: str, key_format: int = LEGACY_KEYS) -> UUID:
    return _keyed("price-report", request_id, key_format)


class PriceReportRecorded(_Record):
    """A price report fanned out to products, as first answered: written once at least one
    product applied it, so that a repeat answers the same products the same way (those
    that applied it replay their own markers; the rejections and the list are this
    record's), whatever products were launched or changed since.

    Fields: ``request_id`` (the client's), ``fingerprint`` (of the report),
    ``outcomes``: per product in the order answered, ``{"product_id", "request_id"}``
    (the product's own request id) when applied, or ``{"product_id", "error",
    "message"}`` (the rejection's class name and message)."""

    request_id: str
    fingerprint: str
    outcomes: list[dict[str, str]]


# The oracle's book of every asset: one stream of rounds, in the order they were recorded.
ORACLE_STREAM_ID = uuid5(NAMESPACE, "oracle")


@lru_cache(maxsize=4_096)
def oracle_request_stream_id(request_id: str, key_format: int = LEGACY_KEYS) -> UUID:
    return _keyed("oracle-request", request_id, key_format)


class OracleRoundRecorded(_Record):
    """A reporter's round of prices, recorded once whether or not a product holds its
    symbols (prices are facts about assets). Version n of the oracle stream.

    Fields: ``reporter_id``, ``observed_at``, ``prices`` ([symbol, price WAD] pairs),
    ``request_id``, ``at`` (when the node recorded it).
    """

    reporter_id: str
    observed_at: int
    prices: list[list[Any]]
    request_id: str
    at: int


class OracleRequestRecorded(_Record):
    """The marker of a round's request id, saved with the round: a retry finds it.

    Fields: ``request_id``, ``fingerprint`` (of the round), ``oracle_version``.
    """

    request_id: str
    fingerprint: str
    oracle_version: int


# The store's format, recorded once when the store is created (version 1 of this stream).
STORE_FORMAT_STREAM_ID = uuid5(NAMESPACE, "store-format")


class StoreFormatRecorded(_Record):
    """How this store keys the records found by a request id (``key_format.py``): written
    to an empty store by the first node that opens it. A store without one was written
    before formats were recorded and keeps format 1 (``LEGACY_KEYS``) for every id, so
    that a retry of any request it ever handled finds its marker.

    Fields: ``request_keys`` (the key format)."""

    request_keys: int


def store_key_format(app: Application[Any]) -> int:
    """The key format of ``app``'s store; an empty store is given the current one."""
    for _ in range(3):
        recorded = _recorded_format(app)
        if recorded is not None:
            return recorded
        if app.recorder.max_notification_id():
            # Rows but no format: a store from before formats, unless what made it
            # non-empty is another node's format record, committed since the read above.
            recorded = _recorded_format(app)
            return LEGACY_KEYS if recorded is None else recorded
        record = StoreFormatRecorded(
            originator_id=STORE_FORMAT_STREAM_ID, originator_version=1, request_keys=CURRENT_KEYS
        )
        try:
            app.events.put([record])
        except IntegrityError:
            continue  # another node recorded it first: read theirs
        return CURRENT_KEYS
    raise RuntimeError("the store's key format could not be read or recorded")


def _recorded_format(app: Application[Any]) -> int | None:
    for record in app.events.get(STORE_FORMAT_STREAM_ID, limit=1):
        assert isinstance(record, StoreFormatRecorded)
        return record.request_keys
    return None
