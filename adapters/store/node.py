"""The node's application service: load -> decide -> save -> reply, on the eventsourcing
library's Application (SQLite by default, PostgreSQL to share a store between nodes).

- Idempotency: each command's events and a ``RequestRecorded`` marker (a stream whose id
  derives from the request id) are saved in one transaction. A repeat finds the marker
  and returns the first result, writing nothing; the same id with another command is
  ``RequestIdReused``. A crash between the client's send and its retry cannot apply a
  command twice: the marker exists exactly when the events do.
- Concurrency: a save that loses the race for a stream version (or for the marker) is
  retried against the fresh stream, at most ``CONFLICT_RETRIES`` times.
- Loading: the latest snapshot (taken every ``SNAPSHOT_INTERVAL`` events, or every
  ``IIT_SNAPSHOT_INTERVAL`` given in the env) plus the events after it; an in-process
  cache fast-forwards with the events other nodes appended.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from attrs import frozen
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from adapters.store.codec import (
    GENESIS_HASH,
    chain_hash,
    command_fingerprint,
    decode_event,
    decode_state,
    encode_event,
    encode_state,
)
from adapters.store.records import (
    REGISTRY_STREAM_ID,
    ProductListed,
    ProductSnapshot,
    RequestRecorded,
    StoredProductEvent,
    product_stream_id,
    request_stream_id,
)
from adapters.store.url import store_env
from domain.commands import Command, LaunchProduct
from domain.decide import decide
from domain.errors import DomainError, InvalidArgument
from domain.events import Event
from domain.evolve import evolve
from domain.model import ProductState

CONFLICT_RETRIES = 16
CONFLICT_BACKOFF_S = 0.002
SNAPSHOT_INTERVAL = 200
# Store env (or process env) key overriding SNAPSHOT_INTERVAL, e.g. small for tests that must
# exercise cold loads from snapshots without writing hundreds of events.
SNAPSHOT_INTERVAL_ENV = "IIT_SNAPSHOT_INTERVAL"
REQUEST_ID_MAX_LEN = 128


class RequestIdReused(DomainError):
    """A request id was used before for a different command."""

    code = "ALREADY_EXISTS"


class ConcurrencyConflict(DomainError):
    """Other writers kept winning the race for this product; the command was not applied."""

    code = "ABORTED"


@frozen
class Loaded:
    """A product's state at ``version`` of its stream and the hash of that event."""

    state: ProductState
    version: int
    last_hash: str


@frozen
class Outcome:
    """The reply to a command: the events it caused and the state after them.

    ``replayed`` is true when the request id had been handled before and this is the
    first result returned again."""

    events: tuple[Event, ...]
    state: ProductState | None
    replayed: bool


class Node(Application[Any]):
    """The system of record for every product in one store."""

    name = "iit"
    is_snapshotting_enabled = True

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self._cache: dict[str, Loaded] = {}
        self._listed: list[str] = []
        self._listing = threading.Lock()
        self.snapshot_interval = int(self.env.get(SNAPSHOT_INTERVAL_ENV) or SNAPSHOT_INTERVAL)
        if self.snapshot_interval < 1:
            raise ValueError(f"{SNAPSHOT_INTERVAL_ENV} must be a positive number of events")

    def product_ids(self) -> tuple[str, ...]:
        """Every product launched in this store, in launch order (other nodes' too)."""
        with self._listing:  # threads serving one node would otherwise list a product twice
            for record in self.events.get(REGISTRY_STREAM_ID, gt=len(self._listed) or None):
                assert isinstance(record, ProductListed)
                assert record.originator_version == len(self._listed) + 1, "registry has a gap"
                self._listed.append(record.product_id)
            return tuple(self._listed)

    @classmethod
    def open(cls, store_url: str, **extra_env: str) -> Node:
        return cls({**store_env(store_url), **extra_env})

    # Reading -----------------------------------------------------------------------------

    def load(self, product_id: str) -> Loaded | None:
        """The product as stored now (snapshot plus later events), or None if never launched."""
        cached = self._cache.get(product_id) or self._load_snapshot(product_id)
        loaded = self._fast_forward(product_id, cached)
        if loaded is not None:
            self._cache[product_id] = loaded
        return loaded

    def load_cold(self, product_id: str, version: int | None = None) -> Loaded | None:
        """The product as a fresh node loads it (latest snapshot, then the events after it),
        as of ``version`` of its stream (None: now). Neither reads nor changes the cache, so
        the audit can compare the replay of a log prefix while other writers go on."""
        loaded = None
        if self.snapshots is not None:
            for snapshot in self.snapshots.get(
                product_stream_id(product_id), lte=version, desc=True, limit=1
            ):
                assert isinstance(snapshot, ProductSnapshot)
                loaded = Loaded(decode_state(snapshot.state), snapshot.originator_version, snapshot.last_hash)
        return self._fast_forward(product_id, loaded, lte=version)

    def forget(self, product_id: str) -> None:
        """Drop the cached state: the next load is cold (snapshot plus later events)."""
        self._cache.pop(product_id, None)

    def _load_snapshot(self, product_id: str) -> Loaded | None:
        if self.snapshots is None:
            return None
        for snapshot in self.snapshots.get(product_stream_id(product_id), desc=True, limit=1):
            assert isinstance(snapshot, ProductSnapshot)
            return Loaded(decode_state(snapshot.state), snapshot.originator_version, snapshot.last_hash)
        return None

    def _fast_forward(self, product_id: str, loaded: Loaded | None, lte: int | None = None) -> Loaded | None:
        state = loaded.state if loaded else None
        version = loaded.version if loaded else 0
        last_hash = loaded.last_hash if loaded else GENESIS_HASH
        for record in self.events.get(product_stream_id(product_id), gt=version or None, lte=lte):
            assert isinstance(record, StoredProductEvent)
            state = evolve(state, decode_event(record.type, record.schema, record.payload))
            version, last_hash = record.originator_version, record.hash
        return Loaded(state, version, last_hash) if state is not None else None

    def stored_events(
        self, product_id: str, gt: int = 0, lte: int | None = None
    ) -> Iterator[StoredProductEvent]:
        """The product's stored events with ``gt < version <= lte``."""
        for record in self.events.get(product_stream_id(product_id), gt=gt or None, lte=lte):
            assert isinstance(record, StoredProductEvent)
            yield record

    # Writing -----------------------------------------------------------------------------

    def execute(self, product_id: str, command: Command, request_id: str, now: int) -> Outcome:
        """Decide ``command`` for ``product_id`` at ``now`` and store what it causes, once."""
        _check_request_id(request_id)
        fingerprint = command_fingerprint(product_id, command)
        for attempt in range(CONFLICT_RETRIES):
            replay = self._replay_of(request_id, fingerprint)
            if replay is not None:
                return replay
            loaded = self.load(product_id)
            if loaded is None and not isinstance(command, LaunchProduct):
                decide(None, command, now)  # raises the domain's ProductNotFound
            events = decide(loaded.state if loaded else None, command, now)
            try:
                return self._save(product_id, loaded, events, request_id, fingerprint)
            except IntegrityError:
                # Another writer won this version: decide again on its result, after a short
                # random pause so that racing writers stop colliding in lockstep.
                self._cache.pop(product_id, None)
                time.sleep(random.uniform(0, CONFLICT_BACKOFF_S * (attempt + 1)))  # noqa: S311
        raise ConcurrencyConflict(
            f"product {product_id}: {CONFLICT_RETRIES} concurrent writers won the race in a row; "
            "nothing was applied, retry the request"
        )

    def _replay_of(self, request_id: str, fingerprint: str) -> Outcome | None:
        for marker in self.events.get(request_stream_id(request_id), limit=1):
            assert isinstance(marker, RequestRecorded)
            if marker.fingerprint != fingerprint:
                raise RequestIdReused(
                    f"request_id {request_id!r} was used for a different command "
                    f"(on product {marker.product_id}); use a new request id"
                )
            last_version = marker.first_version + marker.event_count - 1
            records = (
                list(self.stored_events(marker.product_id, marker.first_version - 1, last_version))
                if marker.event_count
                else []
            )
            events = tuple(decode_event(r.type, r.schema, r.payload) for r in records)
            # The first result's state (right after its events), not the state now: a retry
            # must get the reply the lost one carried, whatever was written since.
            loaded = self.load_cold(marker.product_id, last_version)
            return Outcome(events, loaded.state if loaded else None, replayed=True)
        return None

    def _save(
        self,
        product_id: str,
        loaded: Loaded | None,
        events: list[Event],
        request_id: str,
        fingerprint: str,
    ) -> Outcome:
        state = loaded.state if loaded else None
        version = loaded.version if loaded else 0
        prev_hash = loaded.last_hash if loaded else GENESIS_HASH
        stream_id = product_stream_id(product_id)
        records: list[Any] = []
        for index, event in enumerate(events):
            version += 1
            type_name, schema, payload = encode_event(event)
            decision_end = index == len(events) - 1
            digest = chain_hash(
                product_id, version, type_name, schema, payload, request_id, decision_end, prev_hash
            )
            records.append(
                StoredProductEvent(
                    originator_id=stream_id,
                    originator_version=version,
                    product_id=product_id,
                    type=type_name,
                    schema=schema,
                    payload=payload,
                    request_id=request_id,
                    decision_end=decision_end,
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
            state = evolve(state, event)
            prev_hash = digest
        first_version = (loaded.version if loaded else 0) + 1
        if loaded is None and events:
            # A launch also lists the product, in the same transaction: two launches racing
            # for the same registry version are decided again like any other conflict.
            listed = len(self.product_ids())
            records.append(
                ProductListed(
                    originator_id=REGISTRY_STREAM_ID, originator_version=listed + 1, product_id=product_id
                )
            )
        records.append(
            RequestRecorded(
                originator_id=request_stream_id(request_id),
                originator_version=1,
                request_id=request_id,
                product_id=product_id,
                fingerprint=fingerprint,
                first_version=first_version,
                event_count=len(events),
            )
        )
        self.save(*records)
        if state is not None:
            after = Loaded(state, version, prev_hash)
            self._cache[product_id] = after
            self._snapshot_if_due(product_id, loaded, after)
        return Outcome(tuple(events), state, replayed=False)

    def _snapshot_if_due(self, product_id: str, before: Loaded | None, after: Loaded) -> None:
        if self.snapshots is None:
            return
        previous = before.version if before else 0
        if after.version // self.snapshot_interval == previous // self.snapshot_interval:
            return
        self.snapshot(product_id, after)

    def snapshot(self, product_id: str, loaded: Loaded) -> None:
        """Store a snapshot of ``loaded`` (a repeat of the same version is harmless)."""
        assert self.snapshots is not None
        with contextlib.suppress(IntegrityError):  # another node took the same snapshot
            self.snapshots.put(
                [
                    ProductSnapshot(
                        originator_id=product_stream_id(product_id),
                        originator_version=loaded.version,
                        state=encode_state(loaded.state),
                        last_hash=loaded.last_hash,
                    )
                ]
            )


def _check_request_id(request_id: str) -> None:
    if not request_id or len(request_id) > REQUEST_ID_MAX_LEN or not request_id.isprintable():
        raise InvalidArgument(
            f"request_id must be 1-{REQUEST_ID_MAX_LEN} printable characters, got {request_id!r}"
        )
