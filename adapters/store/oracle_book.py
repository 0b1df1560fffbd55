"""The oracle's book: every reporter's latest price of every asset, as rounds recorded once
in the oracle's own stream (prices are facts about assets, not about a product), and the
prices a reconstitution of a product takes from it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import attrs
from eventsourcing.persistence import IntegrityError

from adapters.store.contract import (
    CONFLICT_RETRIES,
    ConcurrencyConflict,
    OracleRound,
    RequestIdReused,
    StoreWriteFailed,
)
from adapters.store.event_store import EventStore
from adapters.store.idempotency import check_request_id, round_fingerprint
from adapters.store.records import (
    ORACLE_STREAM_ID,
    OracleRequestRecorded,
    OracleRoundRecorded,
    oracle_request_stream_id,
)
from domain.commands import Command, ReconstituteIndex
from domain.model import Report
from domain.oracle import check_round, with_round

OracleBookView = Mapping[str, Mapping[str, Report]]


class OracleBook:
    """The book of every asset (version of the oracle stream, book) of one store, and the
    lock of its writes: rounds are recorded outside the group-commit writer."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._oracle: tuple[int, OracleBookView] = (0, {})
        self._oracle_lock = threading.Lock()

    def book(self) -> OracleBookView:
        """The latest report of each reporter for every symbol ever reported (other
        nodes' rounds included), whether or not a product holds it."""
        with self._oracle_lock:
            return self._oracle_forward()[1]

    def _oracle_forward(self) -> tuple[int, OracleBookView]:
        version, book = self._oracle
        for record in self.store.app.events.get(ORACLE_STREAM_ID, gt=version or None):
            assert isinstance(record, OracleRoundRecorded)
            prices = tuple((str(symbol), int(price)) for symbol, price in record.prices)
            book = with_round(book, record.reporter_id, record.observed_at, prices)
            version = record.originator_version
        self._oracle = (version, book)
        return self._oracle

    def with_oracle(self, command: Command) -> Command:
        """A reconstitution with the oracle book's reports of its symbols, as recorded before
        it: the node prices new components, never the admin (nor the caller)."""
        if not isinstance(command, ReconstituteIndex):
            return command
        book = self.book()
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
        check_request_id(request_id)
        fingerprint = round_fingerprint(reporter_id, observed_at, prices)
        with self._oracle_lock:
            for _attempt in range(CONFLICT_RETRIES):
                for marker in self.store.app.events.get(
                    oracle_request_stream_id(request_id, self.store.key_format), limit=1
                ):
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
                        originator_id=oracle_request_stream_id(request_id, self.store.key_format),
                        originator_version=1,
                        request_id=request_id,
                        fingerprint=fingerprint,
                        oracle_version=version + 1,
                    ),
                ]
                try:
                    self.store.app.events.put(records)
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
