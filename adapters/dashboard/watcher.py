"""The dashboard's watcher of one node: it follows the node's log
(``StreamEvents(follow=true)``) from the last position it received, keeps the recent events
and pushes each to the open pages; when the node goes away it says so and reconnects by
itself, resuming after that position, so no event is missed or shown twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from attrs import frozen

from adapters.dashboard.present import collateral_decimals_of, summary
from adapters.grpc.stubs import audit_pb2, audit_pb2_grpc, token_pb2_grpc
from adapters.store.codec import decode_event
from domain import events as ev

KEEP_EVENTS = 500  # events the dashboard remembers for pages that (re)connect
SUBSCRIBER_QUEUE = 2_000
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 2.0
CONNECT_TIMEOUT_S = 2.0
DEFAULT_DECIMALS = 6
# Reconnect quickly after the node comes back (gRPC's default backoff grows to minutes),
# and notice a dead connection that no packet reports.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
)

log = logging.getLogger("iit.dashboard")


@frozen
class NodeTarget:
    """Where the node is and how to reach it: TLS when ``ca`` is given (mTLS with
    ``cert`` and ``key``), and a bearer token (a ``viewer`` token is enough)."""

    address: str
    token: str | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def channel(self) -> grpc.aio.Channel:
        if self.ca is None:
            return grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes() if self.key else None,
            certificate_chain=self.cert.read_bytes() if self.cert else None,
        )
        return grpc.aio.secure_channel(self.address, credentials, options=CHANNEL_OPTIONS)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def why(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    if isinstance(error, TimeoutError):
        return "the node does not answer"
    return f"{type(error).__name__}: {error}"


class Watcher:
    """Follows the node's log and tells the pages; knows whether the node is reachable."""

    def __init__(self, target: NodeTarget, keep: int = KEEP_EVENTS, clock: str = "wall") -> None:
        self.target = target
        self.clock = clock
        self._open()
        self.events: deque[dict[str, Any]] = deque(maxlen=keep)
        self.position = 0  # the last store position received
        self.connected = False
        self.error = "connecting"
        self.changed_at = time.time()
        self.products: list[str] = []
        self.decimals: dict[str, int] = {}
        self.latest_at = 0  # the latest event time seen (a simulated clock may run ahead)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    # Following ----------------------------------------------------------------------------

    def _open(self) -> None:
        """A fresh channel (after a failure, rather than trusting the old one to recover)."""
        self.channel = self.target.channel()
        self.audit = audit_pb2_grpc.AuditServiceStub(self.channel)
        self.token = token_pb2_grpc.TokenServiceStub(self.channel)

    async def run(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            try:
                await asyncio.wait_for(self.channel.channel_ready(), CONNECT_TIMEOUT_S)
                # Catch up without following first: its end says the node lets us read the
                # log (a refusal ends it at once), so the page can be told "connected".
                await self._read(follow=False)
                self._status(connected=True, error="")
                delay = RECONNECT_MIN_S
                await self._read(follow=True)
                self._status(connected=False, error="the node ended the stream")
            except asyncio.CancelledError:
                raise
            except (grpc.aio.AioRpcError, TimeoutError) as error:
                self._status(connected=False, error=why(error))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
            if not self.connected:
                old = self.channel
                self._open()
                await old.close(None)

    async def _read(self, follow: bool) -> None:
        """The events after the last position received; with ``follow``, until the end."""
        call = self.audit.StreamEvents(
            audit_pb2.StreamEventsRequest(from_position=self.position, follow=follow),
            metadata=self.target.metadata,
        )
        async for message in call:
            self._take(message)

    def _take(self, message: audit_pb2.Event) -> None:
        if message.position <= self.position:
            return  # never twice (a resumed stream starts after the last one anyway)
        self.position = message.position
        self.latest_at = max(self.latest_at, message.occurred_at.seconds)
        product_id = message.product_id
        holder, text, routine = "", message.type, message.type == "PriceReported"
        try:
            event = decode_event(message.type, message.schema, json.loads(message.payload_json))
        except Exception:  # an event type newer than this dashboard: shown by name
            log.warning("cannot decode event %s at %s", message.type, message.position)
        else:
            decimals = collateral_decimals_of(event)
            if decimals is not None:
                self.decimals[product_id] = decimals
            holder, text = summary(event, self.decimals.get(product_id, DEFAULT_DECIMALS))
            routine = routine or (isinstance(event, ev.PriceAccepted) and event.move_wad == 0)
        if message.type == "ProductLaunched" and product_id not in self.products:
            self.products.append(product_id)
        item = {
            "kind": "event",
            "position": message.position,
            "product_id": product_id,
            "type": message.type,
            "at": iso(message.occurred_at.seconds),
            "holder": holder,
            "summary": text,
            # An oracle's report, or a price accepted again unchanged: folded by the page.
            "routine": routine,
            "request_id": message.request_id,
        }
        self.events.append(item)
        self._publish(item)

    def _status(self, connected: bool, error: str) -> None:
        if connected == self.connected and error == self.error:
            return
        self.connected, self.error, self.changed_at = connected, error, time.time()
        log.info("node %s: %s", "connected" if connected else "unreachable", error or self.target.address)
        self._publish(self.status())

    def status(self) -> dict[str, Any]:
        return {
            "kind": "status",
            "connected": self.connected,
            "node": self.target.address,
            "error": self.error,
            "since": iso(int(self.changed_at)),
            "position": self.position,
        }

    # The pages ---------------------------------------------------------------------------

    def _publish(self, item: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:  # a page that does not keep up: end its stream, and the
                self._subscribers.discard(queue)  # browser reconnects and resumes after the last
                queue.get_nowait()  # event it got (Last-Event-ID)
                queue.put_nowait({"kind": "overflow"})

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def now(self) -> int:
        """The moment ages are measured from: the wall clock (or the latest event, when the
        node's clock runs ahead of it), or with ``clock="log"`` the latest event in the log,
        for a node on a simulated clock."""
        if self.clock == "log":
            return self.latest_at
        return max(int(time.time()), self.latest_at)

    async def close(self) -> None:
        await self.channel.close(None)
