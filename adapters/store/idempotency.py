"""Idempotency: each command's events and a ``RequestRecorded`` marker (a stream whose id
derives from the request id) are saved in one transaction. A repeat finds the marker and
returns the first result, writing nothing; the same id with another command is
``RequestIdReused``. A crash between the client's send and its retry cannot apply a
command twice: the marker exists exactly when the events do.

Here: the check of a stored request id, the markers of a batch's requests (one query),
the first result of a request handled before (replayed from the log as of its last event)
or in the same batch, and the fingerprint of a price round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from adapters.rejections import Rejection
from adapters.store.codec import canonical_json, decode_event, legacy_update_fingerprint
from adapters.store.contract import Outcome, Request, RequestIdReused
from adapters.store.event_store import EventStore
from adapters.store.records import RequestRecorded, request_stream_id
from adapters.store.sql import batch_view
from domain.commands import Command, UpdateParameters
from domain.errors import InvalidArgument, InvalidParameters
from domain.events import ParametersUpdated
from domain.params import patched
from domain.validation import shown

# The longest request id the node stores: a client's (128, ``domain.validation``) with the
# ``#<product_id>`` of a fanned-out price, or one of the keeper's own.
STORED_REQUEST_ID_MAX_LEN = 256


def check_request_id(request_id: str) -> None:
    """The id stored for a request: a client's (checked at the edge by
    ``domain.validation.check_client_request_id``) or one the node made from it."""
    if not request_id or len(request_id) > STORED_REQUEST_ID_MAX_LEN or not request_id.isprintable():
        raise InvalidArgument(
            f"request_id must be 1-{STORED_REQUEST_ID_MAX_LEN} printable characters, got {shown(request_id)}"
        )


def round_fingerprint(reporter_id: str, observed_at: int, prices: tuple[tuple[str, int], ...]) -> str:
    """The fingerprint of a price round, as its request's marker holds it."""
    body = {"reporter_id": reporter_id, "observed_at": observed_at, "prices": [list(p) for p in prices]}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def markers_of(store: EventStore, requests: Sequence[Request]) -> tuple[int, dict[str, RequestRecorded]]:
    """The store's last notification id and the markers of those of ``requests``
    handled before: one query for the batch, not one per request (a round trip each,
    and most ids are new)."""
    store_max, found = batch_view(
        store.app, (request_stream_id(r.request_id, store.key_format) for r in requests)
    )
    markers = {}
    for marker in found.values():
        assert isinstance(marker, RequestRecorded)
        markers[marker.request_id] = marker
    return store_max, markers


def repeat_in_batch(
    request_id: str, fingerprint: str, earlier: tuple[str, str, Outcome]
) -> Outcome | Rejection:
    """The same request id twice in one batch: the first result again, or the reuse error."""
    earlier_fingerprint, product_id, outcome = earlier
    if earlier_fingerprint != fingerprint:
        return RequestIdReused(
            f"request_id {request_id!r} was used for a different command "
            f"(on product {product_id}); use a new request id"
        )
    return Outcome(outcome.events, outcome.state, replayed=True, version=outcome.version)


def replay_of(
    store: EventStore, request_id: str, fingerprint: str, marker: RequestRecorded | None, command: Command
) -> Outcome | None:
    """The first result of a request handled before (``marker``), or None if it never was."""
    if marker is None:
        return None
    if marker.fingerprint != fingerprint and not _same_legacy_update(store, marker, command):
        raise RequestIdReused(
            f"request_id {request_id!r} was used for a different command "
            f"(on product {marker.product_id}); use a new request id"
        )
    last_version = marker.first_version + marker.event_count - 1
    records = (
        list(store.stored_events(marker.product_id, marker.first_version - 1, last_version))
        if marker.event_count
        else []
    )
    events = tuple(decode_event(r.type, r.schema, r.payload) for r in records)
    # The first result's state (right after its events), not the state now: a retry
    # must get the reply the lost one carried, whatever was written since.
    loaded = store.load_cold(marker.product_id, last_version)
    return Outcome(
        events, loaded.state if loaded else None, replayed=True, version=loaded.version if loaded else 0
    )


def _same_legacy_update(store: EventStore, marker: RequestRecorded, command: Command) -> bool:
    """Whether ``marker`` is of this ``UpdateParameters`` as handled before the command
    was a patch: its fingerprint is of the merged parameters its event records, and
    this patch merged into the parameters before it gives the same."""
    if not isinstance(command, UpdateParameters) or not marker.event_count:
        return False
    last_version = marker.first_version + marker.event_count - 1
    for record in store.stored_events(marker.product_id, marker.first_version - 1, last_version):
        event = decode_event(record.type, record.schema, record.payload)
        if isinstance(event, ParametersUpdated):
            try:
                merged = patched(event.previous, command.changes)
            except InvalidParameters:
                return False
            legacy = legacy_update_fingerprint(marker.product_id, event.params)
            return marker.fingerprint == legacy and merged == event.params
    return False
