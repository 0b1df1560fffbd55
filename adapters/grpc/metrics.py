"""Prometheus metrics of a node, on a registry of its own (so that several nodes in one
process, as in the tests, do not collide), served on a separate port. No counter has a
``_created`` twin (``disable_created_metrics``).

RPCs, in the layout of grpc-prometheus (go-grpc-prometheus / grpc-ecosystem), which
off-the-shelf gRPC dashboards read (``grpc_type`` is ``unary`` or ``server_stream``,
``grpc_service`` the full name ``iit.v1.TokenService``, ``grpc_code`` Go's name of the
status, ``OK``, ``InvalidArgument``, …):

- ``grpc_server_started_total{grpc_type, grpc_service, grpc_method}``;
- ``grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}``;
- ``grpc_server_handling_seconds{grpc_type, grpc_service, grpc_method}`` (histogram);
- ``iit_rejections_total{grpc_service, grpc_method, reason}``: by the error's name.

Products (floats for dashboards only: no balance is ever computed from them), after each
command: ``iit_nav_per_token``, ``iit_leverage``, ``iit_index_price``,
``iit_supply_tokens``, ``iit_product_status{product_id, status}`` (1 for the status the
product is in, 0 for the others), and at each scrape ``iit_price_age_seconds`` (the
node's clock minus when the accepted price was observed).

The keeper: ``iit_keeper_runs_total``, ``iit_keeper_rebalances_total{product_id, reason}``,
``iit_keeper_settlements_total{product_id}``, ``iit_keeper_errors_total{product_id}``.
The group-commit writer, at each scrape: ``iit_writer_batches_total`` (commits) and
``iit_writer_commands_total`` (commands in them). And ``iit_build_info{version, python,
grpcio}`` = 1.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from domain.fixedpoint import WAD
from domain.model import ProductState, Status
from domain.valuation import current_leverage_wad, nav_wad

# The gRPC status names of grpc-prometheus (Go's codes.Code.String()).
GO_CODE = {
    "OK": "OK",
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}
PACKAGE = "iit.v1"

disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide: no `_created` series


def split_method(method: str) -> tuple[str, str]:
    """``TokenService/Mint`` -> (``iit.v1.TokenService``, ``Mint``)."""
    service, _, name = method.partition("/")
    return f"{PACKAGE}.{service}", name


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


class _Live(Collector):
    """What is read at scrape time: the price ages (on the node's clock) and the writer's counters."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        age = GaugeMetricFamily(
            "iit_price_age_seconds",
            "Seconds since the accepted price was observed, on the node's clock",
            labels=["product_id"],
        )
        now = self.metrics.now
        if now is not None:
            moment = now()
            for pid, observed in self.metrics.observed_at().items():
                if observed:
                    age.add_metric([pid], float(moment - observed))
        yield age
        counts = self.metrics.writer_counts
        if counts is not None:
            batches, commands = counts()
            yield CounterMetricFamily("iit_writer_batches", "Group commits made by the writer", value=batches)
            yield CounterMetricFamily(
                "iit_writer_commands", "Commands decided in the writer's commits", value=commands
            )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        grpc_labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server", grpc_labels, registry=self.registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, regardless of success or failure",
            [*grpc_labels, "grpc_code"],
            registry=self.registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Response latency of RPCs handled by the server",
            grpc_labels,
            registry=self.registry,
        )
        self.rejections = Counter(
            "iit_rejections",
            "Rejected requests, by method and reason (the error's name)",
            ["grpc_service", "grpc_method", "reason"],
            registry=self.registry,
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
        self.status = Gauge(
            "iit_product_status",
            "1 for the product's lifecycle status (active, paused, halted, settled), 0 for the others",
            ["product_id", "status"],
            registry=self.registry,
        )
        self.keeper_runs = Counter(
            "iit_keeper_runs", "Keeper runs over every product", registry=self.registry
        )
        self.keeper_rebalances = Counter(
            "iit_keeper_rebalances",
            "Rebalances the keeper made, by reason",
            ["product_id", "reason"],
            registry=self.registry,
        )
        self.keeper_settlements = Counter(
            "iit_keeper_settlements", "Products the keeper settled", ["product_id"], registry=self.registry
        )
        self.keeper_errors = Counter(
            "iit_keeper_errors", "Products the keeper could not run", ["product_id"], registry=self.registry
        )
        build = Info("iit_build", "The node's version and runtime", registry=self.registry)
        build.info(
            {
                "version": _version("iit-node"),
                "python": platform.python_version(),
                "grpcio": _version("grpcio"),
            }
        )
        self._observed: dict[str, int] = {}
        self._observed_lock = threading.Lock()
        # Each product's gauges and each method's series, looked up once: ``labels()`` takes
        # the metric's lock and builds its key on every call (most of a Mint's metrics time).
        self._product_gauges: dict[str, tuple[Any, ...]] = {}
        self._rpc_series: dict[tuple[str, str], tuple[Any, Any, str, str]] = {}
        self.now: Callable[[], int] | None = None
        self.writer_counts: Callable[[], tuple[int, int]] | None = None
        self.registry.register(_Live(self))

    def watch(self, now: Callable[[], int], writer_counts: Callable[[], tuple[int, int]]) -> None:
        """Read the node's clock and the writer's counters at each scrape."""
        self.now = now
        self.writer_counts = writer_counts

    def observed_at(self) -> dict[str, int]:
        with self._observed_lock:
            return dict(self._observed)

    def _series(self, method: str, grpc_type: str) -> tuple[Any, Any, str, str]:
        """(started, handling, service, name) of a method: looked up once per method."""
        series = self._rpc_series.get((method, grpc_type))
        if series is None:
            service, name = split_method(method)
            series = (
                self.started.labels(grpc_type, service, name),
                self.handling.labels(grpc_type, service, name),
                service,
                name,
            )
            self._rpc_series[(method, grpc_type)] = series
        return series

    def observe_start(self, method: str, grpc_type: str) -> None:
        self._series(method, grpc_type)[0].inc()

    def observe_rpc(
        self, method: str, code: str, reason: str | None, seconds: float, grpc_type: str = "unary"
    ) -> None:
        _, handling, service, name = self._series(method, grpc_type)
        self.handled.labels(grpc_type, service, name, GO_CODE.get(code, code)).inc()
        handling.observe(seconds)
        if reason is not None:
            self.rejections.labels(service, name, reason).inc()

    def observe_state(self, state: ProductState) -> None:
        pid = state.product_id
        gauges = self._product_gauges.get(pid)
        if gauges is None:
            statuses = tuple((s, self.status.labels(pid, s.value.lower())) for s in Status)
            gauges = (
                self.nav.labels(pid),
                self.leverage.labels(pid),
                self.index_price.labels(pid),
                self.supply.labels(pid),
                statuses,
            )
            self._product_gauges[pid] = gauges
        nav, leverage_gauge, index_price, supply, statuses = gauges
        nav.set(nav_wad(state) / WAD)
        leverage = current_leverage_wad(state)
        leverage_gauge.set(float("nan") if leverage is None else leverage / WAD)
        index_price.set(state.index_price_wad / WAD)
        supply.set(state.vault.supply / WAD)
        for status, gauge in statuses:
            gauge.set(1 if state.status is status else 0)
        with self._observed_lock:
            self._observed[pid] = state.price_observed_at

    def observe_keeper(self, outcomes: Iterator[tuple[str, str | None, bool, bool]]) -> None:
        """One keeper run: per product (id, rebalance reason or None, settled, failed)."""
        self.keeper_runs.inc()
        for pid, reason, settled, failed in outcomes:
            if failed:
                self.keeper_errors.labels(pid).inc()
            if reason is not None:
                self.keeper_rebalances.labels(pid, reason).inc()
            if settled:
                self.keeper_settlements.labels(pid).inc()

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve ``/metrics`` on ``host:port`` (port 0 picks one); stop with ``shutdown()``."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        return server
