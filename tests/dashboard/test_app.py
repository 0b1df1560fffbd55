"""The dashboard's HTTP side over a node with mutual TLS and a viewer token (no browser):
its JSON is the node's own decimal strings, and its event stream resumes after the
Last-Event-ID it is given."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
import uvicorn

from adapters.dashboard.server import create_app
from adapters.dashboard.watcher import NodeTarget
from adapters.grpc.server import TlsFiles
from adapters.grpc.stubs import audit_pb2, token_pb2
from tests.grpc.conftest import TOKENS, USDC, start
from tests.grpc.test_cli import free_port
from tests.grpc.test_tls_and_auth_config import certs  # noqa: F401 - the fixture


@pytest.fixture
def served(tmp_path, certs) -> Iterator[tuple[str, object]]:  # noqa: F811
    node = start(tmp_path, tls=TlsFiles(certs / "server.pem", certs / "server.key", certs / "ca.pem"))
    # The harness's own channel is plaintext: drive the node through a TLS one.
    from adapters.grpc.client import Client, channel  # noqa: PLC0415

    secure = channel(node.address, certs / "ca.pem", certs / "client.pem", certs / "client.key")
    node.anon = Client(secure)
    for who in ("admin", "r1", "alice", "viewer"):
        setattr(node, who, node.anon.as_(TOKENS[who]))
    node.ready()
    node.mint("alice", 1_000 * USDC, "m1")
    target = NodeTarget(
        node.address, TOKENS["viewer"], certs / "ca.pem", certs / "client.pem", certs / "client.key"
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(target), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not _json(base + "/api/status", default={}).get("connected"):
        assert time.monotonic() < deadline, "the dashboard did not connect to the node over mTLS"
        time.sleep(0.2)
    try:
        yield base, node
    finally:
        server.should_exit = True
        thread.join(10)
        secure.close()
        node.close()


def _json(url: str, default: object = None, method: str = "GET") -> dict:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=60) as response:  # noqa: S310
            return json.loads(response.read())
    except OSError:
        if default is None:
            raise
        return default  # type: ignore[return-value]


def _sse(url: str, last_event_id: int | None, frames: int) -> list[dict[str, str]]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback
    if last_event_id is not None:
        request.add_header("Last-Event-ID", str(last_event_id))
    found: list[dict[str, str]] = []
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        frame: dict[str, str] = {}
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line:
                key, _, value = line.partition(": ")
                frame[key] = value
                continue
            if frame:
                found.append(frame)
                frame = {}
            if len(found) >= frames:
                return found
    return found


def test_cards_history_audit_and_a_resumable_stream_over_mtls(served):
    base, node = served
    product = node.viewer.token.GetProduct(
        token_pb2.GetProductRequest(product_id="P"), metadata=node.viewer.md
    )
    cards = _json(base + "/api/products")["products"]
    assert [c["product_id"] for c in cards] == ["P"]
    card = cards[0]
    assert card["status"] == "ACTIVE"
    assert (card["supply"], card["nav_per_token"], card["cash"], card["leverage"]) == (
        product.supply,
        product.nav_per_token,
        product.cash,
        product.leverage,
    )
    history = node.viewer.audit.GetNavHistory(
        audit_pb2.GetNavHistoryRequest(product_id="P"), metadata=node.viewer.md
    )
    points = _json(base + "/api/nav/P")["points"]
    assert [p["position"] for p in points] == [p.position for p in history.points]
    assert _json(base + f"/api/nav/P?after_position={points[0]['position']}")["points"] == points[1:]
    verdict = _json(base + "/api/check", method="POST")
    assert verdict["ok"] is True
    assert verdict["violations"] == []

    events = list(node.viewer.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=node.viewer.md))
    first = _sse(base + "/api/events", None, 2 + len(events))
    assert first[0] == {"retry": "1000"}
    assert json.loads(first[1]["data"])["connected"] is True
    assert [int(f["id"]) for f in first[2:]] == [e.position for e in events]
    minted = json.loads(
        next(f["data"] for f in first if f.get("event") == "tail" and '"Minted"' in f["data"])
    )
    assert minted["holder"] == "alice"
    assert "for 1,000 collateral" in minted["summary"]
    # A page reconnecting with the last id it showed gets only what came after it.
    cut = events[2].position
    resumed = _sse(base + "/api/events", cut, 2 + len(events) - 3)
    assert [int(f["id"]) for f in resumed[2:]] == [e.position for e in events[3:]]


def test_without_its_client_certificate_the_dashboard_says_the_node_is_unreachable(tmp_path, certs):  # noqa: F811
    node = start(tmp_path, tls=TlsFiles(certs / "server.pem", certs / "server.key", certs / "ca.pem"))
    port = free_port()
    app = create_app(NodeTarget(node.address, TOKENS["viewer"], certs / "ca.pem"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            status = _json(f"http://127.0.0.1:{port}/api/status", default={})
            if status.get("error") and status["error"] != "connecting":
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["connected"] is False
    finally:
        server.should_exit = True
        thread.join(10)
        node.close()
