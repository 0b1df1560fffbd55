"""``iit dashboard``: the web page, served as a separate process that is a gRPC client of
the node (a ``viewer`` token is all it needs)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from adapters.grpc.client_options import client_tls_options

EXIT_COULD_NOT_RUN = 2


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise click.BadParameter(
            f"expected host:port (e.g. 127.0.0.1:8080), got {listen!r}", param_hint="--listen"
        )
    return host.strip("[]"), int(port)


@click.command(
    help="A live web dashboard of a running node: product cards, NAV / index / leverage charts, "
    "the event tail and the invariant audit. Read-only: it calls GetProduct, GetNavHistory, "
    "StreamEvents and CheckInvariants, so a viewer token is enough. The page itself has no login: "
    "keep --listen on loopback or behind your own proxy."
)
@click.option(
    "--node",
    envvar="IIT_DASHBOARD_NODE",
    default="127.0.0.1:50051",
    show_default=True,
    show_envvar=True,
    help="host:port of the node's gRPC server.",
)
@click.option(
    "--listen",
    envvar="IIT_DASHBOARD_LISTEN",
    default="127.0.0.1:8080",
    show_default=True,
    show_envvar=True,
    help="host:port the web page is served on.",
)
@click.option(
    "--token",
    envvar="IIT_DASHBOARD_TOKEN",
    default=None,
    show_envvar=True,
    help="Bearer token for the node (a viewer token; not needed in development mode).",
)
@client_tls_options
@click.option(
    "--clock",
    envvar="IIT_DASHBOARD_CLOCK",
    type=click.Choice(["wall", "log"]),
    default="wall",
    show_default=True,
    show_envvar=True,
    help="What price ages and the next rebalance are measured from: the wall clock, or the "
    "latest event in the log (for a node serving with --clock simulated).",
)
@click.option(
    "--log-level",
    envvar="IIT_LOG_LEVEL",
    default="info",
    show_default=True,
    show_envvar=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def dashboard(
    node: str,
    listen: str,
    token: str | None,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    clock: str,
    log_level: str,
) -> None:
    import uvicorn  # noqa: PLC0415 - keeps `iit --help` light

    from adapters.dashboard.server import create_app  # noqa: PLC0415
    from adapters.dashboard.watcher import NodeTarget  # noqa: PLC0415

    if (tls_cert or tls_key) and not (tls_ca and tls_cert and tls_key):
        raise click.UsageError("mTLS needs --tls-ca, --tls-cert and --tls-key together")
    host, port = split_listen(listen)
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    target = NodeTarget(node, token, _path(tls_ca), _path(tls_cert), _path(tls_key))
    config = uvicorn.Config(
        create_app(target, clock),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    click.echo(f"dashboard of node {node} on http://{host}:{port}/", err=True)
    server.run()
    if not server.started:
        raise SystemExit(EXIT_COULD_NOT_RUN)
