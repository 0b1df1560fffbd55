"""Read and follow the log: the stored events after a position, page by page, and, when
asked, the new ones as they commit (StreamEvents), within a bounded number of streams."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from attrs import define, field

from adapters.rejections import AdapterError
from adapters.service.commits import Commits
from adapters.store.node import Node
from adapters.store.records import StoredProductEvent

PAGE_SIZE = 500
# A follower polls the store at least this often, so commits of other node processes
# sharing the store arrive within it; this process's own commits wake it at once.
FOLLOW_POLL_S = 0.25
POSITION_MAX = 2**62  # far beyond any log's length


class TooManyFollowers(AdapterError):
    """Every slot for a following StreamEvents is taken (each holds a server thread)."""


class TooManyStreams(TooManyFollowers):
    """Every slot for a StreamEvents (a replay or a follow: each holds a server thread while
    its client reads, or does not) is taken; unary calls keep the remaining threads."""


@define
class Follow:
    node: Node
    commits: Commits
    max_streams: int = 16
    _lock: threading.Lock = field(factory=threading.Lock)
    _streams: int = 0

    def read_page(self, after: int, limit: int) -> list[tuple[int, object]]:
        """Stored records with a store position after ``after``: (position, record)."""
        page = self.node.recorder.select_notifications(after + 1, limit)
        return [(n.id, self.node.mapper.to_domain_event(n)) for n in page]

    def events(
        self, after: int, product_id: str, follow: bool, active: Callable[[], bool]
    ) -> Iterator[tuple[int, StoredProductEvent]]:
        """The products' events after position ``after`` (only ``product_id``'s when set),
        with their positions; with ``follow``, then the new ones as they commit, for as
        long as ``active()`` says the reader is there."""
        # Any position past every store's end reads nothing; capped so that the store's
        # "after this position" query stays within a signed 64-bit integer.
        position = min(after, POSITION_MAX)
        while True:
            seen = self.commits.committed
            page = self.read_page(position, PAGE_SIZE)
            for notification_id, record in page:
                position = notification_id
                if not isinstance(record, StoredProductEvent):
                    continue  # request markers, the product registry: not domain events
                if product_id and record.product_id != product_id:
                    continue
                yield notification_id, record
            if len(page) == PAGE_SIZE:
                continue
            if not follow or not active():
                return
            self.commits.wait_for_commit(seen, FOLLOW_POLL_S)
            if not active():
                return

    @contextlib.contextmanager
    def stream_slot(self) -> Iterator[None]:
        """Hold one of ``max_streams`` slots for a StreamEvents, or refuse. Replays and
        follows alike: a client that does not read blocks its server thread on flow
        control whichever it asked for, so both are bounded, leaving threads for unary
        calls and health checking (SPEC §7)."""
        with self._lock:
            if self._streams >= self.max_streams:
                raise TooManyStreams(
                    f"{self.max_streams} streams are already open (replays and follows alike); "
                    "retry later, or read the open ones to their end"
                )
            self._streams += 1
        try:
            yield
        finally:
            with self._lock:
                self._streams -= 1
