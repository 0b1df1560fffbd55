"""The composition root of a served node: ``create_server`` wires the servicers, health
checking and reflection onto a gRPC server bound to an address (port 0 picks one), apart
from ``start_node`` / ``serve``, which add the store, the keeper, metrics and signals.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType
from wsgiref.simple_server import WSGIServer

import grpc
from attrs import define, field, frozen
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from adapters.grpc.app import ClockMode, NodeApp
from adapters.grpc.audit import AuditServicer
from adapters.grpc.auth import Authenticator
from adapters.grpc.logs import log
from adapters.grpc.metrics import Metrics
from adapters.grpc.rpc import Deps
from adapters.grpc.servicers import AdminServicer, KeeperServicer, OracleServicer, TokenServicer, add_all
from adapters.grpc.stubs import SERVICE_NAMES, audit_pb2_grpc

DEFAULT_LISTEN = "127.0.0.1:50051"
MAX_WORKERS = 32  # each follower of StreamEvents holds a worker while it waits...
MAX_FOLLOWERS = 16  # ...so at most this many follow at once, leaving workers for commands
KEEPER_INTERVAL_S = 60.0


class ConfigError(ValueError):
    """The node cannot start with this configuration."""


@frozen
class TlsFiles:
    """PEM files: the server's certificate chain and key; with ``client_ca``, clients must
    present a certificate it signed (mTLS)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        try:
            pair = (self.key.read_bytes(), self.cert.read_bytes())
            ca = self.client_ca.read_bytes() if self.client_ca else None
        except OSError as error:
            raise ConfigError(f"TLS: {error}") from error
        return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen must be host:port (e.g. {DEFAULT_LISTEN}), got {address!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_server(
    address: str,
    app: NodeApp,
    auth: Authenticator,
    tls: TlsFiles | None = None,
    health_servicer: health.HealthServicer | None = None,
    max_workers: int = MAX_WORKERS,
) -> tuple[grpc.Server, int]:
    """A gRPC server (not started) with every service, health checking (on
    ``health_servicer`` when given, to mark it NOT_SERVING at shutdown) and reflection,
    bound to ``address``; returns it and the bound port. Without tokens the node is in
    development mode and binds loopback only."""
    host, _ = split_address(address)
    if auth.development_mode and not is_loopback(host):
        raise ConfigError(
            f"no credentials are configured (development mode): refusing to listen on {address}; "
            "bind a loopback address (127.0.0.1) or configure tokens with --auth-file / IIT_AUTH_TOKENS"
        )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="iit-rpc"))
    deps = Deps(app, auth, app.metrics)
    add_all(server, (AdminServicer(deps), OracleServicer(deps), TokenServicer(deps), KeeperServicer(deps)))
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(deps), server)
    health_servicer = health_servicer or health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_secure_port(address, tls.credentials()) if tls else server.add_insecure_port(address)
    if port == 0:
        raise ConfigError(f"could not bind {address}")
    return server, port


@frozen
class NodeConfig:
    store_url: str
    listen: str = DEFAULT_LISTEN
    clock: ClockMode = "wall"
    start: int | None = None  # a simulated clock's first moment (default: the store's last event)
    auth: Authenticator = field(factory=lambda: Authenticator({}))
    tls: TlsFiles | None = None
    metrics_listen: str | None = None  # host:port of /metrics; None: no metrics endpoint
    keeper_interval_s: float = KEEPER_INTERVAL_S
    max_followers: int = MAX_FOLLOWERS


@define
class RunningNode:
    """A started node: stop it with ``stop()``."""

    server: grpc.Server
    port: int
    app: NodeApp
    health: health.HealthServicer
    metrics_server: WSGIServer | None
    metrics_port: int | None
    _stopping: threading.Event
    _keeper: threading.Thread | None

    def stop(self, grace_s: float = 1.0) -> None:
        self._stopping.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
        self.app.service.close()  # the writer finishes what it took, then stops
        self.app.node.close()  # and the store's connections go (PostgreSQL counts them)
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()

    def wait(self) -> None:
        self.server.wait_for_termination()


def _keeper_loop(app: NodeApp, interval_s: float, stopping: threading.Event) -> None:
    """On the wall clock the node runs its own keeper: every product, every interval."""
    while not stopping.wait(interval_s):
        try:
            moment, results = app.tick(None)
        except Exception:  # the keeper must outlive one bad tick; the log says why
            logging.getLogger("iit").exception("keeper tick failed")
            continue
        for result in results:
            if result.error is not None:
                log(logging.WARNING, "keeper", product_id=result.product_id, error=str(result.error))
            elif result.outcome is not None and result.outcome.events:
                log(
                    logging.INFO,
                    "keeper",
                    product_id=result.product_id,
                    at=moment,
                    events=len(result.outcome.events),
                )


def start_node(config: NodeConfig) -> RunningNode:
    metrics = Metrics()
    app = NodeApp.open(config.store_url, config.clock, config.start, metrics, config.max_followers)
    health_servicer = health.HealthServicer()
    server, port = create_server(config.listen, app, config.auth, config.tls, health_servicer)
    metrics_server, metrics_port = None, None
    if config.metrics_listen:
        host, wanted = split_address(config.metrics_listen)
        metrics_server = metrics.serve(host, wanted)
        metrics_port = metrics_server.server_port
    for product_id in app.product_ids():
        metrics.observe_state(app.load(product_id).state)
    server.start()
    stopping = threading.Event()
    keeper = None
    if config.clock == "wall":
        keeper = threading.Thread(
            target=_keeper_loop,
            args=(app, config.keeper_interval_s, stopping),
            name="iit-keeper",
            daemon=True,
        )
        keeper.start()
    if config.auth.development_mode:
        log(
            logging.WARNING,
            "DEVELOPMENT MODE: no credentials configured, every caller is trusted with every role; "
            "bound to loopback only. Configure tokens with --auth-file or IIT_AUTH_TOKENS for real use.",
            listen=config.listen,
        )
    log(
        logging.INFO,
        "serving",
        listen=config.listen,
        port=port,
        store=config.store_url,
        clock=config.clock,
        tls="mtls" if config.tls and config.tls.client_ca else ("tls" if config.tls else "off"),
        metrics=f"{config.metrics_listen.rpartition(':')[0]}:{metrics_port}"
        if config.metrics_listen
        else "off",
        products=len(app.product_ids()),
    )
    return RunningNode(server, port, app, health_servicer, metrics_server, metrics_port, stopping, keeper)


def serve(config: NodeConfig) -> None:
    """Run a node until SIGINT or SIGTERM, then stop gracefully."""
    node = start_node(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        log(logging.INFO, "stopping", signal=signal.Signals(signum).name)
        threading.Thread(target=node.stop, args=(5.0,), daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    node.wait()
