"""A real daily price history that a PyPI package ships as a file: the daily stock prices
of ``bokeh-sampledata`` (AAPL, GOOG, IBM, MSFT, 2000-2013; Quandl WIKI, public domain).
It is a development dependency: the README example and the tests use it, the simulator
itself reads any CSV.

    iit sample-data AAPL MSFT --start 2010-01-01 --end 2012-12-31 --out simulation/prices.csv

(or ``python -m adapters.simulate.sample_data`` with the same arguments) writes
``timestamp,AAPL,MSFT``: the dates on which every ticker traded, each price the adjusted
close (splits and dividends folded in, so that a split is not a crash).
"""

from __future__ import annotations

import csv
import gzip
import importlib.resources
import io
import re
from collections.abc import Sequence
from pathlib import Path

import click

PACKAGE = "bokeh_sampledata"
STOCKS_FILE = "_data/stocks.csv.gz"
TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")
PRICE_COLUMN = "Adj Close"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class SampleDataMissing(RuntimeError):
    """The package that ships the data is not installed."""


def stock_rows() -> list[dict[str, str]]:
    """Every row of the shipped file (Ticker, Date, Open, …, Adj Close)."""
    try:
        data = importlib.resources.files(PACKAGE).joinpath(STOCKS_FILE).read_bytes()
    except ModuleNotFoundError as error:
        raise SampleDataMissing(
            f"{PACKAGE} is not installed: it is a dev dependency (`uv sync` installs it)"
        ) from error
    with gzip.open(io.BytesIO(data), "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def stocks_csv(tickers: Sequence[str] = ("AAPL", "MSFT"), start: str = "", end: str = "") -> str:
    """A wide CSV, ``timestamp`` then one adjusted-close column per ticker, on the dates
    (``start`` ≤ date ≤ ``end``, ISO, optional) on which every ticker has a price."""
    unknown = [t for t in tickers if t not in TICKERS]
    if unknown or not tickers:
        raise ValueError(f"tickers must be among {', '.join(TICKERS)}, got {', '.join(tickers) or 'none'}")
    prices: dict[str, dict[str, str]] = {}
    for row in stock_rows():
        if (
            row["Ticker"] in tickers
            and (not start or row["Date"] >= start)
            and (not end or row["Date"] <= end)
        ):
            prices.setdefault(row["Date"], {})[row["Ticker"]] = row[PRICE_COLUMN]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", *tickers])
    for day in sorted(prices):
        if all(prices[day].get(t) for t in tickers):
            writer.writerow([day, *(prices[day][t] for t in tickers)])
    return out.getvalue()


@click.command(
    "sample-data",
    help="Write the daily adjusted closes of TICKERS (among AAPL, GOOG, IBM, MSFT; 2000-2013, "
    "from the bokeh-sampledata dev dependency) as a CSV price path for `iit simulate "
    "--prices-csv`: timestamp, then one column per ticker, on the dates every ticker traded.",
)
@click.argument("tickers", nargs=-1, type=click.Choice(TICKERS))
@click.option("--start", default="", metavar="YYYY-MM-DD", help="First date (inclusive).")
@click.option("--end", default="", metavar="YYYY-MM-DD", help="Last date (inclusive).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default="-",
    show_default=True,
    help="File to write (its folder is created); - for standard output.",
)
def sample_data(tickers: tuple[str, ...], start: str, end: str, out: str) -> None:
    for name, value in (("--start", start), ("--end", end)):
        if value and not _ISO_DATE.fullmatch(value):
            raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=name)
    try:
        text = stocks_csv(tickers or ("AAPL", "MSFT"), start, end)
    except SampleDataMissing as error:
        raise click.ClickException(str(error)) from error
    if out == "-":
        click.echo(text, nl=False)
        return
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


if __name__ == "__main__":
    sample_data(prog_name="python -m adapters.simulate.sample_data")
