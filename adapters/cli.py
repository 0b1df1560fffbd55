"""The ``iit`` command line."""

from __future__ import annotations

import click

from adapters.demo import render, run_demo


@click.group(help="iit-node: the off-chain protocol node for inverse index tokens.")
def main() -> None:
    """The command group."""


@main.command(help="Drive a scripted market through the domain and print what happened.")
def demo() -> None:
    run, report = run_demo()
    click.echo(render(run, report))
    if not report.ok:
        raise SystemExit(1)
