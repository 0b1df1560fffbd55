"""The reference results of SPEC §6 and the statistics of a backtest report.

Pure float math on a price series: these numbers describe a run for people, they never
touch a balance (the vault's money stays integers in the domain).

- Avellaneda & Zhang (2010): continuously rebalanced leverage ``L`` on a path with
  realised variance ``Σ(ln S_{k+1}/S_k)²`` returns
  ``V_T/V_0 = (S_T/S_0)^L · exp((L − L²)/2 · Σσ²dt)``, before costs.
- The discrete product: a reset every period returns ``Π(1 + L·r_t)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence


def log_returns(prices: Sequence[float]) -> list[float]:
    """``ln(S_{k+1}/S_k)`` for each consecutive pair."""
    return [math.log(b / a) for a, b in itertools.pairwise(prices)]


def realised_variance(prices: Sequence[float]) -> float:
    """``Σ (ln S_{k+1}/S_k)²``: the path's realised ``σ²T`` (no mean removed, as in the formula)."""
    return sum(r * r for r in log_returns(prices))


def avellaneda_zhang(s0: float, s_t: float, leverage: float, variance: float) -> float:
    """``(S_T/S_0)^L · exp((L − L²)/2 · variance)``: the value of 1 invested at leverage ``L``."""
    return float((s_t / s0) ** leverage * math.exp((leverage - leverage * leverage) / 2 * variance))


def volatility_decay_factor(leverage: float, variance: float) -> float:
    """``exp((L − L²)/2 · variance)``: what the closed form loses against ``(S_T/S_0)^L``."""
    return math.exp((leverage - leverage * leverage) / 2 * variance)


def discrete_product(prices: Sequence[float], leverage: float) -> float:
    """``Π(1 + L·r_t)`` over consecutive prices (simple returns), floored at 0 (a wiped-out
    vault stays at 0)."""
    value = 1.0
    for a, b in itertools.pairwise(prices):
        value *= max(1.0 + leverage * (b / a - 1.0), 0.0)
    return value


def naive_power(s0: float, s_t: float, leverage: float) -> float:
    """``(S_T/S_0)^L``: the naive "1/index" inverse (for ``L = −1``), no volatility decay."""
    return float((s_t / s0) ** leverage)


def max_drawdown(values: Sequence[float]) -> float:
    """The largest fall from a running peak, as a fraction of the peak (0 to 1)."""
    peak = -math.inf
    worst = 0.0
    for value in values:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, (peak - value) / peak)
    return worst


def mean_and_standard_error(samples: Sequence[float]) -> tuple[float, float]:
    """The sample mean and its standard error ``s/√n`` (n ≥ 2)."""
    n = len(samples)
    assert n >= 2, "a standard error needs at least two samples"
    mean = sum(samples) / n
    variance = sum((x - mean) ** 2 for x in samples) / (n - 1)
    return mean, math.sqrt(variance / n)
