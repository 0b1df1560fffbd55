"""The node's application service: load -> decide -> save -> reply, on the eventsourcing
library's Application (SQLite by default, PostgreSQL to share a store between nodes).

- Idempotency: each command's events and a ``RequestRecorded`` marker (a stream whose id
  derives from the request id) are saved in one transaction. A repeat finds the marker
  and returns the first result, writing nothing; the same id with another command is
  ``RequestIdReused``. A crash between the client's send and its retry cannot apply a
  command twice: the marker exists exactly when the events do.
- Group commit: ``execute_batch`` decides many requests one after another against the
  state the earlier ones left and stores all their records in ONE transaction; a failed
  commit fails every request of the batch and stores nothing. ``execute`` is a batch of
  one; ``adapters.store.writer`` feeds batches from concurrent callers.
- Concurrency: a batch that loses the race for a stream version (or for a marker) is
  decided again against the fresh streams, at most ``CONFLICT_RETRIES`` times.
- Loading: the latest snapshot (taken every ``SNAPSHOT_INTERVAL`` events, or every
  ``IIT_SNAPSHOT_INTERVAL`` given in the env) plus the events after it; an in-process
  cache fast-forwards with the events other nodes appended.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
from attrs import define, field, frozen
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Recording, Transcoder

from adapters.rejections import REJECTIONS, AdapterError, Rejection
from adapters.store.codec import (
    GENESIS_HASH,
    EncodedPayload,
    PayloadTranscoder,
    canonical_json,
    chain_hash_encoded,
    command_fingerprint,
    decode_event,
    decode_state,
    encode_event,
    encode_state,
    legacy_update_fingerprint,
)
from adapters.store.lookup import batch_view
from adapters.store.records import (
    ORACLE_STREAM_ID,
    REGISTRY_STREAM_ID,
    OracleRequestRecorded,
    OracleRoundRecorded,
    ProductListed,
    ProductSnapshot,
    RequestRecorded,
    StoredProductEvent,
    oracle_request_stream_id,
    product_stream_id,
    request_stream_id,
    store_key_format,
)
from adapters.store.url import store_env
from domain.commands import Command, LaunchProduct, ReconstituteIndex, UpdateParameters
from domain.decide import decide_and_apply
from domain.draft import Draft
from domain.errors import InvalidArgument, InvalidParameters
from domain.events import Event, ParametersUpdated
from domain.evolve import evolve
from domain.model import ProductState, Report
from domain.oracle import check_round, with_round
from domain.params import patched
from domain.validation import shown, state_out_of_range

OracleBook = Mapping[str, Mapping[str, Report]]

CONFLICT_RETRIES = 16
CONFLICT_BACKOFF_S = 0.002
SNAPSHOT_INTERVAL = 200
# Store env (or process env) key overriding SNAPSHOT_INTERVAL, e.g. small for tests that must
# exercise cold loads from snapshots without writing hundreds of events.
SNAPSHOT_INTERVAL_ENV = "IIT_SNAPSHOT_INTERVAL"
# The longest request id the node stores: a client's (128, ``domain.validation``) with the
# ``#<product_id>`` of a fanned-out price, or one of the keeper's own.
STORED_REQUEST_ID_MAX_LEN = 256


class RequestIdReused(AdapterError):
    """A request id was used before for a different command."""


class ConcurrencyConflict(AdapterError):
    """Other writers kept winning the race for this product; the command was not applied."""


class StoreWriteFailed(AdapterError):
    """The store did not commit a batch; none of its requests was applied."""


class UnstorableCommand(AdapterError):
    """A command whose events could not be encoded, or would not load back (decode and
    evolve) into a product every client can read: rejected before its commit, so that no
    stored event can make a product unloadable (SPEC §7, no poison in the log)."""


@frozen
class Request:
    """One command for one product, with its idempotency key and the time it is decided at."""

    product_id: str
    command: Command
    request_id: str
    now: int


@frozen
class Loaded:
    """A product's state at ``version`` of its stream and the hash of that event."""

    state: ProductState
    version: int
    last_hash: str


@frozen
class Outcome:
    """The reply to a command: the events it caused, the state right after them and the
    version of the product's stream they end at. Every field of an RPC's reply is built
    from these alone, never from the product as it is later (SPEC §2: a repeat answers the
    first reply field for field).

    ``replayed`` is true when the request id had been handled before and this is the
    first result returned again: the same events, state and version, rebuilt from the log
    as of the command's last event (so it holds after a restart and whatever was written
    since)."""

    events: tuple[Event, ...]
    state: ProductState | None
    replayed: bool
    version: int = 0


@frozen
class OracleRound:
    """A round in the oracle's book: its version in the oracle stream, and whether this
    request had recorded it before (a retry)."""

    version: int
    replayed: bool


@define
class _Batch:
    """What a batch has decided so far: records to store in one transaction, each touched
    product as it will be after the commit, and the requests already handled."""

    records: list[Any] = field(factory=list)
    working: dict[str, Loaded | None] = field(factory=dict)
    loaded_at_start: dict[str, Loaded | None] = field(factory=dict)
    requests: dict[str, tuple[str, str, Outcome]] = field(factory=dict)
    # The markers of the batch's request ids handled before it, read in one round trip.
    markers: dict[str, RequestRecorded] = field(factory=dict)
    # The store's last notification id when the batch began (see ``Node.load``).
    store_max: int = 0
    listed_at_start: int = 0
    launches: int = 0


def _repeat_in_batch(
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
        # product -> a notification id of the store up to which its cached state holds every
        # event: while the store has nothing later, the cache is the product as stored now.
        self._current_as_of: dict[str, int] = {}
        # The store's last notification id after this node's last commit, while that commit
        # directly followed what the node knew before it (None: ask the store).
        self._known_max: int | None = None
        # The oracle's book of every asset (version of the oracle stream, book), and the
        # lock of its writes: rounds are recorded outside the group-commit writer.
        self._oracle: tuple[int, OracleBook] = (0, {})
        self._oracle_lock = threading.Lock()
        self.key_format = store_key_format(self)  # how this store keys request ids (records.py)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder, writing each event's payload from the canonical
        JSON its chain hash was computed over (see ``codec.PayloadTranscoder``)."""
        transcoder = PayloadTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

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
        self._current_as_of.pop(product_id, None)

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

    def oracle_book(self) -> OracleBook:
        """The latest report of each reporter for every symbol ever reported (other
        nodes' rounds included), whether or not a product holds it."""
        with self._oracle_lock:
            return self._oracle_forward()[1]

    def _oracle_forward(self) -> tuple[int, OracleBook]:
        version, book = self._oracle
        for record in self.events.get(ORACLE_STREAM_ID, gt=version or None):
            assert isinstance(record, OracleRoundRecorded)
            prices = tuple((str(symbol), int(price)) for symbol, price in record.prices)
            book = with_round(book, record.reporter_id, record.observed_at, prices)
            version = record.originator_version
        self._oracle = (version, book)
        return self._oracle

    def _with_oracle(self, command: Command) -> Command:
        """A reconstitution with the oracle book's reports of its symbols, as recorded before
        it: the node prices new components, never the admin (nor the caller)."""
        if not isinstance(command, ReconstituteIndex):
            return command
        book = self.oracle_book()
        reports = tuple(
            (c.symbol, tuple(book[c.symbol].values())) for c in command.components if c.symbol in book
        )
        return attrs.evolve(command, oracle_reports=reports)

    def record_round(
        self,
        request_id: str,
        reporter_id: str,
        observed_at: int,
        prices: tuple[tuple[str, int], ...],
        now: int,
    ) -> OracleRound:
        """Record a round in the oracle's book once (prices are facts about assets): its
        record and its request's marker in one transaction. A repeat returns the first
        result and writes nothing; the same id for another round is ``RequestIdReused``."""
        _check_request_id(request_id)
        body = {"reporter_id": reporter_id, "observed_at": observed_at, "prices": [list(p) for p in prices]}
        fingerprint = hashlib.sha256(canonical_json(body).encode()).hexdigest()
        with self._oracle_lock:
            for _attempt in range(CONFLICT_RETRIES):
                for marker in self.events.get(oracle_request_stream_id(request_id, self.key_format), limit=1):
                    assert isinstance(marker, OracleRequestRecorded)
                    if marker.fingerprint != fingerprint:
                        raise RequestIdReused(
                            f"request_id {request_id!r} was used for a different price round; "
                            "use a new request id"
                        )
                    return OracleRound(marker.oracle_version, replayed=True)
                version, book = self._oracle_forward()
                check_round(book, reporter_id, observed_at, prices, now)
                records = [
                    OracleRoundRecorded(
                        originator_id=ORACLE_STREAM_ID,
                        originator_version=version + 1,
                        reporter_id=reporter_id,
                        observed_at=observed_at,
                        prices=[list(p) for p in prices],
                        request_id=request_id,
                        at=now,
                    ),
                    OracleRequestRecorded(
                        originator_id=oracle_request_stream_id(request_id, self.key_format),
                        originator_version=1,
                        request_id=request_id,
                        fingerprint=fingerprint,
                        oracle_version=version + 1,
                    ),
                ]
                try:
                    self.events.put(records)
                except IntegrityError:
                    continue  # another node recorded a round (or this request) first
                except Exception as error:
                    raise StoreWriteFailed(
                        f"the store did not record the round: {type(error).__name__}: {error}; "
                        "retry with the same request_id"
                    ) from error
                self._oracle = (version + 1, with_round(book, reporter_id, observed_at, prices))
                return OracleRound(version + 1, replayed=False)
        raise ConcurrencyConflict(
            f"{CONFLICT_RETRIES} concurrent writers won the race in a row; nothing was recorded, retry"
        )

    # Writing -----------------------------------------------------------------------------

    def execute(self, product_id: str, command: Command, request_id: str, now: int) -> Outcome:
        """Decide ``command`` for ``product_id`` at ``now`` and store what it causes, once."""
        result = self.execute_batch([Request(product_id, command, request_id, now)])[0]
        if isinstance(result, REJECTIONS):
            raise result
        return result

    def execute_batch(self, requests: Sequence[Request]) -> list[Outcome | Rejection]:
        """Decide ``requests`` one after another, each on the state the ones before it left,
        and store all their events and idempotency markers in ONE transaction (group
        commit). Each result is an outcome or the named error that rejected that request;
        nothing is returned before the transaction is durable. If the commit loses a race
        the whole batch is decided again on the fresh stream (bounded); if it fails, every
        request of the batch fails with that error and nothing of it is stored."""
        for attempt in range(CONFLICT_RETRIES):
            # First optimistically: when this node's last commit directly followed what it
            # knew of the store, decide on its caches without asking the store for the
            # batch's markers or its last id. What that skips cannot be missed: a request
            # handled before inserts its marker again and another writer's events take a
            # version this batch would take, so the commit fails on the store's unique keys
            # and the batch is decided again below, after reading both.
            known_max = self._known_max if attempt == 0 else None
            optimistic = known_max is not None
            markers: dict[str, RequestRecorded] = {}
            if known_max is not None:
                store_max = known_max
            else:
                store_max, markers = self._markers_of(requests)
            batch = _Batch(
                store_max=store_max,
                listed_at_start=self._listed_count(requests),
                markers=markers,
            )
            results = [self._decide_into(batch, request) for request in requests]
            if optimistic and not self._confirm_optimistic(requests, results, store_max):
                continue  # the store moved on: decide again on what it holds now
            if not batch.records:
                return results
            try:
                recordings = self._store(batch.records)
            except Exception as error:
                self._known_max = None
                for product_id in batch.working:
                    self.forget(product_id)
                if isinstance(error, IntegrityError) and self._lost_a_race(batch):
                    # Another writer won a version we decided on, or a request was handled
                    # before: decide the batch again on the store's state, after a short
                    # random pause (when racing another writer) so racers stop colliding.
                    if not optimistic:
                        time.sleep(random.uniform(0, CONFLICT_BACKOFF_S * attempt))  # noqa: S311
                    continue
                failure = StoreWriteFailed(
                    f"the store did not commit this batch of {len(requests)} request(s), so none "
                    f"was applied: {type(error).__name__}: {error}; retry with the same request_id"
                )
                return [failure] * len(requests)
            for product_id, after in batch.working.items():
                if after is not None:
                    before = batch.loaded_at_start[product_id]
                    self._cache[product_id] = after
                    self._snapshot_if_due(product_id, before, after)
            self._advance_watermarks(batch, [r.notification.id for r in recordings])
            return results
        conflict = ConcurrencyConflict(
            f"{CONFLICT_RETRIES} concurrent writers won the race in a row; "
            "nothing was applied, retry the request"
        )
        return [conflict] * len(requests)

    def _store(self, records: list[Any]) -> list[Recording[Any]]:
        """Store a batch's records in one transaction: the library's event store, as
        ``Application.save`` would after collecting them, without its per-object protocol
        checks (a tenth of the writer's time; these records are already the events)."""
        return self.events.put(records)

    def _advance_watermarks(self, batch: _Batch, ids: list[int]) -> None:
        """After a commit: if its rows directly follow the last id the batch saw, nobody else
        wrote in between, so every cache that held the store up to that id now holds it up
        to this commit's last row (the batch's own products include its events). Otherwise
        forget the marks: the next batch asks the store for later events, as a cold one would."""
        if not ids or min(ids) != batch.store_max + 1 or max(ids) != batch.store_max + len(ids):
            self._current_as_of.clear()
            self._known_max = None
            return
        last = max(ids)
        self._known_max = last
        for product_id in batch.working:
            self._current_as_of.pop(product_id, None)
            if batch.working[product_id] is not None:
                self._current_as_of[product_id] = last
        for product_id, mark in self._current_as_of.items():
            if mark == batch.store_max:
                self._current_as_of[product_id] = last

    def _listed_count(self, requests: Sequence[Request]) -> int:
        """The registry's length, read afresh only for a batch that launches a product (its
        listing takes the next version): a query per batch otherwise spent for nothing."""
        if any(isinstance(r.command, LaunchProduct) for r in requests):
            return len(self.product_ids())
        return len(self._listed)

    def _lost_a_race(self, batch: _Batch) -> bool:
        """Whether another writer stored what this batch collided with: a later version of
        one of its products, a marker of one of its request ids, or another launch. Any
        other integrity error is a failure of the store, not a race, and is not retried."""
        for product_id, loaded in batch.loaded_at_start.items():
            version = loaded.version if loaded else 0
            if any(True for _ in self.events.get(product_stream_id(product_id), gt=version or None, limit=1)):
                return True
        for request_id in batch.requests:
            if any(True for _ in self.events.get(request_stream_id(request_id, self.key_format), limit=1)):
                return True
        if not batch.launches:
            return False
        listed = batch.listed_at_start
        return any(True for _ in self.events.get(REGISTRY_STREAM_ID, gt=listed or None, limit=1))

    def _decide_into(self, batch: _Batch, request: Request) -> Outcome | Rejection:
        """Decide one request of a batch and add its records to the batch."""
        product_id, command, request_id = request.product_id, request.command, request.request_id
        try:
            _check_request_id(request_id)
            fingerprint = command_fingerprint(product_id, command)
            earlier = batch.requests.get(request_id)
            if earlier is not None:
                return _repeat_in_batch(request_id, fingerprint, earlier)
            replay = self._replay_of(request_id, fingerprint, batch.markers.get(request_id), command)
            if replay is not None:
                return replay
            if product_id not in batch.working:
                loaded = self.load(product_id, batch.store_max)
                batch.loaded_at_start[product_id] = loaded
                batch.working[product_id] = loaded
            loaded = batch.working[product_id]
            decided = decide_and_apply(
                loaded.state if loaded else None, self._with_oracle(command), request.now
            )
            encoded, state = self._load_back(loaded, decided)
        except REJECTIONS as error:
            return error
        events = decided.events
        after = self._add_records(batch, product_id, loaded, encoded, state, request_id, fingerprint)
        batch.working[product_id] = after
        outcome = Outcome(
            tuple(events),
            after.state if after else None,
            replayed=False,
            version=after.version if after else 0,
        )
        batch.requests[request_id] = (fingerprint, product_id, outcome)
        return outcome

    def _load_back(
        self, loaded: Loaded | None, decided: Draft
    ) -> tuple[list[tuple[str, int, EncodedPayload]], ProductState | None]:
        """The decided events encoded as they will be stored, and the state a cold load of
        them gives: each payload is decoded from the very JSON the store will hold (through
        the store's transcoder), upcast and structured, then evolved from the state before.
        Anything that fails, or a state with a time no client could be shown, rejects the
        command with ``UnstorableCommand``: it never reaches the commit. The state returned
        is the replayed one, so what the node caches is what it would load."""
        state = loaded.state if loaded else None
        encoded: list[tuple[str, int, EncodedPayload]] = []
        for event in decided.events:
            name = type(event).__name__
            try:
                type_name, schema, plain = encode_event(event)
                payload = EncodedPayload(plain)
                stored = self.mapper.transcoder.decode(payload.json.encode())
                state = evolve(state, decode_event(type_name, schema, stored))
            except Exception as error:
                raise UnstorableCommand(
                    f"the command's {name} event would not load back ({type(error).__name__}: "
                    f"{str(error)[:200]}); nothing was written"
                ) from error
            encoded.append((type_name, schema, payload))
        if state is not None and decided.events:
            problem = state_out_of_range(state, loaded.state if loaded else None)
            if problem is not None:
                raise UnstorableCommand(f"the command would leave the product unreadable: {problem}")
        return encoded, state

    def _markers_of(self, requests: Sequence[Request]) -> tuple[int, dict[str, RequestRecorded]]:
        """The store's last notification id and the markers of those of ``requests``
        handled before: one query for the batch, not one per request (a round trip each,
        and most ids are new)."""
        store_max, found = batch_view(
            self, (request_stream_id(r.request_id, self.key_format) for r in requests)
        )
        markers = {}
        for marker in found.values():
            assert isinstance(marker, RequestRecorded)
            markers[marker.request_id] = marker
        return store_max, markers

    def _confirm_optimistic(
        self, requests: Sequence[Request], results: list[Outcome | Rejection], known_max: int
    ) -> bool:
        """Whether an optimistic batch's answers stand. A request that caused events cannot
        be wrong unnoticed: on a state another writer moved on, or as a repeat, its commit
        collides on the store's unique keys. One that caused none (a rejection, a tick with
        nothing to do) collides on nothing, so if there is any, the store is asked whether
        anyone wrote since this node's last commit (if so: False, decide the batch again)
        and for their markers: a repeat is answered with its first result, as the store
        would have answered it (it wrote nothing, so the decisions after it stand)."""
        quiet = [
            i
            for i, result in enumerate(results)
            if isinstance(result, REJECTIONS) or (not result.events and not result.replayed)
        ]
        if not quiet:
            return True
        store_max, markers = self._markers_of([requests[i] for i in quiet])
        if store_max != known_max:
            return False
        for i in quiet:
            request = requests[i]
            marker = markers.get(request.request_id)
            if marker is None:
                continue
            if not isinstance(results[i], REJECTIONS):
                return False  # a repeat that would store a second marker: decide it as one
            try:
                fingerprint = command_fingerprint(request.product_id, request.command)
                replay = self._replay_of(request.request_id, fingerprint, marker, request.command)
            except REJECTIONS as error:
                results[i] = error
                continue
            if replay is not None:
                results[i] = replay
        return True

    def _replay_of(
        self, request_id: str, fingerprint: str, marker: RequestRecorded | None, command: Command
    ) -> Outcome | None:
        """The first result of a request handled before (``marker``), or None if it never was."""
        if marker is None:
            return None
        if marker.fingerprint != fingerprint and not self._same_legacy_update(marker, command):
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
        return Outcome(
            events, loaded.state if loaded else None, replayed=True, version=loaded.version if loaded else 0
        )

    def _same_legacy_update(self, marker: RequestRecorded, command: Command) -> bool:
        """Whether ``marker`` is of this ``UpdateParameters`` as handled before the command
        was a patch: its fingerprint is of the merged parameters its event records, and
        this patch merged into the parameters before it gives the same."""
        if not isinstance(command, UpdateParameters) or not marker.event_count:
            return False
        last_version = marker.first_version + marker.event_count - 1
        for record in self.stored_events(marker.product_id, marker.first_version - 1, last_version):
            event = decode_event(record.type, record.schema, record.payload)
            if isinstance(event, ParametersUpdated):
                try:
                    merged = patched(event.previous, command.changes)
                except InvalidParameters:
                    return False
                legacy = legacy_update_fingerprint(marker.product_id, event.params)
                return marker.fingerprint == legacy and merged == event.params
        return False

    def _add_records(
        self,
        batch: _Batch,
        product_id: str,
        loaded: Loaded | None,
        encoded: list[tuple[str, int, EncodedPayload]],
        state: ProductState | None,
        request_id: str,
        fingerprint: str,
    ) -> Loaded | None:
        """Append the stored records of the ``encoded`` events (hash-chained after
        ``loaded``) and the request's marker to the batch; return the product as it will be
        once committed (``state``: as its events load back)."""
        version = loaded.version if loaded else 0
        prev_hash = loaded.last_hash if loaded else GENESIS_HASH
        stream_id = product_stream_id(product_id)
        first_version = version + 1
        for index, (type_name, schema, payload) in enumerate(encoded):
            version += 1
            decision_end = index == len(encoded) - 1
            digest = chain_hash_encoded(
                product_id, version, type_name, schema, payload.json, request_id, decision_end, prev_hash
            )
            batch.records.append(
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
            prev_hash = digest
        if loaded is None and encoded:
            # A launch also lists the product, in the same transaction: two launches racing
            # for the same registry version are decided again like any other conflict.
            batch.launches += 1
            batch.records.append(
                ProductListed(
                    originator_id=REGISTRY_STREAM_ID,
                    originator_version=batch.listed_at_start + batch.launches,
                    product_id=product_id,
                )
            )
        batch.records.append(
            RequestRecorded(
                originator_id=request_stream_id(request_id, self.key_format),
                originator_version=1,
                request_id=request_id,
                product_id=product_id,
                fingerprint=fingerprint,
                first_version=first_version,
                event_count=len(encoded),
            )
        )
        return Loaded(state, version, prev_hash) if state is not None else None

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
    """The id stored for a request: a client's (checked at the edge by
    ``domain.validation.check_client_request_id``) or one the node made from it."""
    if not request_id or len(request_id) > STORED_REQUEST_ID_MAX_LEN or not request_id.isprintable():
        raise InvalidArgument(
            f"request_id must be 1-{STORED_REQUEST_ID_MAX_LEN} printable characters, got {shown(request_id)}"
        )
