"""``iit events`` and ``iit activity``: a running node's log, whole (StreamEvents) or one
holder's entries in it (ListActivity), as clients of the node."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from adapters.grpc.client_options import client_tls_options

EXIT_COULD_NOT_RUN = 2


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@click.command(
    help="Tail the event log of a running node (AuditService.StreamEvents, admin token): from a "
    "position, human-readable or JSON lines; --follow keeps streaming new events as they commit."
)
@click.option(
    "--address",
    envvar="IIT_ADDRESS",
    default="127.0.0.1:50051",
    show_default=True,
    show_envvar=True,
    help="host:port of the node.",
)
@click.option(
    "--token",
    envvar="IIT_TOKEN",
    default=None,
    show_envvar=True,
    help="An admin bearer token (not needed in development mode).",
)
@click.option(
    "--from-position",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Start after this store position (resume with the last position you saw).",
)
@click.option("--follow", "-f", is_flag=True, help="Keep streaming new events until interrupted.")
@click.option("--product", "product_id", default="", help="Only this product's events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@client_tls_options
def events(
    address: str,
    token: str | None,
    from_position: int,
    follow: bool,
    product_id: str,
    as_json: bool,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    import grpc  # noqa: PLC0415

    from adapters.event_lines import HEADER, line_of  # noqa: PLC0415
    from adapters.grpc.client import Client, channel  # noqa: PLC0415
    from adapters.grpc.stubs import audit_pb2, token_pb2  # noqa: PLC0415
    from adapters.store.codec import decode_event  # noqa: PLC0415
    from domain import events as ev  # noqa: PLC0415

    client = Client(channel(address, _path(tls_ca), _path(tls_cert), _path(tls_key)), token)
    request = audit_pb2.StreamEventsRequest(from_position=from_position, follow=follow, product_id=product_id)
    # Each product's collateral decimals, to show its amounts exactly: from its launch or
    # parameter events in the stream, else asked once (a tail that starts mid-log).
    decimals: dict[str, int] = {}

    def decimals_of(pid: str) -> int:
        if pid not in decimals:
            product = client.token.GetProduct(token_pb2.GetProductRequest(product_id=pid), metadata=client.md)
            decimals[pid] = product.params.collateral_decimals
        return decimals[pid]

    try:
        if not as_json:
            click.echo(HEADER)
        for event in client.audit.StreamEvents(request, metadata=client.md):
            payload = json.loads(event.payload_json)
            if as_json:
                line = json.dumps(
                    {
                        "position": event.position,
                        "product_id": event.product_id,
                        "version": event.version,
                        "type": event.type,
                        "occurred_at": _when(event.occurred_at.seconds),
                        "request_id": event.request_id,
                        "hash": event.hash,
                        "prev_hash": event.prev_hash,
                        "payload": payload,
                    }
                )
            else:
                decoded = decode_event(event.type, event.schema, payload)
                if isinstance(decoded, ev.ProductLaunched | ev.ParametersUpdated):
                    decimals[event.product_id] = decoded.params.collateral_decimals
                summary = line_of(decoded, decimals_of(event.product_id))
                line = (
                    f"{event.position:>8}  {_when(event.occurred_at.seconds):<20}  {event.product_id:<10} "
                    f"v{event.version:<6} {event.type:<22} {summary}"
                ).rstrip()
            click.echo(line)
            sys.stdout.flush()
    except grpc.RpcError as error:
        click.echo(f"events: {error.code().name}: {error.details()}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    except KeyboardInterrupt:
        return
    finally:
        client.close()


@click.command(
    help="A holder's activity (TokenService.ListActivity): every mint, redemption and transfer "
    "that moved its tokens, amounts exact in their decimals; all pages unless --limit."
)
@click.option("--holder", "holder_id", required=True, help="The holder.")
@click.option("--product", "product_id", default="", help="Only this product (default: every product).")
@click.option(
    "--address", envvar="IIT_ADDRESS", default="127.0.0.1:50051", show_default=True, show_envvar=True
)
@click.option(
    "--token",
    envvar="IIT_TOKEN",
    default=None,
    show_envvar=True,
    help="An admin token or the holder's own (not needed in development mode).",
)
@click.option("--newest-first", is_flag=True, help="Newest entries first.")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="At most this many entries (0: all).")
@click.option("--page-size", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (amounts in base units).")
@click.option("--tls-ca", envvar="IIT_TLS_CA", default=None, help="CA (PEM) of the node: use TLS.")
def activity(
    holder_id: str,
    product_id: str,
    address: str,
    token: str | None,
    newest_first: bool,
    limit: int,
    page_size: int,
    as_json: bool,
    tls_ca: str | None,
) -> None:
    import grpc  # noqa: PLC0415
    from google.protobuf import json_format  # noqa: PLC0415

    from adapters.event_lines import TOKEN_DECIMALS, WAD_DECIMALS, exact  # noqa: PLC0415
    from adapters.grpc.client import Client, channel  # noqa: PLC0415
    from adapters.grpc.stubs import token_pb2  # noqa: PLC0415

    client = Client(channel(address, _path(tls_ca)), token)
    decimals: dict[str, int] = {}
    shown = 0
    request = token_pb2.ListActivityRequest(
        product_id=product_id, holder_id=holder_id, page_size=page_size, newest_first=newest_first
    )
    try:
        if not as_json:
            click.echo(
                f"{'POSITION':>8}  {'AT (UTC)':<20}  {'PRODUCT':<10} {'KIND':<17} {'TOKENS':>24} "
                f"{'COLLATERAL':>16} {'FEE':>12} {'NAV':>22}  OTHER / REQUEST"
            )
        while True:
            page = client.token.ListActivity(request, metadata=client.md)
            for e in page.entries:
                if limit and shown >= limit:
                    return
                shown += 1
                if as_json:
                    click.echo(json.dumps(json_format.MessageToDict(e, preserving_proto_field_name=True)))
                    continue
                if e.product_id not in decimals:
                    product = client.token.GetProduct(
                        token_pb2.GetProductRequest(product_id=e.product_id), metadata=client.md
                    )
                    decimals[e.product_id] = product.params.collateral_decimals
                cash = decimals[e.product_id]
                nav_wad = int(e.nav_per_token)
                nav = exact(nav_wad, WAD_DECIMALS) if nav_wad else "-"
                click.echo(
                    f"{e.position:>8}  {_when(e.at.seconds):<20}  {e.product_id:<10} {e.kind:<17} "
                    f"{exact(int(e.tokens), TOKEN_DECIMALS):>24} {exact(int(e.collateral), cash):>16} "
                    f"{exact(int(e.fee), cash):>12} {nav:>22}  {e.counterparty or e.request_id}"
                )
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token
    except grpc.RpcError as error:
        click.echo(f"activity: {error.code().name}: {error.details()}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    finally:
        client.close()
