"""The served node: ``create_server`` puts the servicers, health checking and reflection
on a gRPC server bound to an address (port 0 picks one), apart from ``start_node`` /
``serve``, which add the service (``adapters.bootstrap``), the keeper's and the read
models' threads, the metrics endpoint and signals.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType
from wsgiref.simple_server import WSGIServer

import grpc
from attrs import define, field, frozen
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from adapters.bootstrap import ClockMode, bootstrap
from adapters.grpc import reflection
from adapters.grpc.audit_servicer import AuditServicer
from adapters.grpc.auth import Authenticator
from adapters.grpc.logs import log
from adapters.grpc.metrics import Metrics
from adapters.grpc.rpc import Deps
from adapters.grpc.servicers import AdminServicer, KeeperServicer, OracleServicer, TokenServicer, add_all
from adapters.grpc.stubs import SERVICE_NAMES
from adapters.service.use_cases import Service
from adapters.store.url import StoreUrlError, redacted
from domain.params import TIME_MAX_S

DEFAULT_LISTEN = "127.0.0.1:50051"
MAX_WORKERS = 32  # each StreamEvents holds a worker while its client reads (or does not)...
MAX_STREAMS = 16  # ...so at most this many stream at once, leaving workers for unary calls
KEEPER_INTERVAL_S = 60.0
KEEPER_WAKE_MIN_S = 1.0  # the keeper never wakes more than once a second for work due


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
        cert, key = _pem(self.cert, "--tls-cert"), _pem(self.key, "--tls-key")
        ca = _pem(self.client_ca, "--tls-client-ca") if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )


def _pem(path: Path, option: str) -> bytes:
    """A PEM file's bytes, or a ``ConfigError`` naming the option and the file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{option} {path}: cannot read: {error.strerror or error}") from error
    if b"-----BEGIN " not in data:
        raise ConfigError(f"{option} {path}: not a PEM file (no -----BEGIN line)")
    return data


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen must be host:port (e.g. {DEFAULT_LISTEN}), got {address!r}")
    return host.strip("[]"), int(port)


def check_port_free(address: str, what: str) -> None:
    """Refuse, in one line, an address another process listens on (SPEC §7: a node never
    shares its port). gRPC is told not to share it either (``grpc.so_reuseport`` off); this
    probe only says so before gRPC's own multi-line complaint."""
    host, port = split_address(address)
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ConfigError(f"{what} {address}: cannot resolve {host!r}: {error.strerror}") from error
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as error:
                raise ConfigError(
                    f"{what} {address}: cannot listen: {error.strerror or error} "
                    "(is another process, or another node, using this port?)"
                ) from error


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_server(
    address: str,
    service: Service,
    auth: Authenticator,
    tls: TlsFiles | None = None,
    health_servicer: health.HealthServicer | None = None,
    max_workers: int = MAX_WORKERS,
    metrics: Metrics | None = None,
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
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="iit-rpc"),
        # gRPC sets SO_REUSEPORT by default: a second node on the same port would start and
        # silently take part of the traffic. Off, binding a port in use fails.
        options=[("grpc.so_reuseport", 0)],
    )
    deps = Deps(service, auth, metrics)
    servicers = (AdminServicer(deps), OracleServicer(deps), TokenServicer(deps), KeeperServicer(deps))
    add_all(server, (*servicers, AuditServicer(deps)))
    health_servicer = health_servicer or health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    credentials = tls.credentials() if tls else None
    refused = f"--listen {address}: cannot listen (port in use, or address not available)"
    try:
        if credentials is not None:
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise ConfigError(refused) from error
    if port == 0:
        raise ConfigError(refused)
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
    max_streams: int = MAX_STREAMS


@define
class RunningNode:
    """A started node: stop it with ``stop()``."""

    server: grpc.Server
    port: int
    service: Service
    health: health.HealthServicer
    metrics_server: WSGIServer | None
    metrics_port: int | None
    _stopping: threading.Event
    _keeper: threading.Thread | None
    _read_models: threading.Thread | None = None

    def stop(self, grace_s: float = 1.0) -> None:
        self._stopping.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
        if self._read_models is not None:
            self._read_models.join(timeout=30)
        self.service.close()  # the writer finishes what it took, then the store closes
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()

    def wait(self) -> None:
        self.server.wait_for_termination()


def _keeper_wait_s(service: Service, interval_s: float) -> float:
    """Until the next keeper tick: the interval, or sooner when a product has work due
    (a TWAP chunk after its cooldown, a schedule at its time of day)."""
    now = service.now()
    try:
        due = service.keeper.next_due(now)
    except Exception:  # a product that cannot load now is the tick's to report
        logging.getLogger("iit").exception("keeper: cannot read the next due moment")
        return interval_s
    return interval_s if due is None else max(min(interval_s, float(due - now)), KEEPER_WAKE_MIN_S)


def _keeper_loop(service: Service, interval_s: float, stopping: threading.Event) -> None:
    """On the wall clock the node runs its own keeper: every product, every interval, and
    at every moment a product has work due in between."""
    while not stopping.wait(_keeper_wait_s(service, interval_s)):
        try:
            moment, results = service.keeper.tick(None)
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


def open_service(config: NodeConfig, metrics: Metrics) -> Service:
    """The node's service over its store, or a one-line ``ConfigError`` saying which store
    and why not."""
    if config.start is not None and not 0 <= config.start <= TIME_MAX_S:
        raise ConfigError(f"--start {config.start}: must be 0 to {TIME_MAX_S} Unix seconds (1970 to 9800)")
    try:
        return bootstrap(config.store_url, config.clock, config.start, metrics, config.max_streams)
    except StoreUrlError:
        raise
    except Exception as error:  # a store that cannot be opened or reached, whatever the driver says
        first = (str(error).strip().splitlines() or [""])[0][:300]
        raise ConfigError(
            f"--store {redacted(config.store_url)}: cannot open the store: {type(error).__name__}: {first}"
        ) from error


READ_MODEL_INTERVAL_S = 1.0


def _read_model_loop(service: Service, stopping: threading.Event) -> None:
    """Keep the activity read model close behind the log (a node started on a long log
    builds it here, not in the first ListActivity), also after other nodes' commits."""
    while True:
        try:
            service.reads.activity  # noqa: B018 - reading it catches it up
        except Exception:  # a store hiccup: the next round (or the next ListActivity) retries
            logging.getLogger("iit").exception("activity read model: catching up failed")
        if stopping.wait(READ_MODEL_INTERVAL_S):
            return


def start_node(config: NodeConfig) -> RunningNode:
    """Start a node; every start-up failure is a one-line ``ConfigError`` (or the auth and
    store-URL errors), raised before anything is served."""
    check_port_free(config.listen, "--listen")
    if config.metrics_listen:
        check_port_free(config.metrics_listen, "--metrics-listen")
    if config.tls:
        config.tls.credentials()  # unreadable or non-PEM files fail before the store opens
    metrics = Metrics()
    service = open_service(config, metrics)
    health_servicer = health.HealthServicer()
    try:
        server, port = create_server(
            config.listen, service, config.auth, config.tls, health_servicer, metrics=metrics
        )
        metrics_server, metrics_port = None, None
        if config.metrics_listen:
            host, wanted = split_address(config.metrics_listen)
            try:
                metrics_server = metrics.serve(host, wanted)
            except OSError as error:
                raise ConfigError(
                    f"--metrics-listen {config.metrics_listen}: cannot listen: {error.strerror or error}"
                ) from error
            metrics_port = metrics_server.server_port
    except BaseException:
        service.close()
        raise
    server.start()
    stopping = threading.Event()
    keeper = None
    if config.clock == "wall":
        keeper = threading.Thread(
            target=_keeper_loop,
            args=(service, config.keeper_interval_s, stopping),
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
        products=len(service.node.product_ids()),
    )
    read_models = threading.Thread(
        target=_read_model_loop, args=(service, stopping), name="iit-read-models", daemon=True
    )
    read_models.start()
    return RunningNode(
        server, port, service, health_servicer, metrics_server, metrics_port, stopping, keeper, read_models
    )


def serve(config: NodeConfig) -> None:
    """Run a node until SIGINT or SIGTERM, then stop gracefully."""
    node = start_node(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        log(logging.INFO, "stopping", signal=signal.Signals(signum).name)
        threading.Thread(target=node.stop, args=(5.0,), daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    node.wait()
