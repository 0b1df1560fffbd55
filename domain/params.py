"""Product parameters, their documented defaults, and the launch rule.

Units are last in names: ``_wad`` is 18-decimal fixed point, ``_bps`` basis points,
``_s`` seconds; amounts are base units.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from attrs import frozen

from domain.errors import InvalidParameters
from domain.fixedpoint import BPS, WAD

LEVERAGE_TARGET_MIN_WAD = -3 * WAD  # SPEC §2: −1 default; −2 and −3 allowed.
LEVERAGE_TARGET_MAX_WAD = -WAD
FEE_MAX_BPS = 1_000  # A fee above 10 % is a typo, not a product.
EXECUTION_COST_MAX_BPS = 1_000
COLLATERAL_DECIMALS_MAX = 18
ORACLE_QUORUM_MAX = 64


@frozen
class Params:
    """A product's parameters. ``default_params`` documents every default."""

    target_leverage_wad: int
    band_low_wad: int
    band_high_wad: int
    ripcord_leverage_wad: int
    rebalance_interval_s: int
    max_trade_notional: int
    mint_fee_bps: int
    redeem_fee_bps: int
    streaming_fee_bps: int
    execution_cost_bps: int
    max_oracle_age_s: int
    max_price_move_wad: int
    oracle_quorum: int
    collateral_decimals: int
    supply_cap: int

    @property
    def target_magnitude_wad(self) -> int:
        """|target leverage| as WAD."""
        return -self.target_leverage_wad


def default_params(target_leverage_wad: int = -WAD) -> Params:
    """The documented defaults, scaled to the target leverage.

    - band: |leverage| within ±20 % of |target|; ripcord at 1.5 × |target|;
    - ``rebalance_interval_s`` one day (the daily reset);
    - ``max_trade_notional`` 0 (no cap); fees: mint 10 bps, redeem 10 bps, streaming 95 bps/yr;
    - ``execution_cost_bps`` 10 (the simulated market's slippage on a hedge trade);
    - ``max_oracle_age_s`` one hour; ``max_price_move_wad`` 20 %; quorum 1;
    - ``collateral_decimals`` 6 (USDC); ``supply_cap`` 0 (no cap).
    """
    magnitude = -target_leverage_wad
    return Params(
        target_leverage_wad=target_leverage_wad,
        band_low_wad=magnitude * 8 // 10,
        band_high_wad=magnitude * 12 // 10,
        ripcord_leverage_wad=magnitude * 3 // 2,
        rebalance_interval_s=86_400,
        max_trade_notional=0,
        mint_fee_bps=10,
        redeem_fee_bps=10,
        streaming_fee_bps=95,
        execution_cost_bps=10,
        max_oracle_age_s=3_600,
        max_price_move_wad=WAD // 5,
        oracle_quorum=1,
        collateral_decimals=6,
        supply_cap=0,
    )


def is_insolvency_impossible(params: Params) -> bool:
    """SPEC §2 launch rule: ``ripcord_leverage × max_price_move × (1 + costs) < 1``.

    At |leverage| ≤ ripcord, an accepted move of at most ``max_price_move`` loses at most
    ripcord × move of equity, and the ripcord trade costs ``execution_cost_bps`` on top.

    pre: params.ripcord_leverage_wad >= 0 and params.max_price_move_wad >= 0
    pre: params.execution_cost_bps >= 0
    """
    lhs = params.ripcord_leverage_wad * params.max_price_move_wad * (BPS + params.execution_cost_bps)
    return lhs < WAD * WAD * BPS


def validate_params(params: Params) -> None:
    """Raise ``InvalidParameters`` naming the first violated bound."""
    checks: list[tuple[bool, str]] = [
        (
            LEVERAGE_TARGET_MIN_WAD <= params.target_leverage_wad <= LEVERAGE_TARGET_MAX_WAD,
            f"target_leverage must be between -3 and -1 (WAD), got {params.target_leverage_wad}",
        ),
        (
            0 < params.band_low_wad < params.target_magnitude_wad,
            f"band_low must be in (0, |target_leverage|), got {params.band_low_wad}",
        ),
        (
            params.target_magnitude_wad < params.band_high_wad < params.ripcord_leverage_wad,
            f"band_high must be in (|target_leverage|, ripcord_leverage), got {params.band_high_wad}",
        ),
        (
            params.rebalance_interval_s > 0,
            f"rebalance_interval_s must be positive, got {params.rebalance_interval_s}",
        ),
        (
            params.max_trade_notional >= 0,
            f"max_trade_notional must be >= 0 (0 = no cap), got {params.max_trade_notional}",
        ),
        (
            0 <= params.mint_fee_bps <= FEE_MAX_BPS,
            f"mint_fee_bps must be in [0, {FEE_MAX_BPS}], got {params.mint_fee_bps}",
        ),
        (
            0 <= params.redeem_fee_bps <= FEE_MAX_BPS,
            f"redeem_fee_bps must be in [0, {FEE_MAX_BPS}], got {params.redeem_fee_bps}",
        ),
        (
            0 <= params.streaming_fee_bps <= FEE_MAX_BPS,
            f"streaming_fee_bps must be in [0, {FEE_MAX_BPS}], got {params.streaming_fee_bps}",
        ),
        (
            0 <= params.execution_cost_bps <= EXECUTION_COST_MAX_BPS,
            f"execution_cost_bps must be in [0, {EXECUTION_COST_MAX_BPS}], got {params.execution_cost_bps}",
        ),
        (
            params.max_oracle_age_s > 0,
            f"max_oracle_age_s must be positive, got {params.max_oracle_age_s}",
        ),
        (
            0 < params.max_price_move_wad < WAD,
            f"max_price_move must be in (0, 1) as WAD, got {params.max_price_move_wad}",
        ),
        (
            1 <= params.oracle_quorum <= ORACLE_QUORUM_MAX,
            f"oracle_quorum must be in [1, {ORACLE_QUORUM_MAX}], got {params.oracle_quorum}",
        ),
        (
            0 <= params.collateral_decimals <= COLLATERAL_DECIMALS_MAX,
            f"collateral_decimals must be in [0, 18], got {params.collateral_decimals}",
        ),
        (params.supply_cap >= 0, f"supply_cap must be >= 0 (0 = no cap), got {params.supply_cap}"),
    ]
    for ok, message in checks:
        if not ok:
            raise InvalidParameters(message)
    if not is_insolvency_impossible(params):
        raise InvalidParameters(
            "ripcord_leverage x max_price_move x (1 + execution_cost) must be < 1 so that an "
            f"accepted move cannot wipe out equity; got ripcord={params.ripcord_leverage_wad}, "
            f"max_price_move={params.max_price_move_wad}, "
            f"execution_cost_bps={params.execution_cost_bps}"
        )


ParamsChanges = tuple[tuple[str, int], ...]


def params_changes(value: Params | Iterable[tuple[str, int]]) -> ParamsChanges:
    """(name, value) pairs in name order: those given, or every field of a whole ``Params``."""
    if isinstance(value, Params):
        return tuple((f.name, getattr(value, f.name)) for f in attrs.fields(Params))
    return tuple(sorted((str(name), amount) for name, amount in value))


def patched(params: Params, changes: ParamsChanges) -> Params:
    """``params`` with ``changes`` applied; ``InvalidParameters`` for a name that is not a
    parameter or one set twice (bounds are ``validate_params``'s to check)."""
    names = [name for name, _ in changes]
    unknown = sorted(set(names) - {f.name for f in attrs.fields(Params)})
    if unknown:
        raise InvalidParameters(f"no such parameter: {', '.join(unknown)}")
    if len(set(names)) != len(names):
        raise InvalidParameters(f"a parameter is set twice: {names}")
    return attrs.evolve(params, **dict(changes))
