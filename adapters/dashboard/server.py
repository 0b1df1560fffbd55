"""The dashboard: a Starlette app, served by uvicorn, that is a gRPC client of one node.

It never writes to the node: it calls GetProduct, GetNavHistory, StreamEvents and
CheckInvariants only, so a ``viewer`` token is all it needs. One background task follows
the node's log (``StreamEvents(follow=true)``) from the last position it received, keeps
the recent events and pushes each to the open pages as a server-sent event; when the
node goes away it says so to the pages and reconnects by itself, resuming after that
position, so no event is missed or shown twice. The page (``static/``) polls the cards
and the NAV history (only the points after the last one it has) and opens the event
stream with the standard ``Last-Event-ID`` resume.

Numbers leave as the node's decimal strings; the page and ``present`` render them with
string arithmetic only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from attrs import frozen
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from adapters.dashboard.present import collateral_decimals_of, summary
from adapters.grpc.stubs import audit_pb2, audit_pb2_grpc, common_pb2, token_pb2, token_pb2_grpc
from adapters.store.codec import decode_event
from domain import events as ev

STATIC = Path(__file__).parent / "static"
KEEP_EVENTS = 500  # events the dashboard remembers for pages that (re)connect
SUBSCRIBER_QUEUE = 2_000
KEEPALIVE_S = 10.0
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 2.0
CONNECT_TIMEOUT_S = 2.0
RPC_TIMEOUT_S = 10.0
AUDIT_TIMEOUT_S = 300.0
DEFAULT_DECIMALS = 6
STATUS_NAMES = {
    common_pb2.PRODUCT_STATUS_ACTIVE: "ACTIVE",
    common_pb2.PRODUCT_STATUS_PAUSED: "PAUSED",
    common_pb2.PRODUCT_STATUS_HALTED: "HALTED",
    common_pb2.PRODUCT_STATUS_SETTLED: "SETTLED",
}
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


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _why(error: BaseException) -> str:
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
                self._status(connected=False, error=_why(error))
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
            "at": _iso(message.occurred_at.seconds),
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
            "since": _iso(int(self.changed_at)),
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


def product_card(product: common_pb2.Product, now: int) -> dict[str, Any]:
    """A product as the page shows it: the node's decimal strings as they are."""
    params = product.params
    observed = product.price_observed_at.seconds
    return {
        "product_id": product.product_id,
        "status": STATUS_NAMES.get(product.status, "UNKNOWN"),
        "index_price": product.index_price,
        "nav_per_token": product.nav_per_token,
        "leverage": product.leverage,
        "target_leverage": params.target_leverage,
        "band_low": params.band_low,
        "band_high": params.band_high,
        "ripcord_leverage": params.ripcord_leverage,
        "supply": product.supply,
        "cash": product.cash,
        "debt_units": product.debt_units,
        "collateral_decimals": params.collateral_decimals,
        "funding_rate": product.funding_rate,
        "bad_debt": product.bad_debt,
        "pending_index_price": product.pending_index_price,
        "components": [{"symbol": c.symbol, "quantity": c.quantity} for c in product.components],
        "price_observed_at": _iso(observed) if observed else "",
        "price_age_s": now - observed if observed else None,
        "next_rebalance_at": _iso(product.next_rebalance_at.seconds),
        "next_rebalance_in_s": product.next_rebalance_at.seconds - now,
        "version": product.version,
    }


def nav_points(response: audit_pb2.GetNavHistoryResponse) -> dict[str, Any]:
    return {
        "as_of_position": response.as_of_position,
        "points": [
            {
                "position": p.position,
                "at": p.at.seconds,
                "index_price": p.index_price,
                "nav_per_token": p.nav_per_token,
                "leverage": p.leverage,
                "supply": p.supply,
            }
            for p in response.points
        ],
    }


def _unavailable(watcher: Watcher, error: BaseException) -> JSONResponse:
    code = 503
    if isinstance(error, grpc.aio.AioRpcError) and error.code() == grpc.StatusCode.NOT_FOUND:
        code = 404
    return JSONResponse({"error": _why(error), "status": watcher.status()}, status_code=code)


def create_app(target: NodeTarget, clock: str = "wall") -> Starlette:
    """The dashboard's web app over the node at ``target``; ages are measured from the wall
    clock, or from the latest event in the log with ``clock="log"`` (a simulated clock)."""
    state: dict[str, Any] = {}

    def watcher() -> Watcher:
        found = state["watcher"]
        assert isinstance(found, Watcher)
        return found

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["watcher"] = Watcher(target, clock=clock)
        task = asyncio.create_task(watcher().run(), name="iit-dashboard-watcher")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await watcher().close()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def status(request: Request) -> Response:
        w = watcher()
        return JSONResponse({**w.status(), "products": w.products})

    async def products(request: Request) -> Response:
        w = watcher()
        try:
            found = await asyncio.gather(
                *(
                    w.token.GetProduct(
                        token_pb2.GetProductRequest(product_id=pid),
                        metadata=target.metadata,
                        timeout=RPC_TIMEOUT_S,
                    )
                    for pid in w.products
                )
            )
        except grpc.aio.AioRpcError as error:
            return _unavailable(w, error)
        now = w.now()
        return JSONResponse({"now": _iso(now), "products": [product_card(p, now) for p in found]})

    async def nav(request: Request) -> Response:
        w = watcher()
        try:
            after = int(request.query_params.get("after_position", "0"))
            max_points = int(request.query_params.get("max_points", "0"))
        except ValueError:
            return JSONResponse({"error": "after_position and max_points are integers"}, status_code=400)
        try:
            response = await w.audit.GetNavHistory(
                audit_pb2.GetNavHistoryRequest(
                    product_id=request.path_params["product_id"], after_position=after, max_points=max_points
                ),
                metadata=target.metadata,
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return JSONResponse({"error": _why(error)}, status_code=400)
            return _unavailable(w, error)
        return JSONResponse(nav_points(response))

    async def check(request: Request) -> Response:
        w = watcher()
        try:
            report = await w.audit.CheckInvariants(
                audit_pb2.CheckInvariantsRequest(), metadata=target.metadata, timeout=AUDIT_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            return _unavailable(w, error)
        return JSONResponse(
            {
                "ok": report.ok,
                "events_checked": report.events_checked,
                "products": report.products,
                "invariants_checked": report.invariants_checked,
                "violations": [
                    {
                        "position": v.position,
                        "product_id": v.product_id,
                        "version": v.version,
                        "invariant": v.invariant,
                        "detail": v.detail,
                    }
                    for v in report.violations
                ],
            }
        )

    async def events(request: Request) -> Response:
        w = watcher()
        header = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        after = int(header) if header.isdigit() else 0
        return StreamingResponse(
            _sse(w, after),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/favicon.ico", lambda request: Response(status_code=204)),
            Route("/api/status", status),
            Route("/api/products", products),
            Route("/api/nav/{product_id}", nav),
            Route("/api/check", check, methods=["POST"]),
            Route("/api/events", events),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )


def _frame(item: Mapping[str, Any]) -> str:
    data = json.dumps(item, separators=(",", ":"))
    if item["kind"] == "event":
        return f"id: {item['position']}\nevent: tail\ndata: {data}\n\n"
    return f"event: status\ndata: {data}\n\n"


async def _sse(watcher: Watcher, after: int) -> AsyncIterator[str]:
    """The status, the remembered events after ``after``, then every new one, live."""
    with watcher.subscribe() as queue:  # subscribed first: nothing falls between the two
        yield "retry: 1000\n\n"
        yield _frame(watcher.status())
        sent = after
        for item in list(watcher.events):
            if item["position"] > sent:
                sent = item["position"]
                yield _frame(item)
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if item["kind"] == "overflow":
                return
            if item["kind"] == "event":
                if item["position"] <= sent:
                    continue
                sent = item["position"]
            yield _frame(item)
