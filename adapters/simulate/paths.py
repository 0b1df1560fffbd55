"""Price paths for a backtest: geometric Brownian motion (one or several correlated
components), a deterministic alternating path with an exact realised variance, or a CSV
of real prices. Prices are converted to WAD integers here, once, so that the domain
sees exactly what the reports and statistics describe.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
from attrs import frozen

from domain.fixedpoint import SECONDS_PER_YEAR, WAD

DAY_S = 86_400
DEFAULT_START = 1_767_225_600  # 2026-01-01T00:00:00Z
FUNDING_COLUMN = "funding"


class PathError(ValueError):
    """A path could not be built or read (bad parameters, a malformed CSV)."""


@frozen
class PricePath:
    """Times (Unix seconds, increasing) and, at each, one WAD price per component.

    ``funding_wad`` is an optional funding rate (WAD per year, positive: paid by the
    vault) in force from each time on."""

    times: tuple[int, ...]
    symbols: tuple[str, ...]
    prices_wad: tuple[tuple[int, ...], ...]
    funding_wad: tuple[int, ...] | None
    description: str

    def __attrs_post_init__(self) -> None:
        if len(self.times) < 2:
            raise PathError("a path needs at least two times")
        if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise PathError("the times of a path must increase strictly")
        if any(len(row) != len(self.symbols) for row in self.prices_wad) or len(self.prices_wad) != len(
            self.times
        ):
            raise PathError("a path needs one price per component at every time")
        if any(price <= 0 for row in self.prices_wad for price in row):
            raise PathError("prices must be positive")
        if self.funding_wad is not None and len(self.funding_wad) != len(self.times):
            raise PathError("a funding column needs one rate per time")

    @property
    def steps(self) -> int:
        return len(self.times) - 1


def to_wad(value: float) -> int:
    """A float price as WAD (rounded to the nearest unit)."""
    return round(value * WAD)


def _step_seconds(steps_per_day: int) -> int:
    if steps_per_day <= 0 or DAY_S % steps_per_day:
        raise PathError(f"steps_per_day must divide 86400 seconds, got {steps_per_day}")
    return DAY_S // steps_per_day


def gbm_path(
    symbols: Sequence[str],
    initial_prices: Sequence[float],
    drift: float,
    volatility: float,
    days: int,
    steps_per_day: int,
    seed: int,
    correlation: float = 0.0,
    start: int = DEFAULT_START,
) -> PricePath:
    """Geometric Brownian motion, ``dS/S = μ dt + σ dW`` per component (annualised, a
    365-day year), the components' Brownian motions pairwise correlated by ``correlation``.
    The same ``seed`` gives the same path, bit for bit."""
    n = len(symbols)
    if n == 0 or len(initial_prices) != n:
        raise PathError("give one initial price per component")
    if days <= 0 or volatility < 0:
        raise PathError("days must be positive and volatility non-negative")
    if n > 1 and not -1 / (n - 1) < correlation < 1:
        raise PathError(f"correlation must be in (-1/(n-1), 1) for {n} components, got {correlation}")
    step_s = _step_seconds(steps_per_day)
    steps = days * steps_per_day
    dt = step_s / SECONDS_PER_YEAR
    cov = np.full((n, n), correlation) + np.eye(n) * (1 - correlation)
    chol = np.linalg.cholesky(cov)
    rng = np.random.Generator(np.random.PCG64(seed))
    shocks = rng.standard_normal((steps, n)) @ chol.T
    increments = (drift - volatility**2 / 2) * dt + volatility * math.sqrt(dt) * shocks
    log_paths = np.vstack([np.zeros(n), np.cumsum(increments, axis=0)])
    prices = np.asarray(initial_prices, dtype=float) * np.exp(log_paths)
    return PricePath(
        times=tuple(start + k * step_s for k in range(steps + 1)),
        symbols=tuple(symbols),
        prices_wad=tuple(tuple(to_wad(float(p)) for p in row) for row in prices),
        funding_wad=None,
        description=(
            f"GBM: drift {drift:g}/yr, volatility {volatility:g}/yr, {days} days x {steps_per_day} "
            f"steps/day, correlation {correlation:g}, seed {seed}"
        ),
    )


def alternating_path(
    symbol: str,
    initial_price: float,
    volatility: float,
    days: int,
    steps_per_day: int,
    start: int = DEFAULT_START,
) -> PricePath:
    """Equal up and down log moves ``±σ√dt``, alternating: after an even number of steps
    the price is back where it started and the realised variance is exactly ``σ²T``."""
    step_s = _step_seconds(steps_per_day)
    steps = days * steps_per_day
    if steps % 2:
        raise PathError("an alternating path needs an even number of steps to end where it began")
    move = volatility * math.sqrt(step_s / SECONDS_PER_YEAR)
    up = to_wad(initial_price * math.exp(move))
    base = to_wad(initial_price)
    return PricePath(
        times=tuple(start + k * step_s for k in range(steps + 1)),
        symbols=(symbol,),
        prices_wad=tuple((up if k % 2 else base,) for k in range(steps + 1)),
        funding_wad=None,
        description=(
            f"alternating ±{move:.6g} log moves (volatility {volatility:g}/yr), {days} days x "
            f"{steps_per_day} steps/day"
        ),
    )


def _parse_time(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise PathError(f"not a timestamp (Unix seconds or ISO 8601): {text!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _parse_wad(text: str, where: str) -> int:
    try:
        value = Decimal(text.strip())
    except InvalidOperation as error:
        raise PathError(f"{where}: not a number: {text!r}") from error
    if not value.is_finite():
        raise PathError(f"{where}: not a finite number: {text!r}")
    return int((value * WAD).to_integral_value())


def read_csv_path(
    path: Path,
    columns: Sequence[str] | None = None,
    funding_column: str | None = FUNDING_COLUMN,
) -> PricePath:
    """A CSV with a header: the first column a timestamp (Unix seconds or ISO 8601, UTC
    when no zone is given), then one price column per component (``columns`` picks some).
    A column named ``funding_column``, if present, is the funding rate per year (0.05 is
    5 %/yr). Rows with an empty price are skipped; rows are sorted by time."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration as error:
            raise PathError(f"{path}: empty file") from error
        rows = [row for row in reader if row and any(cell.strip() for cell in row)]
    if len(header) < 2:
        raise PathError(f"{path}: needs a time column and at least one price column")
    names = [name for name in header[1:] if name != funding_column]
    chosen = list(columns) if columns else names
    missing = [name for name in chosen if name not in header[1:]]
    if missing:
        raise PathError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(header[1:])})")
    index = {name: header.index(name) for name in chosen}
    funding_at = header.index(funding_column) if funding_column and funding_column in header else None
    parsed: list[tuple[int, tuple[int, ...], int]] = []
    for number, row in enumerate(rows, start=2):
        cells = [row[index[name]].strip() if index[name] < len(row) else "" for name in chosen]
        if not all(cells):
            continue
        where = f"{path}:{number}"
        prices = tuple(_parse_wad(cell, where) for cell in cells)
        funding = 0
        if funding_at is not None and funding_at < len(row) and row[funding_at].strip():
            funding = _parse_wad(row[funding_at], where)
        parsed.append((_parse_time(row[0]), prices, funding))
    parsed.sort(key=lambda item: item[0])
    return PricePath(
        times=tuple(item[0] for item in parsed),
        symbols=tuple(chosen),
        prices_wad=tuple(item[1] for item in parsed),
        funding_wad=tuple(item[2] for item in parsed) if funding_at is not None else None,
        description=f"CSV {path.name}: {len(parsed)} rows of {', '.join(chosen)}",
    )


def index_quantities_wad(initial_prices_wad: Sequence[int], index_level: int = 100) -> tuple[int, ...]:
    """Quantities (WAD) of an equal-weighted index worth ``index_level`` at the first prices."""
    n = len(initial_prices_wad)
    return tuple(max(index_level * WAD * WAD // (n * price), 1) for price in initial_prices_wad)
