"""Product parameters, their documented defaults, and the launch rule.

Units are last in names: ``_wad`` is 18-decimal fixed point, ``_bps`` basis points,
``_s`` seconds; amounts are base units.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from attrs import frozen

from domain.errors import InvalidArgument, InvalidParameters
from domain.fixedpoint import BPS, WAD

LEVERAGE_TARGET_MIN_WAD = -3 * WAD  # SPEC §2: −1 default; −2 and −3 allowed.
LEVERAGE_TARGET_MAX_WAD = -WAD
FEE_MAX_BPS = 1_000  # A fee above 10 % is a typo, not a product.
EXECUTION_COST_MAX_BPS = 1_000
COLLATERAL_DECIMALS_MAX = 18
ORACLE_QUORUM_MAX = 64
DAY_S = 86_400
TWAP_COOLDOWN_MAX_S = DAY_S  # a chunk a day apart is a schedule, not a TWAP

# SPEC §7: every value of the contract has a documented range, checked in one place (this
# module for parameters and times, ``domain.validation`` for ids and symbols). Times fit a
# ``google.protobuf.Timestamp`` rendered as RFC 3339 (years 0001-9999) with room to spare:
# a time the node accepts (a simulated ``Tick``, a price's ``observed_at``) is at most
# ``TIME_MAX_S``, and anything it derives from one (``next_rebalance_at`` = now + interval)
# stays below ``TIMESTAMP_MAX_S``, because no interval exceeds ``INTERVAL_MAX_S``.
TIMESTAMP_MAX_S = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second JSON/RFC 3339 shows
TIME_MAX_S = 247_090_953_600  # 9800-01-01T00:00:00Z
INTERVAL_MAX_S = 100 * 365 * 86_400  # a century: "never" for a schedule (as backtests use it)
ORACLE_AGE_MAX_S = 366 * 86_400  # a price older than a year is no price
AMOUNT_MAX = 2**128 - 1  # every amount, price and quantity (3.4e38 base units)


@frozen
class Bound:
    """The closed range ``[low, high]`` of one plain parameter, in ``unit``."""

    low: int
    high: int
    unit: str


# The range of every parameter that is bounded on its own (the leverages and the price move
# are bounded relative to each other, below). Keyed by the domain name, which is the wire
# name of ``iit.v1.Params`` without a ``_wad`` suffix; a new parameter adds its row here.
PARAM_BOUNDS: dict[str, Bound] = {
    "rebalance_interval_s": Bound(1, INTERVAL_MAX_S, "seconds, at most a century"),
    "max_trade_notional": Bound(0, AMOUNT_MAX, "collateral base units, 0 = no cap"),
    "mint_fee_bps": Bound(0, FEE_MAX_BPS, "basis points"),
    "redeem_fee_bps": Bound(0, FEE_MAX_BPS, "basis points"),
    "streaming_fee_bps": Bound(0, FEE_MAX_BPS, "basis points per year"),
    "execution_cost_bps": Bound(0, EXECUTION_COST_MAX_BPS, "basis points"),
    "max_oracle_age_s": Bound(1, ORACLE_AGE_MAX_S, "seconds, at most 366 days"),
    "oracle_quorum": Bound(1, ORACLE_QUORUM_MAX, "distinct reporters"),
    "collateral_decimals": Bound(0, COLLATERAL_DECIMALS_MAX, "decimals"),
    "supply_cap": Bound(0, AMOUNT_MAX, "token base units, 0 = no cap"),
}


def out_of_bounds(name: str, value: int, bound: Bound) -> str | None:
    """The message naming ``name`` if ``value`` is outside ``bound``, else None."""
    if bound.low <= value <= bound.high:
        return None
    return f"{name} must be in [{bound.low}, {bound.high}] ({bound.unit}), got {value}"


def check_time(value: int, field: str) -> None:
    """A time the node is given (Unix seconds) must lie in ``[0, TIME_MAX_S]``."""
    if not 0 <= value <= TIME_MAX_S:
        raise InvalidArgument(
            f"{field} must be between 1970-01-01 and 9800-01-01 (0 to {TIME_MAX_S} Unix seconds), got {value}"
        )


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
    # Added in the second version (SPEC §5); defaults keep the first version's behaviour.
    rebalance_time_of_day_s: int | None = None  # None: the schedule runs from launch
    recentering_speed_wad: int = WAD
    twap_cooldown_s: int = 0

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
    - ``collateral_decimals`` 6 (USDC); ``supply_cap`` 0 (no cap);
    - ``rebalance_time_of_day_s`` unset (the schedule's phase is the launch time);
      ``recentering_speed_wad`` 1.0 (all the way back to target); ``twap_cooldown_s`` 0
      (a capped trade continues at the next keeper tick).
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


def _rebalancing_checks(params: Params) -> list[tuple[bool, str]]:
    """The bounds of the FLI/FTX rebalancing parameters (issue 14)."""
    time_of_day = params.rebalance_time_of_day_s
    interval = params.rebalance_interval_s
    return [
        (
            time_of_day is None or 0 <= time_of_day < DAY_S,
            f"rebalance_time_of_day_s must be in [0, {DAY_S}) seconds after 00:00 UTC, got {time_of_day}",
        ),
        (
            time_of_day is None or interval <= 0 or DAY_S % interval == 0 or interval % DAY_S == 0,
            "rebalance_interval_s must divide a day or be whole days when the schedule is pinned "
            f"to a time of day (rebalance_time_of_day_s), got {interval}",
        ),
        (
            0 < params.recentering_speed_wad <= WAD,
            f"recentering_speed must be in (0, 1] as WAD, got {params.recentering_speed_wad}",
        ),
        (
            0 <= params.twap_cooldown_s <= TWAP_COOLDOWN_MAX_S,
            f"twap_cooldown_s must be in [0, {TWAP_COOLDOWN_MAX_S}], got {params.twap_cooldown_s}",
        ),
    ]


def first_schedule_after(at: int, params: Params) -> int:
    """The first scheduled rebalance strictly after ``at``: ``at + interval`` unless the
    schedule is pinned to a time of day, then the first moment after ``at`` on the grid
    ``rebalance_time_of_day_s + k × interval`` (Unix time, UTC).

    pre: params.rebalance_interval_s > 0
    post: at < __return__ <= at + params.rebalance_interval_s
    """
    interval = params.rebalance_interval_s
    if params.rebalance_time_of_day_s is None:
        return at + interval
    return at + interval - (at - params.rebalance_time_of_day_s) % interval


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
            0 < params.max_price_move_wad < WAD,
            f"max_price_move must be in (0, 1) as WAD, got {params.max_price_move_wad}",
        ),
        *_rebalancing_checks(params),
    ]
    for name, bound in PARAM_BOUNDS.items():
        problem = out_of_bounds(name, getattr(params, name), bound)
        if problem is not None:
            checks.append((False, problem))
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
# In a patch, rebalance_time_of_day_s = -1 unpins the schedule (None in ``Params``).
TIME_OF_DAY_UNPINNED = -1


def params_changes(value: Params | Iterable[tuple[str, int]]) -> ParamsChanges:
    """(name, value) pairs in name order: those given, or every field of a whole ``Params``."""
    if isinstance(value, Params):
        return tuple(
            (f.name, TIME_OF_DAY_UNPINNED if getattr(value, f.name) is None else getattr(value, f.name))
            for f in attrs.fields(Params)
        )
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
    result = attrs.evolve(params, **dict(changes))
    if result.rebalance_time_of_day_s == TIME_OF_DAY_UNPINNED:
        result = attrs.evolve(result, rebalance_time_of_day_s=None)
    return result
