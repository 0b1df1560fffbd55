"""A batch of requests, decided and stored at once (group commit).

- ``execute_batch`` decides many requests one after another against the state the earlier
  ones left (the decision is the domain's: ``decide_and_apply``), checks that each
  decision's events load back into a product every client can read (no poison in the
  log), builds their hash-chained records and markers, and stores all of them in ONE
  transaction; a failed commit fails every request of the batch and stores nothing.
  ``adapters.store.writer`` feeds batches from concurrent callers.
- Concurrency: a batch that loses the race for a stream version (or for a marker) is
  decided again against the fresh streams, at most ``CONFLICT_RETRIES`` times. A batch may
  first be decided optimistically on the node's caches, and confirmed afterwards.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from attrs import define, field
from eventsourcing.persistence import IntegrityError

from adapters.rejections import REJECTIONS, Rejection
from adapters.store.codec import (
    GENESIS_HASH,
    EncodedPayload,
    chain_hash_encoded,
    command_fingerprint,
    decode_event,
    encode_event,
)
from adapters.store.contract import (
    CONFLICT_RETRIES,
    ConcurrencyConflict,
    Outcome,
    Request,
    StoreWriteFailed,
    UnstorableCommand,
)
from adapters.store.event_store import EventStore, Loaded
from adapters.store.idempotency import check_request_id, markers_of, repeat_in_batch, replay_of
from adapters.store.oracle_book import OracleBook
from adapters.store.records import (
    REGISTRY_STREAM_ID,
    ProductListed,
    RequestRecorded,
    StoredProductEvent,
    product_stream_id,
    request_stream_id,
)
from domain.commands import LaunchProduct
from domain.decide import decide_and_apply
from domain.draft import Draft
from domain.evolve import evolve
from domain.model import ProductState
from domain.validation import state_out_of_range

CONFLICT_BACKOFF_S = 0.002


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
    # The store's last notification id when the batch began (see ``EventStore.load``).
    store_max: int = 0
    listed_at_start: int = 0
    launches: int = 0


class Batches:
    """Decides and stores batches of requests on one store, with its oracle book."""

    def __init__(self, store: EventStore, oracle: OracleBook) -> None:
        self.store = store
        self.oracle = oracle

    def execute_batch(self, requests: Sequence[Request]) -> list[Outcome | Rejection]:
        """Decide ``requests`` one after another, each on the state the ones before it left,
        and store all their events and idempotency markers in ONE transaction (group
        commit). Each result is an outcome or the named error that rejected that request;
        nothing is returned before the transaction is durable. If the commit loses a race
        the whole batch is decided again on the fresh stream (bounded); if it fails, every
        request of the batch fails with that error and nothing of it is stored."""
        store = self.store
        for attempt in range(CONFLICT_RETRIES):
            # First optimistically: when this node's last commit directly followed what it
            # knew of the store, decide on its caches without asking the store for the
            # batch's markers or its last id. What that skips cannot be missed: a request
            # handled before inserts its marker again and another writer's events take a
            # version this batch would take, so the commit fails on the store's unique keys
            # and the batch is decided again below, after reading both.
            known_max = store.known_max if attempt == 0 else None
            optimistic = known_max is not None
            markers: dict[str, RequestRecorded] = {}
            if known_max is not None:
                store_max = known_max
            else:
                store_max, markers = markers_of(store, requests)
            batch = _Batch(
                store_max=store_max,
                listed_at_start=store.listed_count(
                    any(isinstance(r.command, LaunchProduct) for r in requests)
                ),
                markers=markers,
            )
            results = [self._decide_into(batch, request) for request in requests]
            if optimistic and not self._confirm_optimistic(requests, results, store_max):
                continue  # the store moved on: decide again on what it holds now
            if not batch.records:
                return results
            try:
                recordings = store.put(batch.records)
            except Exception as error:
                store.failed(batch.working)
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
            store.committed(
                batch.store_max, batch.loaded_at_start, batch.working, [r.notification.id for r in recordings]
            )
            return results
        conflict = ConcurrencyConflict(
            f"{CONFLICT_RETRIES} concurrent writers won the race in a row; "
            "nothing was applied, retry the request"
        )
        return [conflict] * len(requests)

    def _lost_a_race(self, batch: _Batch) -> bool:
        """Whether another writer stored what this batch collided with: a later version of
        one of its products, a marker of one of its request ids, or another launch. Any
        other integrity error is a failure of the store, not a race, and is not retried."""
        for product_id, loaded in batch.loaded_at_start.items():
            version = loaded.version if loaded else 0
            if self.store.has_after(product_stream_id(product_id), version):
                return True
        for request_id in batch.requests:
            if self.store.has_after(request_stream_id(request_id, self.store.key_format)):
                return True
        if not batch.launches:
            return False
        return self.store.has_after(REGISTRY_STREAM_ID, batch.listed_at_start)

    def _decide_into(self, batch: _Batch, request: Request) -> Outcome | Rejection:
        """Decide one request of a batch and add its records to the batch."""
        product_id, command, request_id = request.product_id, request.command, request.request_id
        try:
            check_request_id(request_id)
            fingerprint = command_fingerprint(product_id, command)
            earlier = batch.requests.get(request_id)
            if earlier is not None:
                return repeat_in_batch(request_id, fingerprint, earlier)
            replay = replay_of(self.store, request_id, fingerprint, batch.markers.get(request_id), command)
            if replay is not None:
                return replay
            if product_id not in batch.working:
                loaded = self.store.load(product_id, batch.store_max)
                batch.loaded_at_start[product_id] = loaded
                batch.working[product_id] = loaded
            loaded = batch.working[product_id]
            decided = decide_and_apply(
                loaded.state if loaded else None, self.oracle.with_oracle(command), request.now
            )
            encoded, state = self._load_back(loaded, decided)
        except REJECTIONS as error:
            return error
        events = decided.events
        after = _add_records(
            batch, product_id, loaded, encoded, state, request_id, fingerprint, self.store.key_format
        )
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
                stored = self.store.read_back(payload.json)
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
        store_max, markers = markers_of(self.store, [requests[i] for i in quiet])
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
                replay = replay_of(self.store, request.request_id, fingerprint, marker, request.command)
            except REJECTIONS as error:
                results[i] = error
                continue
            if replay is not None:
                results[i] = replay
        return True


def _add_records(
    batch: _Batch,
    product_id: str,
    loaded: Loaded | None,
    encoded: list[tuple[str, int, EncodedPayload]],
    state: ProductState | None,
    request_id: str,
    fingerprint: str,
    key_format: int,
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
            originator_id=request_stream_id(request_id, key_format),  # as the store keys them
            originator_version=1,
            request_id=request_id,
            product_id=product_id,
            fingerprint=fingerprint,
            first_version=first_version,
            event_count=len(encoded),
        )
    )
    return Loaded(state, version, prev_hash) if state is not None else None
