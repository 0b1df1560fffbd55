"""The node: the system of record for every product in one store, on the eventsourcing
library's Application (SQLite by default, PostgreSQL to share a store between nodes).

A façade over the store's parts, each with one job:

- ``event_store``: loading products (snapshots, the cache), snapshots, putting records;
- ``idempotency``: request ids, markers, the first result of a repeat;
- ``batch``: deciding a batch of requests (the domain decides), the no-poison check,
  the records, the commit and its optimistic retry;
- ``oracle_book``: the oracle's rounds of prices;
- ``contract``: the requests, outcomes and errors all of them share.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, InternalError, ProgrammingError, Transcoder

from adapters.rejections import REJECTIONS, Rejection
from adapters.store.batch import Batches
from adapters.store.codec import PayloadTranscoder
from adapters.store.contract import OracleRound, Outcome, Request
from adapters.store.event_store import EventStore, Loaded
from adapters.store.oracle_book import OracleBook, OracleBookView
from adapters.store.records import StoredProductEvent
from adapters.store.url import store_env
from domain.commands import Command

_CREATE_ATTEMPTS = 5  # tries at creating a fresh store's tables beside other nodes


class Node(Application[Any]):
    """The system of record for every product in one store."""

    name = "iit"
    is_snapshotting_enabled = True

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                super().__init__(env)
                break
            except (IntegrityError, InternalError, ProgrammingError):
                # Nodes started together on a fresh PostgreSQL store race to create its
                # tables: the library's CREATE TABLE IF NOT EXISTS is not safe against a
                # concurrent one (a duplicate catalog row, "tuple concurrently updated", "relation
                # already exists").
                # Whoever lost finds the tables made on the next try.
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        self.store = EventStore(self)
        self.oracle = OracleBook(self.store)
        self.batches = Batches(self.store, self.oracle)
        self.key_format = self.store.key_format  # how this store keys request ids (key_format.py)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder, writing each event's payload from the canonical
        JSON its chain hash was computed over (see ``codec.PayloadTranscoder``)."""
        transcoder = PayloadTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    @classmethod
    def open(cls, store_url: str, **extra_env: str) -> Node:
        return cls({**store_env(store_url), **extra_env})

    # Reading -----------------------------------------------------------------------------

    def product_ids(self) -> tuple[str, ...]:
        """Every product launched in this store, in launch order (other nodes' too)."""
        return self.store.product_ids()

    def load(self, product_id: str, store_max: int | None = None) -> Loaded | None:
        """The product as stored now (see ``EventStore.load``), or None if never launched."""
        return self.store.load(product_id, store_max)

    def load_cold(self, product_id: str, version: int | None = None) -> Loaded | None:
        """The product as a fresh node loads it, as of ``version`` (see ``EventStore.load_cold``)."""
        return self.store.load_cold(product_id, version)

    def forget(self, product_id: str) -> None:
        """Drop the cached state: the next load is cold (snapshot plus later events)."""
        self.store.forget(product_id)

    def stored_events(
        self, product_id: str, gt: int = 0, lte: int | None = None
    ) -> Iterator[StoredProductEvent]:
        """The product's stored events with ``gt < version <= lte``."""
        return self.store.stored_events(product_id, gt, lte)

    def oracle_book(self) -> OracleBookView:
        """The latest report of each reporter for every symbol ever reported."""
        return self.oracle.book()

    # Writing -----------------------------------------------------------------------------

    def record_round(
        self,
        request_id: str,
        reporter_id: str,
        observed_at: int,
        prices: tuple[tuple[str, int], ...],
        now: int,
    ) -> OracleRound:
        """Record a round in the oracle's book once (see ``OracleBook.record_round``)."""
        return self.oracle.record_round(request_id, reporter_id, observed_at, prices, now)

    def execute(self, product_id: str, command: Command, request_id: str, now: int) -> Outcome:
        """Decide ``command`` for ``product_id`` at ``now`` and store what it causes, once."""
        result = self.execute_batch([Request(product_id, command, request_id, now)])[0]
        if isinstance(result, REJECTIONS):
            raise result
        return result

    def execute_batch(self, requests: Sequence[Request]) -> list[Outcome | Rejection]:
        """Decide ``requests`` and store them in one transaction (see ``Batches.execute_batch``)."""
        return self.batches.execute_batch(requests)

    def snapshot(self, product_id: str, loaded: Loaded) -> None:
        """Store a snapshot of ``loaded`` (a repeat of the same version is harmless)."""
        self.store.snapshot(product_id, loaded)
