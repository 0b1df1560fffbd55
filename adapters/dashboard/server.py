"""The dashboard: a Starlette app, served by uvicorn, that is a gRPC client of one node.

It never writes to the node: it calls GetProduct, GetNavHistory, StreamEvents and
CheckInvariants only, so a ``viewer`` token is all it needs. Its ``watcher`` follows the
node's log in the background and pushes each event to the open pages as a server-sent
event, saying so when the node goes away and resuming after the last position when it
is back. The page (``static/``) polls the cards and the NAV history (only the points
after the last one it has) and opens the event stream with the standard
``Last-Event-ID`` resume.

Numbers leave as the node's decimal strings; the page and ``present`` render them with
string arithmetic only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from adapters.dashboard.watcher import NodeTarget, Watcher, iso, why
from adapters.grpc.stubs import audit_pb2, common_pb2, token_pb2

STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 10.0
RPC_TIMEOUT_S = 10.0
AUDIT_TIMEOUT_S = 300.0
STATUS_NAMES = {
    common_pb2.PRODUCT_STATUS_ACTIVE: "ACTIVE",
    common_pb2.PRODUCT_STATUS_PAUSED: "PAUSED",
    common_pb2.PRODUCT_STATUS_HALTED: "HALTED",
    common_pb2.PRODUCT_STATUS_SETTLED: "SETTLED",
}


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
        "price_observed_at": iso(observed) if observed else "",
        "price_age_s": now - observed if observed else None,
        "next_rebalance_at": iso(product.next_rebalance_at.seconds),
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
    return JSONResponse({"error": why(error), "status": watcher.status()}, status_code=code)


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
        return JSONResponse({"now": iso(now), "products": [product_card(p, now) for p in found]})

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
                return JSONResponse({"error": why(error)}, status_code=400)
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
