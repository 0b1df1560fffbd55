"""``iit serve``: the node over gRPC (``iit events`` and ``iit activity``, its clients, are
in ``events_cli``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from adapters.store.url import DEFAULT_STORE_URL

EXIT_COULD_NOT_RUN = 2


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@click.command(
    help="Serve the node over gRPC (embedded SQLite ./iit.db by default). Without tokens "
    "(--auth-file / IIT_AUTH_TOKENS) it runs in development mode: loopback only, every caller "
    "trusted. Stops on Ctrl-C or SIGTERM."
)
@click.option(
    "--store",
    envvar="IIT_STORE",
    default=DEFAULT_STORE_URL,
    show_default=True,
    show_envvar=True,
    help="sqlite:///path.db or postgresql://user@host:port/dbname",
)
@click.option(
    "--listen",
    envvar="IIT_LISTEN",
    default="127.0.0.1:50051",
    show_default=True,
    show_envvar=True,
    help="host:port of the gRPC server (port 0 picks a free one).",
)
@click.option(
    "--clock",
    envvar="IIT_CLOCK",
    type=click.Choice(["wall", "simulated"]),
    default="wall",
    show_default=True,
    show_envvar=True,
    help="wall: real time, and the node runs its keeper on a timer. simulated: time moves "
    "only by KeeperService.Tick(now), never backwards (backtests, tests).",
)
@click.option(
    "--start",
    "start_s",
    envvar="IIT_CLOCK_START",
    type=int,
    default=None,
    show_envvar=True,
    help="Simulated clock only: its first moment, Unix seconds (default: the store's last "
    "event, or now for an empty store).",
)
@click.option(
    "--keeper-interval",
    envvar="IIT_KEEPER_INTERVAL",
    type=click.FloatRange(min=0.05),
    default=60.0,
    show_default=True,
    show_envvar=True,
    help="Wall clock only: seconds between keeper ticks.",
)
@click.option(
    "--auth-file",
    envvar="IIT_AUTH_FILE",
    default=None,
    show_envvar=True,
    help="TOML file of [[tokens]] (token, role, reporter_id / holder_id); see the README.",
)
@click.option(
    "--tls-cert",
    envvar="IIT_TLS_CERT",
    default=None,
    show_envvar=True,
    help="Server certificate chain (PEM).",
)
@click.option(
    "--tls-key", envvar="IIT_TLS_KEY", default=None, show_envvar=True, help="Server private key (PEM)."
)
@click.option(
    "--tls-client-ca",
    envvar="IIT_TLS_CLIENT_CA",
    default=None,
    show_envvar=True,
    help="CA (PEM) that signs client certificates: clients must present one (mTLS).",
)
@click.option(
    "--metrics-listen",
    envvar="IIT_METRICS_LISTEN",
    default=None,
    show_envvar=True,
    help="host:port for Prometheus /metrics (off unless given; e.g. 127.0.0.1:9464).",
)
@click.option(
    "--log-level",
    envvar="IIT_LOG_LEVEL",
    default="info",
    show_default=True,
    show_envvar=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--log-format",
    envvar="IIT_LOG_FORMAT",
    type=click.Choice(["json", "console"]),
    default=None,
    show_envvar=True,
    help="json: one JSON object per line; console: readable lines. Default: console on a "
    "terminal, json otherwise.",
)
def serve(
    store: str,
    listen: str,
    clock: str,
    start_s: int | None,
    keeper_interval: float,
    auth_file: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    tls_client_ca: str | None,
    metrics_listen: str | None,
    log_level: str,
    log_format: str | None,
) -> None:
    from adapters.grpc import auth, logs  # noqa: PLC0415 - keeps `iit --help` light
    from adapters.grpc.server import ConfigError, NodeConfig, TlsFiles  # noqa: PLC0415
    from adapters.grpc.server import serve as run  # noqa: PLC0415
    from adapters.store.url import StoreUrlError  # noqa: PLC0415

    logs.configure(log_level, log_format)
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_client_ca and not tls_cert:
        raise click.UsageError("--tls-client-ca (mTLS) needs --tls-cert and --tls-key")
    try:
        authenticator = auth.load(auth_file, os.environ.get(auth.AUTH_ENV))
        tls = TlsFiles(Path(tls_cert), Path(tls_key), _path(tls_client_ca)) if tls_cert and tls_key else None
        config = NodeConfig(
            store_url=store,
            listen=listen,
            clock="simulated" if clock == "simulated" else "wall",
            start=start_s,
            auth=authenticator,
            tls=tls,
            metrics_listen=metrics_listen,
            keeper_interval_s=keeper_interval,
        )
        run(config)
    except (auth.AuthConfigError, ConfigError, StoreUrlError) as error:
        # SPEC §7: one line saying what and where, exit 2, no traceback.
        click.echo(f"serve: {_one_line(str(error))}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    except Exception as error:  # anything else that stops a start: still one line
        click.echo(f"serve: could not start: {type(error).__name__}: {_one_line(str(error))}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]
