"""``iit nav``: a product's NAV history from a running node (AuditService.GetNavHistory),
as a table or JSON lines; ``--rebuild-store`` rebuilds the read model of a store from its log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from adapters.grpc.client_options import client_tls_options

EXIT_COULD_NOT_RUN = 2


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


@click.command(
    help="A product's NAV history from a running node (AuditService.GetNavHistory; an admin or "
    "viewer token): the index price, NAV per token, leverage and supply after every event that "
    "moved them. With --rebuild-store URL, rebuild that store's NAV history from its log instead."
)
@click.option("--product", "product_id", default=None, help="The product (required unless --rebuild-store).")
@click.option(
    "--address",
    envvar="IIT_ADDRESS",
    default="127.0.0.1:50051",
    show_default=True,
    show_envvar=True,
    help="host:port of the node.",
)
@click.option(
    "--token", envvar="IIT_TOKEN", default=None, show_envvar=True, help="An admin or viewer bearer token."
)
@click.option("--from", "start", type=click.DateTime(), default=None, help="Only points at or after (UTC).")
@click.option("--to", "end", type=click.DateTime(), default=None, help="Only points at or before (UTC).")
@click.option(
    "--max-points",
    type=click.IntRange(0, 10_000),
    default=0,
    help="Thin to at most this many points (0: the node's default, 1000).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, numbers as decimal strings.")
@client_tls_options
@click.option(
    "--rebuild-store",
    default=None,
    help="Rebuild the NAV history read model of this store (sqlite:///… or postgresql://…) from its "
    "first event, then exit.",
)
def nav(
    product_id: str | None,
    address: str,
    token: str | None,
    start: datetime | None,
    end: datetime | None,
    max_points: int,
    as_json: bool,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    rebuild_store: str | None,
) -> None:
    if rebuild_store:
        _rebuild(rebuild_store)
        return
    if not product_id:
        raise click.UsageError("--product is required")
    import grpc  # noqa: PLC0415 - keeps `iit --help` light

    from adapters.formatting import fixed  # noqa: PLC0415
    from adapters.grpc.client import Client, channel  # noqa: PLC0415
    from adapters.grpc.stubs import audit_pb2  # noqa: PLC0415

    paths = [Path(p) if p else None for p in (tls_ca, tls_cert, tls_key)]
    client = Client(channel(address, *paths), token)
    request = audit_pb2.GetNavHistoryRequest(product_id=product_id, max_points=max_points)
    first, last = _seconds(start), _seconds(end)
    if first is not None:
        getattr(request, "from").seconds = first
    if last is not None:
        request.to.seconds = last
    try:
        response = client.audit.GetNavHistory(request, metadata=client.md)
        if not as_json:
            click.echo(
                f"{'position':>8}  {'at':<20}  {'index price':>18}  {'NAV/token':>22}  "
                f"{'leverage':>10}  {'supply (tokens)':>26}"
            )
        for point in response.points:
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "position": point.position,
                            "at": _when(point.at.seconds),
                            "index_price": point.index_price,
                            "nav_per_token": point.nav_per_token,
                            "leverage": point.leverage,
                            "supply": point.supply,
                        }
                    )
                )
                continue
            leverage = fixed(int(point.leverage), 18, 4) if point.leverage else "-"
            index = fixed(int(point.index_price), 18, 6)
            nav_text = fixed(int(point.nav_per_token), 18, 18)
            supply = fixed(int(point.supply), 18, 6)
            click.echo(
                f"{point.position:>8}  {_when(point.at.seconds):<20}  {index:>18}  "
                f"{nav_text:>22}  {leverage:>10}  {supply:>26}"
            )
        if not as_json:
            click.echo(
                f"{len(response.points)} points of {product_id}, "
                f"as of store position {response.as_of_position}"
            )
    except grpc.RpcError as error:
        click.echo(f"nav: {error.code().name}: {error.details()}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    finally:
        client.close()


def _rebuild(store_url: str) -> None:
    from adapters.store.nav_history import NavHistory  # noqa: PLC0415
    from adapters.store.node import Node  # noqa: PLC0415
    from adapters.store.url import StoreUrlError  # noqa: PLC0415

    try:
        node = Node.open(store_url)
    except StoreUrlError as error:
        click.echo(f"nav: {error}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    try:
        history = NavHistory(node)
        read = history.rebuild()
        click.echo(
            f"rebuilt the NAV history of {store_url}: {read} records read, at position {history.position}"
        )
    finally:
        node.close()
