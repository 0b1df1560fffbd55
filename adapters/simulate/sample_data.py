"""A real daily price history that a PyPI package ships as a file: the daily stock prices
of ``bokeh-sampledata`` (AAPL, GOOG, IBM, MSFT, 2000-2013; Quandl WIKI, public domain).
It is a development dependency: the README example and the tests use it, the simulator
itself reads any CSV.

    python -m adapters.simulate.sample_data AAPL MSFT --start=2010-01-01 --end=2012-12-31 > prices.csv

writes ``timestamp,AAPL,MSFT``: the dates on which every ticker traded, each price the
adjusted close (splits and dividends folded in, so that a split is not a crash).
"""

from __future__ import annotations

import csv
import gzip
import importlib.resources
import io
import sys
from collections.abc import Sequence

PACKAGE = "bokeh_sampledata"
STOCKS_FILE = "_data/stocks.csv.gz"
TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")
PRICE_COLUMN = "Adj Close"


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


def main(argv: Sequence[str]) -> int:
    tickers = [a for a in argv if not a.startswith("--")] or ["AAPL", "MSFT"]
    bounds = dict(a.removeprefix("--").split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    try:
        unknown = sorted(set(bounds) - {"start", "end"})
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)}: use --start=YYYY-MM-DD --end=YYYY-MM-DD"
            )
        sys.stdout.write(stocks_csv(tickers, bounds.get("start", ""), bounds.get("end", "")))
    except (ValueError, SampleDataMissing) as error:
        sys.stderr.write(f"sample_data: {error}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
