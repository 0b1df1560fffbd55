"""A real node per test: a SQLite store in tmp_path, a server on 127.0.0.1 port 0, a
simulated clock, tokens for every role, and real channels to it. No mocks."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.grpc import auth
from adapters.grpc.client import Client
from adapters.grpc.server import NodeConfig, RunningNode, start_node
from adapters.grpc.stubs import admin_pb2, common_pb2, keeper_pb2, oracle_pb2, token_pb2
from adapters.store.node import Node

T0 = 1_700_000_000
USDC = 10**6
WAD = 10**18
TOKENS = {
    "admin": "admin-token-000000000001",
    "r1": "oracle-r1-token-00000001",
    "r2": "oracle-r2-token-00000002",
    "alice": "holder-alice-token-000001",
    "bob": "holder-bob-token-0000001",
    "viewer": "viewer-dashboard-token-01",
}
ENTRIES = [
    auth.entry("admin", "", TOKENS["admin"], "test"),
    auth.entry("oracle", "r1", TOKENS["r1"], "test"),
    auth.entry("oracle", "r2", TOKENS["r2"], "test"),
    auth.entry("holder", "alice", TOKENS["alice"], "test"),
    auth.entry("holder", "bob", TOKENS["bob"], "test"),
    auth.entry("viewer", "", TOKENS["viewer"], "test"),
]
PRICES = {"BTC": 60_000 * WAD, "ETH": 3_000 * WAD}


class Harness:
    """A started node and a client per role."""

    def __init__(self, running: RunningNode, store_url: str) -> None:
        self.running = running
        self.store_url = store_url
        self.address = f"127.0.0.1:{running.port}"
        self.channel = grpc.insecure_channel(self.address)
        self.anon = Client(self.channel)
        self.admin = self.anon.as_(TOKENS["admin"])
        self.r1 = self.anon.as_(TOKENS["r1"])
        self.r2 = self.anon.as_(TOKENS["r2"])
        self.alice = self.anon.as_(TOKENS["alice"])
        self.bob = self.anon.as_(TOKENS["bob"])
        self.viewer = self.anon.as_(TOKENS["viewer"])
        self.now = T0

    def advance(self, seconds: int) -> keeper_pb2.TickResponse:
        """Move the simulated clock (the keeper runs at the new time)."""
        self.now += seconds
        return self.admin.keeper.Tick(
            keeper_pb2.TickRequest(now=Timestamp(seconds=self.now)), metadata=self.admin.md
        )

    def stored_count(self) -> int:
        """Rows in the store's notification log: events, request markers, registry."""
        reader = Node.open(self.store_url)
        try:
            return reader.recorder.max_notification_id() or 0
        finally:
            reader.close()

    def launch(self, product_id: str = "P", **params: str | int) -> common_pb2.Product:
        response = self.admin.admin.LaunchProduct(
            admin_pb2.LaunchProductRequest(
                product_id=product_id,
                components=[
                    common_pb2.Component(symbol="BTC", quantity=str(WAD // 100)),
                    common_pb2.Component(symbol="ETH", quantity=str(WAD // 10)),
                ],
                params=common_pb2.Params(**params),  # type: ignore[arg-type]
                request_id=f"launch-{product_id}",
            ),
            metadata=self.admin.md,
        )
        return response.product

    def report(self, prices: dict[str, int], reporter: str = "r1", rid: str = "") -> None:
        client = getattr(self, reporter)
        for symbol, price in prices.items():
            client.oracle.ReportPrice(
                oracle_pb2.ReportPriceRequest(
                    symbol=symbol,
                    price=str(price),
                    observed_at=Timestamp(seconds=self.now),
                    reporter_id=reporter,
                    request_id=f"{rid or 'px'}-{reporter}-{symbol}-{self.now}-{price}",
                ),
                metadata=client.md,
            )

    def ready(self, product_id: str = "P") -> None:
        """A launched product with a fresh price."""
        self.launch(product_id)
        self.report(PRICES)

    def mint(self, holder: str, amount: int, rid: str, product_id: str = "P") -> token_pb2.MintResponse:
        client = getattr(self, holder)
        return client.token.Mint(
            token_pb2.MintRequest(
                product_id=product_id, holder_id=holder, collateral_amount=str(amount), request_id=rid
            ),
            metadata=client.md,
        )

    def close(self) -> None:
        self.channel.close()
        self.running.stop(0)


def start(tmp_path, entries=ENTRIES, **extra) -> Harness:
    store_url = f"sqlite:///{tmp_path}/iit.db"
    config = NodeConfig(
        store_url=store_url,
        listen="127.0.0.1:0",
        clock="simulated",
        start=T0,
        auth=auth.build(entries),
        **extra,
    )
    return Harness(start_node(config), store_url)


@pytest.fixture
def node(tmp_path) -> Iterator[Harness]:
    harness = start(tmp_path)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def ready(node: Harness) -> Harness:
    node.ready()
    return node
