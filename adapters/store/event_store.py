"""Products' streams in the library's event store: loading (the latest snapshot plus the
events after it, or the in-process cache fast-forwarded), snapshots, the registry of
launched products, and putting a batch's records in one transaction.

- Loading: the latest snapshot (taken every ``SNAPSHOT_INTERVAL`` events, or every
  ``IIT_SNAPSHOT_INTERVAL`` given in the env) plus the events after it; an in-process
  cache fast-forwards with the events other nodes appended.
- Watermarks: for each cached product, a notification id of the store up to which the
  cache holds every event. While the store has nothing later, the cache is the product as
  stored now, and a batch decides on it without asking the store (``load(store_max=...)``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast
from uuid import UUID

from attrs import frozen
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Recording

from adapters.store.codec import GENESIS_HASH, decode_event, decode_state, encode_state
from adapters.store.contract import ProductUnreadable
from adapters.store.records import (
    REGISTRY_STREAM_ID,
    ProductListed,
    ProductSnapshot,
    StoredProductEvent,
    product_stream_id,
    store_key_format,
)
from domain.evolve import evolve
from domain.model import ProductState
from domain.validation import shown, state_out_of_range

SNAPSHOT_INTERVAL = 200
# Store env (or process env) key overriding SNAPSHOT_INTERVAL, e.g. small for tests that must
# exercise cold loads from snapshots without writing hundreds of events.
SNAPSHOT_INTERVAL_ENV = "IIT_SNAPSHOT_INTERVAL"


def _unreadable(product_id: str, version: int, error: Exception) -> ProductUnreadable:
    return ProductUnreadable(
        f"product {shown(product_id)} cannot be loaded: its stored event at version {version} does "
        f"not decode or apply ({type(error).__name__}: {str(error)[:200]}); unrecoverable data "
        "corruption in the store: `iit audit` locates it; other products are unaffected"
    )


@frozen
class Loaded:
    """A product's state at ``version`` of its stream and the hash of that event."""

    state: ProductState
    version: int
    last_hash: str


class EventStore:
    """The products of one store as the library holds them, with this node's cache."""

    def __init__(self, app: Application[Any]) -> None:
        # A weak reference: the app (the Node) holds this store, and a strong reference back
        # would make a cycle that keeps a dropped node's connection pool open until the cyclic
        # garbage collector happens to run (PostgreSQL then runs out of connections).
        self.app: Application[Any] = cast("Application[Any]", weakref.proxy(app))
        self.key_format = store_key_format(app)  # how this store keys request ids (key_format.py)
        self._cache: dict[str, Loaded] = {}
        self._listed: list[str] = []
        self._listing = threading.Lock()
        self.snapshot_interval = int(app.env.get(SNAPSHOT_INTERVAL_ENV) or SNAPSHOT_INTERVAL)
        if self.snapshot_interval < 1:
            raise ValueError(f"{SNAPSHOT_INTERVAL_ENV} must be a positive number of events")
        # product -> a notification id of the store up to which its cached state holds every
        # event: while the store has nothing later, the cache is the product as stored now.
        self._current_as_of: dict[str, int] = {}
        # The store's last notification id after this node's last commit, while that commit
        # directly followed what the node knew before it (None: ask the store).
        self.known_max: int | None = None

    def product_ids(self) -> tuple[str, ...]:
        """Every product launched in this store, in launch order (other nodes' too)."""
        with self._listing:  # threads serving one node would otherwise list a product twice
            for record in self.app.events.get(REGISTRY_STREAM_ID, gt=len(self._listed) or None):
                assert isinstance(record, ProductListed)
                assert record.originator_version == len(self._listed) + 1, "registry has a gap"
                self._listed.append(record.product_id)
            return tuple(self._listed)

    def listed_count(self, refresh: bool) -> int:
        """The registry's length, read afresh only when asked (by a batch that launches a
        product: its listing takes the next version); a query per batch otherwise spent
        for nothing."""
        if refresh:
            return len(self.product_ids())
        return len(self._listed)

    # Reading -----------------------------------------------------------------------------

    def load(self, product_id: str, store_max: int | None = None) -> Loaded | None:
        """The product as stored now (snapshot plus later events), or None if never launched.

        ``store_max`` is the store's last notification id, read just before: if the cached
        state already holds everything up to it, nobody has written since and the cache is
        returned without asking the store for later events."""
        cached = self._cache.get(product_id)
        if cached is not None and store_max is not None and self._current_as_of.get(product_id) == store_max:
            return cached
        loaded = self._fast_forward(product_id, cached or self._load_snapshot(product_id))
        if loaded is not None:
            current = self._cache.get(product_id)
            if current is None or current.version <= loaded.version:
                # A reader thread that loaded before the writer's commit must not put its
                # older view back in the cache (the writer would then decide on it, lose
                # the race for the version on save, and decide again).
                self._cache[product_id] = loaded
            if store_max is not None:
                self._current_as_of[product_id] = store_max
        return loaded

    def load_cold(self, product_id: str, version: int | None = None) -> Loaded | None:
        """The product as a fresh node loads it (latest snapshot, then the events after it),
        as of ``version`` of its stream (None: now). Neither reads nor changes the cache, so
        the audit can compare the replay of a log prefix while other writers go on."""
        loaded = self._load_snapshot(product_id, version)
        return self._fast_forward(product_id, loaded, lte=version)

    def forget(self, product_id: str) -> None:
        """Drop the cached state: the next load is cold (snapshot plus later events)."""
        self._cache.pop(product_id, None)
        self._current_as_of.pop(product_id, None)

    def _load_snapshot(self, product_id: str, lte: int | None = None) -> Loaded | None:
        """The latest snapshot (at or before version ``lte``). One that does not decode is
        passed over, said in the log: the events it was taken of are the truth."""
        if self.app.snapshots is None:
            return None
        # Read here (the store's failures are its own), decoded below.
        snapshots = self.app.snapshots.get(product_stream_id(product_id), lte=lte, desc=True, limit=1)
        try:
            for snapshot in snapshots:
                assert isinstance(snapshot, ProductSnapshot), f"{type(snapshot).__name__} among snapshots"
                return Loaded(decode_state(snapshot.state), snapshot.originator_version, snapshot.last_hash)
        except Exception as error:
            logging.getLogger("iit").warning(
                "product %s: its latest snapshot does not decode (%s: %s); loading it from its events",
                shown(product_id),
                type(error).__name__,
                str(error)[:200],
            )
        return None

    def _fast_forward(self, product_id: str, loaded: Loaded | None, lte: int | None = None) -> Loaded | None:
        state = loaded.state if loaded else None
        version = loaded.version if loaded else 0
        last_hash = loaded.last_hash if loaded else GENESIS_HASH
        records = self.app.events.get(product_stream_id(product_id), gt=version or None, lte=lte)
        while True:
            # The store was read above (its failures are its own); what fails from here on
            # is a stored record that does not decode or apply: the product is unreadable.
            try:
                record = next(records, None)
                if record is None:
                    break
                assert isinstance(record, StoredProductEvent), f"{type(record).__name__} in a product stream"
                after = evolve(state, decode_event(record.type, record.schema, record.payload))
                problem = state_out_of_range(after, after)  # its times, which no client could be shown
                if problem is not None:
                    raise ValueError(problem)
            except Exception as error:
                unreadable = _unreadable(product_id, version + 1, error)
                unreadable.readable = state
                raise unreadable from error
            state, version, last_hash = after, record.originator_version, record.hash
        return Loaded(state, version, last_hash) if state is not None else None

    def stored_events(
        self, product_id: str, gt: int = 0, lte: int | None = None
    ) -> Iterator[StoredProductEvent]:
        """The product's stored events with ``gt < version <= lte``."""
        for record in self.app.events.get(product_stream_id(product_id), gt=gt or None, lte=lte):
            assert isinstance(record, StoredProductEvent)
            yield record

    def has_after(self, stream_id: UUID, version: int = 0) -> bool:
        """Whether the stream ``stream_id`` holds a record past ``version``."""
        return any(True for _ in self.app.events.get(stream_id, gt=version or None, limit=1))

    def read_back(self, payload_json: str) -> Any:  # noqa: ANN401 - JSON of any shape
        """What the store's transcoder reads of ``payload_json``, as a load would."""
        return self.app.mapper.transcoder.decode(payload_json.encode())

    # Writing -----------------------------------------------------------------------------

    def put(self, records: list[Any]) -> list[Recording[Any]]:
        """Store a batch's records in one transaction: the library's event store, as
        ``Application.save`` would after collecting them, without its per-object protocol
        checks (a tenth of the writer's time; these records are already the events)."""
        return self.app.events.put(records)

    def committed(
        self,
        store_max: int,
        loaded_at_start: Mapping[str, Loaded | None],
        working: Mapping[str, Loaded | None],
        ids: list[int],
    ) -> None:
        """After a batch's commit (of rows ``ids``, decided on the store as of ``store_max``):
        cache each product as it is now, snapshot those due, and advance the watermarks."""
        for product_id, after in working.items():
            if after is not None:
                before = loaded_at_start[product_id]
                self._cache[product_id] = after
                self._snapshot_if_due(product_id, before, after)
        self._advance_watermarks(store_max, working, ids)

    def failed(self, product_ids: Iterable[str]) -> None:
        """After a commit that did not happen: forget what the batch assumed of the store."""
        self.known_max = None
        for product_id in product_ids:
            self.forget(product_id)

    def _advance_watermarks(
        self, store_max: int, working: Mapping[str, Loaded | None], ids: list[int]
    ) -> None:
        """After a commit: if its rows directly follow the last id the batch saw, nobody else
        wrote in between, so every cache that held the store up to that id now holds it up
        to this commit's last row (the batch's own products include its events). Otherwise
        forget the marks: the next batch asks the store for later events, as a cold one would."""
        if not ids or min(ids) != store_max + 1 or max(ids) != store_max + len(ids):
            self._current_as_of.clear()
            self.known_max = None
            return
        last = max(ids)
        self.known_max = last
        for product_id in working:
            self._current_as_of.pop(product_id, None)
            if working[product_id] is not None:
                self._current_as_of[product_id] = last
        for product_id, mark in self._current_as_of.items():
            if mark == store_max:
                self._current_as_of[product_id] = last

    def _snapshot_if_due(self, product_id: str, before: Loaded | None, after: Loaded) -> None:
        if self.app.snapshots is None:
            return
        previous = before.version if before else 0
        if after.version // self.snapshot_interval == previous // self.snapshot_interval:
            return
        self.snapshot(product_id, after)

    def snapshot(self, product_id: str, loaded: Loaded) -> None:
        """Store a snapshot of ``loaded`` (a repeat of the same version is harmless)."""
        assert self.app.snapshots is not None
        with contextlib.suppress(IntegrityError):  # another node took the same snapshot
            self.app.snapshots.put(
                [
                    ProductSnapshot(
                        originator_id=product_stream_id(product_id),
                        originator_version=loaded.version,
                        state=encode_state(loaded.state),
                        last_hash=loaded.last_hash,
                    )
                ]
            )
