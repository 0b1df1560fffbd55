"""The ``iit`` command line: ``serve``, ``demo``, ``audit``, ``events`` (and ``simulate``).

Commands kept in their own modules are imported only when they run (``LAZY``):
``adapters.grpc.serve_cli`` holds ``serve``, ``adapters.grpc.events_cli`` ``events`` and
``activity``, ``adapters.simulate.simulate_cli`` ``simulate`` (which pulls in numpy and
matplotlib). So ``iit --help`` and ``iit --version``
import nothing but click: a test holds them under half a second.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from adapters.store.url import DEFAULT_STORE_URL, StoreUrlError

# name -> (module:attribute, one-line help shown by `iit --help` without importing it)
LAZY: dict[str, tuple[str, str]] = {
    "serve": (
        "adapters.grpc.serve_cli:serve",
        "Serve the node over gRPC (embedded SQLite ./iit.db by default).",
    ),
    "events": (
        "adapters.grpc.events_cli:events",
        "Tail the event log of a running node, human-readable or JSON.",
    ),
    "activity": (
        "adapters.grpc.events_cli:activity",
        "A holder's activity (mints, redemptions, transfers), page by page.",
    ),
    "nav": (
        "adapters.grpc.nav_cli:nav",
        "A product's NAV history (GetNavHistory), exactly, as a table or JSON.",
    ),
    "dashboard": (
        "adapters.dashboard.dashboard_cli:dashboard",
        "Serve the live web dashboard of a node (a read-only gRPC client of it).",
    ),
    "simulate": (
        "adapters.simulate.simulate_cli:simulate",
        "Backtest a product on a price path (GBM or CSV).",
    ),
    "sample-data": (
        "adapters.simulate.sample_data:sample_data",
        "Daily closes of real stocks (bokeh-sampledata) as a CSV price path.",
    ),
}


class LazyGroup(click.Group):
    """A group whose ``LAZY`` commands are imported when invoked (or their own --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY:
            module, attribute = LAZY[cmd_name][0].split(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY[name][1]) for name in LAZY]
        for name in super().list_commands(ctx):
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


EXIT_VIOLATION = 1
EXIT_COULD_NOT_RUN = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it


@click.group(cls=LazyGroup, help="iit-node: the off-chain protocol node for inverse index tokens.")
@click.version_option(version=None, package_name="iit-node", prog_name="iit", message="%(prog)s %(version)s")
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
    from adapters.service.audits import audit_store  # noqa: PLC0415 - keeps `iit demo` light

    if store.startswith("sqlite:///") and not os.path.exists(store.removeprefix("sqlite:///")):
        click.echo(f"audit: no store at {store}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN)
    try:
        report = audit_store(
            store,
            product_id,
            progress=_report_progress,
            progress_every=progress_every,
            processes=processes,
        )
    except KeyboardInterrupt:
        # Interrupted is neither clean (0) nor a violation (1) nor a store that could not be
        # read (2): 130, the shell's code for Ctrl-C.
        click.echo("audit: interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
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


@main.command(
    "rebuild-read-models",
    help="Rebuild the store's durable read models (the holders' activity behind ListActivity) "
    "from the first event. Safe while nodes serve: they answer from the model as it is rebuilt. "
    "Exit 2 if the store cannot be read.",
)
@click.option(
    "--store",
    default=lambda: os.environ.get("IIT_STORE", DEFAULT_STORE_URL),
    show_default=f"$IIT_STORE or {DEFAULT_STORE_URL}",
    help="sqlite:///path.db or postgresql://user@host:port/dbname",
)
def rebuild_read_models(store: str) -> None:
    from adapters.store.activity import ActivityModel  # noqa: PLC0415 - keeps `iit --help` light
    from adapters.store.node import Node  # noqa: PLC0415

    if store.startswith("sqlite:///") and not os.path.exists(store.removeprefix("sqlite:///")):
        click.echo(f"rebuild-read-models: no store at {store}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN)
    try:
        node = Node.open(store)
        try:
            position = ActivityModel(node).rebuild()
        finally:
            node.close()
    except StoreUrlError as error:
        click.echo(f"rebuild-read-models: {error}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    except Exception as error:  # the store could not be read or written
        click.echo(f"rebuild-read-models: {store}: {type(error).__name__}: {error}", err=True)
        raise SystemExit(EXIT_COULD_NOT_RUN) from error
    click.echo(f"activity: rebuilt from the log, up to position {position}")


def _report_progress(read: int, total: int) -> None:
    percent = 100 * read // total if total else 100
    click.echo(f"audit: {read:,} of {total:,} records read ({percent}%)…", err=True)


if __name__ == "__main__":
    main()
