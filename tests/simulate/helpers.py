"""Shared set-up for the backtest tests: frictionless products and runs in memory."""

from __future__ import annotations

import attrs

from adapters.simulate.paths import PricePath
from adapters.simulate.policies import parse_policy
from adapters.simulate.runner import MemoryDriver, PolicyRun, Setup, run_policy
from domain.fixedpoint import WAD
from domain.params import Params, default_params

MINT = 10**12  # one million collateral units of 6 decimals: rounding is 1e-12 of it


def frictionless(leverage: int, **changes: int) -> Params:
    """The documented defaults for ``leverage`` with every fee and the execution cost at zero
    (unless ``changes`` says otherwise)."""
    zero = {"mint_fee_bps": 0, "redeem_fee_bps": 0, "streaming_fee_bps": 0, "execution_cost_bps": 0}
    return attrs.evolve(default_params(leverage * WAD), **{**zero, **changes})


def run(
    path: PricePath, params: Params, policy: str, mint: int = MINT, funding_wad: int = 0, feed: str = "rounds"
) -> PolicyRun:
    return run_policy(
        MemoryDriver(), path, Setup(params, mint, funding_wad, feed=feed), parse_policy(policy), "SIM-TEST"
    )


def relative_nav(run_: PolicyRun) -> float:
    return run_.rows[-1].nav_wad / run_.rows[0].nav_wad
