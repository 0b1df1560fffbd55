"""What a backtest measured, per policy, beside the closed forms of SPEC §6."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction

from attrs import frozen

from adapters.simulate import closed_form as cf
from adapters.simulate.paths import DAY_S
from adapters.simulate.runner import PolicyRun
from domain.fixedpoint import WAD


@frozen
class Summary:
    """One policy's results. NAVs are per token, relative to the NAV right after the first
    mint; the closed forms use the index prices the domain accepted."""

    policy: str
    description: str
    leverage: float
    index_return: float  # S_T / S_0
    final_nav: float
    naive: float  # (S_T/S_0)^L: the naive "1/index" inverse for L = −1
    avellaneda_zhang: float
    daily_product: float
    own_steps_product: float  # Π(1 + L_i·r_i) over the policy's own rebalances, exact
    realised_variance: float
    measured_decay: float  # final_nav / naive − 1
    closed_form_decay: float  # exp((L − L²)/2 · Σσ²dt) − 1
    max_drawdown: float
    rebalances: int
    rebalances_by_reason: dict[str, int]
    rebalance_cost: int  # collateral base units
    worst_leverage: float
    funding_paid: int  # collateral base units, positive: paid by the vault
    circuit_breakers: int
    settled: bool
    collateral_decimals: int
    rebalance_interval_s: int
    band: tuple[float, float]  # |leverage| the band keeps
    ripcord: float
    time_of_day_s: int | None = None
    recentering_speed: float = 1.0
    twap_cooldown_s: int = 0
    max_trade_notional: int = 0
    notes: tuple[str, ...] = ()


def index_series(run: PolicyRun) -> list[float]:
    return [row.index_price_wad / WAD for row in run.rows]


def nav_series(run: PolicyRun) -> list[float]:
    start = run.rows[0].nav_wad
    return [row.nav_wad / start for row in run.rows]


def daily_samples(times: list[int], values: list[float]) -> list[float]:
    """The values at the first time, then at each time a day or more after the last sample,
    and at the last time (the partial last day counts as one more period)."""
    picked = [0]
    for k in range(1, len(times)):
        if times[k] - times[picked[-1]] >= DAY_S:
            picked.append(k)
    if picked[-1] != len(times) - 1:
        picked.append(len(times) - 1)
    return [values[k] for k in picked]


def own_steps_product(run: PolicyRun) -> float:
    """What the node's NAV follows before costs: the product over the policy's own
    rebalances of ``1 + L_i · r_i``, where ``L_i`` is the leverage each rebalance left (the
    target, or the recentered value) and ``r_i`` the index return until the next one, at
    the prices the trades were made at. Computed exactly (fractions), then rounded once."""
    first = run.rows[0]
    if first.leverage_wad is None or first.index_price_wad == 0:
        return 1.0
    value = Fraction(1)
    leverage = Fraction(first.leverage_wad, WAD)
    price = first.index_price_wad
    for row in run.rows[1:]:
        for note in row.rebalances:
            if note.price_wad:
                value *= 1 + leverage * (Fraction(note.price_wad, price) - 1)
                leverage, price = Fraction(note.leverage_after_wad, WAD), note.price_wad
    last = run.rows[-1].index_price_wad
    value *= 1 + leverage * (Fraction(last, price) - 1)
    return float(value)


def path_step_s(times: list[int]) -> int:
    """The path's typical step (the median gap between two times)."""
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    return gaps[len(gaps) // 2] if gaps else 0


def policy_notes(run: PolicyRun, times: list[int]) -> tuple[str, ...]:
    """What the reader must know to read a policy's numbers right."""
    notes: list[str] = []
    step = path_step_s(times)
    interval = run.params.rebalance_interval_s
    if step and interval < step and run.policy.kind in {"every", "schedule+band", "product"}:
        notes.append(
            f"its schedule (every {interval // 3600} h) is shorter than the path's step "
            f"({step // 3600} h): between two prices a reset has nothing to trade or a stale "
            "price, so it acts once per step"
        )
    return tuple(notes)


def summarise(run: PolicyRun) -> Summary:
    leverage = run.params.target_leverage_wad / WAD
    index = index_series(run)
    navs = nav_series(run)
    times = [row.time for row in run.rows]
    variance = cf.realised_variance(index)
    naive = cf.naive_power(index[0], index[-1], leverage)
    notes = [note for row in run.rows for note in row.rebalances]
    return Summary(
        policy=run.policy.name,
        description=run.policy.description,
        leverage=leverage,
        index_return=index[-1] / index[0],
        final_nav=navs[-1],
        naive=naive,
        avellaneda_zhang=cf.avellaneda_zhang(index[0], index[-1], leverage, variance),
        daily_product=cf.discrete_product(daily_samples(times, index), leverage),
        own_steps_product=own_steps_product(run),
        realised_variance=variance,
        measured_decay=navs[-1] / naive - 1,
        closed_form_decay=cf.volatility_decay_factor(leverage, variance) - 1,
        max_drawdown=cf.max_drawdown(navs),
        rebalances=len(notes),
        rebalances_by_reason=dict(Counter(note.reason for note in notes)),
        rebalance_cost=sum(note.execution_cost for note in notes),
        worst_leverage=max(row.worst_leverage_wad for row in run.rows) / WAD,
        funding_paid=sum(row.funding_paid for row in run.rows),
        circuit_breakers=sum(row.circuit_breaker for row in run.rows),
        settled=run.settled,
        collateral_decimals=run.params.collateral_decimals,
        rebalance_interval_s=run.params.rebalance_interval_s,
        band=(run.params.band_low_wad / WAD, run.params.band_high_wad / WAD),
        ripcord=run.params.ripcord_leverage_wad / WAD,
        time_of_day_s=run.params.rebalance_time_of_day_s,
        recentering_speed=run.params.recentering_speed_wad / WAD,
        twap_cooldown_s=run.params.twap_cooldown_s,
        max_trade_notional=run.params.max_trade_notional,
        notes=policy_notes(run, times),
    )
