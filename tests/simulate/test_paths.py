"""Price paths: GBM statistics and reproducibility, the exact alternating path, CSV reading."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapters.simulate import closed_form as cf
from adapters.simulate.paths import (
    PathError,
    PricePath,
    alternating_path,
    gbm_path,
    index_quantities_wad,
    read_csv_path,
)
from domain.fixedpoint import WAD


def test_gbm_is_reproducible_by_seed_and_has_its_volatility_and_correlation():
    path = gbm_path(["A", "B"], [100.0, 50.0], 0.0, 0.8, 365, 24, seed=3, correlation=0.6)
    assert path == gbm_path(["A", "B"], [100.0, 50.0], 0.0, 0.8, 365, 24, seed=3, correlation=0.6)
    assert path != gbm_path(["A", "B"], [100.0, 50.0], 0.0, 0.8, 365, 24, seed=4, correlation=0.6)
    assert path.prices_wad[0] == (100 * WAD, 50 * WAD)
    assert path.steps == 365 * 24
    assert path.times[1] - path.times[0] == 3_600
    a = np.diff(np.log([row[0] / WAD for row in path.prices_wad]))
    b = np.diff(np.log([row[1] / WAD for row in path.prices_wad]))
    # Realised variance over a year of hourly steps ≈ σ²T (sampling error ~1.5 %).
    assert float(np.sum(a * a)) == pytest.approx(0.64, rel=0.05)
    assert float(np.corrcoef(a, b)[0, 1]) == pytest.approx(0.6, abs=0.03)


def test_gbm_drift_shows_in_the_mean_log_return():
    # ln S_T/S_0 has mean (μ − σ²/2)T: with μ = 1, σ = 0.2, over 40 years of daily steps.
    path = gbm_path(["A"], [100.0], 1.0, 0.2, 365 * 40, 1, seed=1)
    log_return = math.log(path.prices_wad[-1][0] / path.prices_wad[0][0])
    assert log_return / 40 == pytest.approx(1.0 - 0.02, abs=0.2 / math.sqrt(40) * 3)


def test_alternating_path_ends_where_it_began_with_exact_variance():
    path = alternating_path("X", 250.0, 0.5, 10, 4)
    prices = [row[0] / WAD for row in path.prices_wad]
    assert prices[0] == prices[-1] == 250.0
    assert cf.realised_variance(prices) == pytest.approx(0.25 * 10 / 365, rel=1e-9)
    with pytest.raises(PathError, match="even number"):
        alternating_path("X", 250.0, 0.5, 1, 3)


def test_bad_paths_are_refused_with_a_reason():
    with pytest.raises(PathError, match="divide 86400"):
        gbm_path(["A"], [1.0], 0.0, 0.5, 1, 7, seed=1)
    with pytest.raises(PathError, match="correlation"):
        gbm_path(["A", "B", "C"], [1.0, 1.0, 1.0], 0.0, 0.5, 1, 1, seed=1, correlation=-0.6)
    with pytest.raises(PathError, match="increase"):
        PricePath((2, 1), ("A",), ((1,), (1,)), None, "x")
    with pytest.raises(PathError, match="positive"):
        PricePath((1, 2), ("A",), ((1,), (0,)), None, "x")


def test_csv_reads_iso_dates_and_unix_seconds_sorts_rows_and_skips_gaps(tmp_path):
    source = tmp_path / "prices.csv"
    source.write_text(
        "timestamp,BTC,ETH,funding\n"
        "2024-01-02,42000.5,2300,0.05\n"
        "2024-01-01T00:00:00Z,41000,2250.25,\n"
        "1704240000,43000,,0.05\n"  # 2024-01-03: no ETH price, skipped
        "2024-01-04 00:00:00,44000,2400,-0.01\n"
    )
    path = read_csv_path(source)
    assert path.symbols == ("BTC", "ETH")
    assert path.times == (1_704_067_200, 1_704_153_600, 1_704_326_400)
    assert path.prices_wad[0] == (41_000 * WAD, 2_250_250_000_000_000_000_000)
    assert path.prices_wad[1][0] == 42_000_500_000_000_000_000_000
    assert path.funding_wad == (0, WAD // 20, -WAD // 100)
    only_btc = read_csv_path(source, ["BTC"])
    assert only_btc.symbols == ("BTC",)
    assert len(only_btc.times) == 4


def test_csv_errors_name_the_problem(tmp_path):
    source = tmp_path / "prices.csv"
    source.write_text("timestamp,BTC\n2024-01-01,abc\n2024-01-02,1\n")
    with pytest.raises(PathError, match=r"prices.csv:2: not a number"):
        read_csv_path(source)
    with pytest.raises(PathError, match="no column SOL"):
        read_csv_path(source, ["SOL"])
    source.write_text("timestamp,BTC\nyesterday,1\n2024-01-02,1\n")
    with pytest.raises(PathError, match="not a timestamp"):
        read_csv_path(source)


def test_equal_weighted_index_is_worth_one_hundred_at_the_first_prices():
    prices = (60_000 * WAD, 3_000 * WAD, 150 * WAD)
    quantities = index_quantities_wad(prices)
    value = sum(q * p for q, p in zip(quantities, prices, strict=True)) / WAD / WAD
    assert value == pytest.approx(100.0, rel=1e-12)
    assert all(
        q * p // WAD == pytest.approx(100 * WAD / 3, rel=1e-12)
        for q, p in zip(quantities, prices, strict=True)
    )
