"""Prometheus metrics of a node, on a registry of its own (so that several nodes in one
process, as in the tests, do not collide), served on a separate port.

- ``iit_rpc_total{method, code}``: RPCs handled, by gRPC status code;
- ``iit_rejections_total{method, reason}``: rejected requests by the error's name;
- ``iit_rpc_latency_seconds{method}``: handling time;
- ``iit_nav_per_token{product_id}``, ``iit_leverage{product_id}``, ``iit_index_price``,
  ``iit_supply_tokens``: per product, after each command (floats for dashboards only:
  no balance is ever computed from them).
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from domain.draft import current_leverage_wad, nav_wad
from domain.fixedpoint import WAD
from domain.model import ProductState


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpcs = Counter(
            "iit_rpc", "RPCs handled, by method and status code", ["method", "code"], registry=self.registry
        )
        self.rejections = Counter(
            "iit_rejections",
            "Rejected requests, by method and reason (the error's name)",
            ["method", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "iit_rpc_latency_seconds", "Time to handle an RPC", ["method"], registry=self.registry
        )
        self.nav = Gauge(
            "iit_nav_per_token", "NAV per token in collateral units", ["product_id"], registry=self.registry
        )
        self.leverage = Gauge(
            "iit_leverage", "Signed leverage at the accepted price", ["product_id"], registry=self.registry
        )
        self.index_price = Gauge(
            "iit_index_price",
            "Accepted index price in collateral units",
            ["product_id"],
            registry=self.registry,
        )
        self.supply = Gauge(
            "iit_supply_tokens", "Token supply in whole tokens", ["product_id"], registry=self.registry
        )

    def observe_rpc(self, method: str, code: str, reason: str | None, seconds: float) -> None:
        self.rpcs.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)
        if reason is not None:
            self.rejections.labels(method, reason).inc()

    def observe_state(self, state: ProductState) -> None:
        pid = state.product_id
        self.nav.labels(pid).set(nav_wad(state) / WAD)
        leverage = current_leverage_wad(state)
        self.leverage.labels(pid).set(float("nan") if leverage is None else leverage / WAD)
        self.index_price.labels(pid).set(state.index_price_wad / WAD)
        self.supply.labels(pid).set(state.vault.supply / WAD)

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve ``/metrics`` on ``host:port`` (port 0 picks one); stop with ``shutdown()``."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        return server
