"""The ``iit`` command line: ``serve``, ``demo``, ``audit``, ``events`` (and ``simulate``).

Commands kept in their own modules are registered at the bottom: ``adapters.grpc.cli`` holds
``serve`` and ``events``; ``adapters.simulate.cli`` holds ``simulate``.
"""

from __future__ import annotations

import os
import sys

import click

from adapters.grpc.cli import events, serve
from adapters.simulate.cli import simulate
from adapters.store.url import DEFAULT_STORE_URL, StoreUrlError

EXIT_VIOLATION = 1
EXIT_COULD_NOT_RUN = 2


@click.group(help="iit-node: the off-chain protocol node for inverse index tokens.")
def main() -> None:
    """The command group."""


@main.command(
    help="Start a node in-process (port 0, a temporary SQLite store, simulated clock), drive a "
    "scripted market through real gRPC clients (an admin, three oracle reporters, four holders), "
    "print what happened, and end with CheckInvariants. Exit 1 if the audit is not clean."
)
def demo() -> None:
    from adapters.grpc.demo import run_demo  # noqa: PLC0415 - keeps `iit --help` light

    text, ok = run_demo()
    click.echo(text)
    if not ok:
        raise SystemExit(EXIT_VIOLATION)


@main.command(
    help="Replay a whole store from its first event and check the hash chain, every invariant "
    "after every event, and that replayed state equals what the node loads. Exit 0 clean, "
    "1 violation found, 2 could not run."
)
@click.option(
    "--store",
    default=lambda: os.environ.get("IIT_STORE", DEFAULT_STORE_URL),
    show_default=f"$IIT_STORE or {DEFAULT_STORE_URL}",
    help="sqlite:///path.db or postgresql://user@host:port/dbname",
)
@click.option("--product", "product_id", default=None, help="Audit only this product.")
@click.option(
    "--progress-every",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Report progress on stderr every this many records read.",
)
@click.option(
    "--processes",
    default=None,
    type=click.IntRange(min=1),
    help="Processes that replay the store: 1 audits in this one. Default: one per core when "
    "the store is large and has several products.",
)
def audit(store: str, product_id: str | None, progress_every: int, processes: int | None) -> None:
    from adapters.audit.report import audit as run_audit  # noqa: PLC0415 - keeps `iit demo` light
    from adapters.store.node import Node  # noqa: PLC0415

    if store.startswith("sqlite:///") and not os.path.exists(store.removeprefix("sqlite:///")):
        click.echo(f"audit: no store at {store}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN)
    try:
        node = Node.open(store)
        report = run_audit(
            node,
            product_id,
            progress=_report_progress,
            progress_every=progress_every,
            processes=processes,
        )
    except StoreUrlError as error:
        click.echo(f"audit: {error}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    except Exception as error:  # the store could not be read at all
        click.echo(f"audit: could not read {store}: {type(error).__name__}: {error}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    verdict = "clean" if report.ok else f"{len(report.findings)} violation(s)"
    click.echo(
        f"audit of {store}: {report.events_checked:,} events, {report.products} product(s), "
        f"{report.invariants_checked:,} invariant checks: {verdict}"
    )
    for finding in report.findings[:20]:
        where = f"position {finding.position}" if finding.position else "whole stream"
        click.echo(
            f"  {where}, product {finding.product_id} version {finding.version}: "
            f"{finding.invariant}: {finding.detail}"
        )
    if len(report.findings) > 20:
        click.echo(f"  … and {len(report.findings) - 20} more", err=False)
    sys.stdout.flush()
    if not report.ok:
        raise SystemExit(EXIT_VIOLATION)


def _report_progress(read: int, total: int) -> None:
    percent = 100 * read // total if total else 100
    click.echo(f"audit: {read:,} of {total:,} records read ({percent}%)…", err=True)


main.add_command(serve)
main.add_command(events)
main.add_command(simulate)

if __name__ == "__main__":
    main()
