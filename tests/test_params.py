"""Product parameters (``domain/params.py``): the documented defaults, every bound of
``validate_params``, the launch solvency rule, and the checks of ``LaunchProduct``."""

from __future__ import annotations

import math
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import commands as cmd
from domain import events as ev
from domain.decide import decide
from domain.errors import (
    InvalidArgument,
    InvalidComponents,
    InvalidParameters,
    ProductAlreadyExists,
    ProductNotFound,
)
from domain.fixedpoint import BPS, WAD
from domain.model import Component
from domain.params import Params, default_params, is_insolvency_impossible, validate_params
from tests.support import DEFAULT_COMPONENTS, USDC, Scenario, launched, minted

NOW = 1_700_000_000


def with_(**changes: int) -> Params:
    return attrs.evolve(default_params(), **changes)


# Defaults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [-1, -2, -3])
def test_the_default_parameters_are_valid_for_each_allowed_target(target):
    params = default_params(target * WAD)
    validate_params(params)
    assert params.target_leverage_wad == target * WAD
    assert params.target_magnitude_wad == -target * WAD


@pytest.mark.parametrize("target", [-1, -2, -3])
def test_the_default_band_and_ripcord_scale_with_the_target(target):
    params = default_params(target * WAD)
    magnitude = Fraction(-target)
    assert Fraction(params.band_low_wad, WAD) == magnitude * Fraction(8, 10)
    assert Fraction(params.band_high_wad, WAD) == magnitude * Fraction(12, 10)
    assert Fraction(params.ripcord_leverage_wad, WAD) == magnitude * Fraction(3, 2)


# Each bound ---------------------------------------------------------------------------------

BAD_FIELDS = [
    ("target_leverage_wad", -4 * WAD, "target_leverage"),
    ("target_leverage_wad", -3 * WAD - 1, "target_leverage"),
    ("target_leverage_wad", -WAD + 1, "target_leverage"),
    ("target_leverage_wad", WAD, "target_leverage"),
    ("band_low_wad", 0, "band_low"),
    ("band_low_wad", -1, "band_low"),
    ("band_low_wad", WAD, "band_low"),  # equal to |target|
    ("band_low_wad", WAD + 1, "band_low"),
    ("band_high_wad", WAD, "band_high"),  # equal to |target|
    ("band_high_wad", WAD - 1, "band_high"),
    ("band_high_wad", WAD * 3 // 2, "band_high"),  # equal to the ripcord
    ("band_high_wad", 2 * WAD, "band_high"),
    ("rebalance_interval_s", 0, "rebalance_interval_s"),
    ("rebalance_interval_s", -1, "rebalance_interval_s"),
    ("max_trade_notional", -1, "max_trade_notional"),
    ("mint_fee_bps", 1_001, "mint_fee_bps"),
    ("mint_fee_bps", -1, "mint_fee_bps"),
    ("redeem_fee_bps", 1_001, "redeem_fee_bps"),
    ("redeem_fee_bps", -1, "redeem_fee_bps"),
    ("streaming_fee_bps", 1_001, "streaming_fee_bps"),
    ("streaming_fee_bps", -1, "streaming_fee_bps"),
    ("execution_cost_bps", 1_001, "execution_cost_bps"),
    ("execution_cost_bps", -1, "execution_cost_bps"),
    ("max_oracle_age_s", 0, "max_oracle_age_s"),
    ("max_oracle_age_s", -3_600, "max_oracle_age_s"),
    ("max_price_move_wad", 0, "max_price_move"),
    ("max_price_move_wad", WAD, "max_price_move"),
    ("max_price_move_wad", 2 * WAD, "max_price_move"),
    ("oracle_quorum", 0, "oracle_quorum"),
    ("oracle_quorum", 65, "oracle_quorum"),
    ("collateral_decimals", 19, "collateral_decimals"),
    ("collateral_decimals", -1, "collateral_decimals"),
    ("supply_cap", -1, "supply_cap"),
]


@pytest.mark.parametrize(("field", "value", "named"), BAD_FIELDS)
def test_a_parameter_outside_its_bound_is_rejected_naming_the_field(field, value, named):
    with pytest.raises(InvalidParameters, match=named):
        validate_params(with_(**{field: value}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mint_fee_bps", 1_000),
        ("redeem_fee_bps", 0),
        ("streaming_fee_bps", 1_000),
        ("oracle_quorum", 64),
        ("collateral_decimals", 18),
        ("collateral_decimals", 0),
        ("max_trade_notional", 0),
        ("supply_cap", 0),
        ("max_oracle_age_s", 1),
        ("rebalance_interval_s", 1),
    ],
)
def test_a_parameter_on_the_edge_of_its_bound_is_accepted(field, value):
    validate_params(with_(**{field: value}))


def test_a_launch_with_invalid_parameters_creates_nothing():
    scenario = Scenario()
    with pytest.raises(InvalidParameters, match="oracle_quorum"):
        scenario.run(cmd.LaunchProduct("IIT-1", DEFAULT_COMPONENTS, with_(oracle_quorum=0)))
    assert scenario.state is None
    assert scenario.decisions == []


# The solvency launch rule ---------------------------------------------------------------------


def params_for(ripcord_wad: int, move_wad: int, cost_bps: int) -> Params:
    """Valid in every bound but the solvency rule: target −1, band [0.8, 1.2]."""
    return with_(ripcord_leverage_wad=ripcord_wad, max_price_move_wad=move_wad, execution_cost_bps=cost_bps)


def solvency_product(ripcord_wad: int, move_wad: int, cost_bps: int) -> Fraction:
    return Fraction(ripcord_wad, WAD) * Fraction(move_wad, WAD) * (1 + Fraction(cost_bps, BPS))


def boundary_move(ripcord_wad: int, cost_bps: int) -> int:
    """The smallest move (WAD) at which ripcord × move × (1 + cost) reaches 1."""
    return math.ceil(Fraction(WAD * WAD * BPS, ripcord_wad * (BPS + cost_bps)))


def test_a_product_exactly_at_one_is_rejected():
    # ripcord 2 × move 0.5 × (1 + 0) = 1 exactly.
    assert solvency_product(2 * WAD, WAD // 2, 0) == 1
    with pytest.raises(InvalidParameters, match="must be < 1"):
        validate_params(params_for(2 * WAD, WAD // 2, 0))


def test_a_product_one_wei_under_one_is_accepted():
    assert solvency_product(2 * WAD, WAD // 2 - 1, 0) < 1
    validate_params(params_for(2 * WAD, WAD // 2 - 1, 0))


@pytest.mark.parametrize(("ripcord_wad", "cost_bps"), [(WAD * 3 // 2, 10), (2 * WAD, 1_000), (5 * WAD, 7)])
def test_the_solvency_boundary_move_is_rejected_and_one_wei_less_is_accepted(ripcord_wad, cost_bps):
    move = boundary_move(ripcord_wad, cost_bps)
    assert (
        solvency_product(ripcord_wad, move, cost_bps) >= 1 > solvency_product(ripcord_wad, move - 1, cost_bps)
    )
    with pytest.raises(InvalidParameters, match="ripcord_leverage x max_price_move"):
        validate_params(params_for(ripcord_wad, move, cost_bps))
    validate_params(params_for(ripcord_wad, move - 1, cost_bps))


@given(
    st.integers(min_value=WAD * 12 // 10 + 1, max_value=20 * WAD),
    st.integers(min_value=1, max_value=WAD - 1),
    st.integers(min_value=0, max_value=1_000),
)
def test_a_product_launches_exactly_when_ripcord_times_move_times_one_plus_cost_is_under_one(
    ripcord_wad, move_wad, cost_bps
):
    params = params_for(ripcord_wad, move_wad, cost_bps)
    insolvency_impossible = solvency_product(ripcord_wad, move_wad, cost_bps) < 1
    assert is_insolvency_impossible(params) == insolvency_impossible
    if insolvency_impossible:
        validate_params(params)
    else:
        with pytest.raises(InvalidParameters, match="must be < 1"):
            validate_params(params)


# LaunchProduct --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "product_id", ["", " ", "has space", "-leading-dash", ".dot", "x" * 65, "ünï", "a/b"]
)
def test_a_launch_with_a_malformed_product_id_is_rejected(product_id):
    with pytest.raises(InvalidArgument, match="product_id"):
        decide(None, cmd.LaunchProduct(product_id, DEFAULT_COMPONENTS, default_params()), NOW)


@pytest.mark.parametrize("product_id", ["X", "IIT-1", "iit_btc.eth-3x", "x" * 64])
def test_a_launch_with_a_well_formed_product_id_is_accepted(product_id):
    events = decide(None, cmd.LaunchProduct(product_id, DEFAULT_COMPONENTS, default_params()), NOW)
    assert events == [
        ev.ProductLaunched(
            at=NOW, product_id=product_id, components=DEFAULT_COMPONENTS, params=default_params()
        )
    ]


@pytest.mark.parametrize(
    ("components", "message"),
    [
        ((), "at least one component"),
        ((Component("BTC", WAD), Component("BTC", 2 * WAD)), "appears twice"),
        ((Component("BTC", 0),), "must be positive"),
        ((Component("BTC", WAD), Component("ETH", -1)), "must be positive"),
        ((Component("", WAD),), "symbol"),
        ((Component("BT C", WAD),), "symbol"),
        (tuple(Component(f"S{i}", WAD) for i in range(65)), "at most 64"),
    ],
)
def test_a_launch_with_invalid_components_is_rejected(components, message):
    with pytest.raises(InvalidComponents, match=message):
        decide(None, cmd.LaunchProduct("IIT-1", components, default_params()), NOW)


def test_a_second_launch_of_the_same_product_is_rejected():
    scenario = launched()
    before = scenario.product
    with pytest.raises(ProductAlreadyExists, match="IIT-1"):
        scenario.run(cmd.LaunchProduct("IIT-1", (Component("SOL", WAD),), default_params(-2 * WAD)))
    assert scenario.product == before


@pytest.mark.parametrize(
    "command",
    [
        cmd.ReportPrice("BTC", WAD, NOW, "r1"),
        cmd.ReportFundingRate(0),
        cmd.Mint("alice", USDC, 0),
        cmd.Redeem("alice", WAD, 0),
        cmd.Transfer("alice", "bob", WAD),
        cmd.Rebalance(),
        cmd.Tick(),
        cmd.Pause(),
        cmd.Resume(),
        cmd.UpdateParameters(default_params()),
        cmd.ResolveHalt(accept=True),
        cmd.ReconstituteIndex((Component("BTC", WAD),), ()),
        cmd.SettleProduct(),
    ],
    ids=lambda c: type(c).__name__,
)
def test_a_command_on_a_product_never_launched_is_not_found(command):
    with pytest.raises(ProductNotFound):
        decide(None, command, NOW)


# UpdateParameters is a patch ------------------------------------------------------------------


def test_an_update_sets_only_its_fields_on_the_parameters_the_product_has_when_decided():
    scenario = minted()
    scenario.run(cmd.UpdateParameters((("redeem_fee_bps", 40),)))
    [updated] = [
        e
        for e in scenario.run(cmd.UpdateParameters((("mint_fee_bps", 30),)))
        if isinstance(e, ev.ParametersUpdated)
    ]
    assert updated.params == attrs.evolve(default_params(), mint_fee_bps=30, redeem_fee_bps=40)
    assert cmd.UpdateParameters((("mint_fee_bps", 30),)) == cmd.UpdateParameters([("mint_fee_bps", 30)])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ((("mint_fee", 30),), "no such parameter: mint_fee"),
        ((("mint_fee_bps", 30), ("mint_fee_bps", 31)), "set twice"),
    ],
)
def test_an_update_naming_no_parameter_or_one_twice_is_rejected(changes, message):
    scenario = minted()
    before = scenario.product
    with pytest.raises(InvalidParameters, match=message):
        scenario.run(cmd.UpdateParameters(changes))
    assert scenario.product == before
