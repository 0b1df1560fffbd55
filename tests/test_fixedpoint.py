"""The fixed-point arithmetic of ``domain/fixedpoint.py``: every division rounds the way it says,
checked against exact rational arithmetic (``fractions.Fraction``)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.fixedpoint import (
    BPS,
    WAD,
    bps_down,
    bps_up,
    div_floor,
    holding_value_down,
    median,
    mul_div_down,
    mul_div_up,
    signed_ratio_wad,
    units_down,
    value_down,
    value_up,
)

NON_NEGATIVE = st.integers(min_value=0, max_value=10**40)
POSITIVE = st.integers(min_value=1, max_value=10**40)
RATES_BPS = st.integers(min_value=0, max_value=BPS)
DECIMALS = st.integers(min_value=0, max_value=18)
PRICES = st.integers(min_value=1, max_value=10**30)  # up to 10^12 collateral units per unit


def exact_value(units_wad: int, price_wad: int, decimals: int) -> Fraction:
    """Collateral base units worth ``units_wad`` index units at ``price_wad``, exactly."""
    return Fraction(units_wad, WAD) * Fraction(price_wad, WAD) * 10**decimals


# mul_div ------------------------------------------------------------------------------------


@given(NON_NEGATIVE, NON_NEGATIVE, POSITIVE)
def test_mul_div_down_is_the_exact_floor_of_the_product_over_the_denominator(a, b, denominator):
    assert mul_div_down(a, b, denominator) == math.floor(Fraction(a * b, denominator))


@given(NON_NEGATIVE, NON_NEGATIVE, POSITIVE)
def test_mul_div_up_is_the_exact_ceiling_of_the_product_over_the_denominator(a, b, denominator):
    assert mul_div_up(a, b, denominator) == math.ceil(Fraction(a * b, denominator))


@given(NON_NEGATIVE, NON_NEGATIVE, POSITIVE)
def test_mul_div_up_exceeds_mul_div_down_only_when_the_division_is_inexact(a, b, denominator):
    gap = mul_div_up(a, b, denominator) - mul_div_down(a, b, denominator)
    assert gap == (0 if (a * b) % denominator == 0 else 1)


@given(st.integers(min_value=-(10**40), max_value=10**40), POSITIVE)
def test_div_floor_is_the_exact_floor_even_for_a_negative_numerator(numerator, denominator):
    assert div_floor(numerator, denominator) == math.floor(Fraction(numerator, denominator))


def test_div_floor_rounds_a_negative_third_away_from_zero():
    assert div_floor(1, 3) == 0
    assert div_floor(-1, 3) == -1


def test_mul_div_rounds_a_third_down_and_up():
    assert mul_div_down(1, 1, 3) == 0
    assert mul_div_up(1, 1, 3) == 1


# Basis points -------------------------------------------------------------------------------


@given(NON_NEGATIVE, RATES_BPS)
def test_bps_down_is_the_floor_of_the_share(amount, rate):
    assert bps_down(amount, rate) == math.floor(Fraction(amount * rate, BPS))


@given(NON_NEGATIVE, RATES_BPS)
def test_bps_up_is_the_ceiling_of_the_share(amount, rate):
    assert bps_up(amount, rate) == math.ceil(Fraction(amount * rate, BPS))


@given(NON_NEGATIVE, RATES_BPS)
def test_a_share_in_basis_points_never_exceeds_the_amount(amount, rate):
    assert 0 <= bps_down(amount, rate) <= bps_up(amount, rate) <= amount


def test_a_ten_bps_fee_on_one_base_unit_rounds_up_to_one_and_down_to_zero():
    assert bps_up(1, 10) == 1
    assert bps_down(1, 10) == 0


# Valuing index units ------------------------------------------------------------------------


@given(NON_NEGATIVE, PRICES, DECIMALS)
def test_value_up_is_the_ceiling_of_the_exact_value(units, price, decimals):
    assert value_up(units, price, decimals) == math.ceil(exact_value(units, price, decimals))


@given(NON_NEGATIVE, PRICES, DECIMALS)
def test_value_down_is_the_floor_of_the_exact_value(units, price, decimals):
    assert value_down(units, price, decimals) == math.floor(exact_value(units, price, decimals))


@given(NON_NEGATIVE, PRICES, DECIMALS)
def test_debt_valued_up_is_never_below_proceeds_valued_down(units, price, decimals):
    down, up = value_down(units, price, decimals), value_up(units, price, decimals)
    assert down <= exact_value(units, price, decimals) <= up
    assert up - down <= 1


@given(NON_NEGATIVE, PRICES, DECIMALS)
def test_units_down_is_the_floor_of_the_units_the_value_buys(value, price, decimals):
    exact_units = Fraction(value, 10**decimals) / Fraction(price, WAD) * WAD
    assert units_down(value, price, decimals) == math.floor(exact_units)


@given(NON_NEGATIVE, PRICES, DECIMALS)
def test_units_bought_down_are_never_worth_more_than_the_value_paid(value, price, decimals):
    assert value_up(units_down(value, price, decimals), price, decimals) <= value


def test_one_index_unit_at_nine_hundred_is_worth_nine_hundred_usdc():
    assert value_up(WAD, 900 * WAD, 6) == 900 * 10**6
    assert value_down(WAD, 900 * WAD, 6) == 900 * 10**6
    assert units_down(900 * 10**6, 900 * WAD, 6) == WAD


def test_a_wei_of_index_units_is_valued_at_one_base_unit_up_and_zero_down():
    assert value_up(1, 900 * WAD, 6) == 1
    assert value_down(1, 900 * WAD, 6) == 0


# Signed ratio --------------------------------------------------------------------------------


@given(st.integers(min_value=-(10**40), max_value=10**40), POSITIVE)
def test_signed_ratio_rounds_its_magnitude_away_from_zero(numerator, denominator):
    exact = Fraction(numerator * WAD, denominator)
    result = signed_ratio_wad(numerator, denominator)
    assert abs(result) == math.ceil(abs(exact))
    assert (result < 0) == (numerator < 0 and result != 0)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(1, 3, WAD // 3 + 1), (-1, 3, -(WAD // 3 + 1)), (-2, 1, -2 * WAD), (0, 7, 0)],
)
def test_signed_ratio_of_simple_fractions(numerator, denominator, expected):
    assert signed_ratio_wad(numerator, denominator) == expected


# Median --------------------------------------------------------------------------------------

VALUES = st.integers(min_value=1, max_value=10**30)


@given(st.lists(VALUES, min_size=1, max_size=5).filter(lambda v: len(v) % 2 == 1))
def test_the_median_of_an_odd_count_is_the_middle_value(values):
    assert median(tuple(values)) == sorted(values)[len(values) // 2]


@given(st.lists(VALUES, min_size=2, max_size=4).filter(lambda v: len(v) % 2 == 0))
def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two_rounded_down(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    assert median(tuple(values)) == math.floor(Fraction(ordered[middle - 1] + ordered[middle], 2))


@given(st.lists(VALUES, min_size=1, max_size=5), st.randoms())
def test_the_median_does_not_depend_on_the_order_of_the_reports(values, random):
    shuffled = list(values)
    random.shuffle(shuffled)
    assert median(tuple(shuffled)) == median(tuple(values))


@given(st.lists(VALUES, min_size=1, max_size=5))
def test_the_median_lies_between_the_smallest_and_largest_value(values):
    assert min(values) <= median(tuple(values)) <= max(values)


def test_the_median_of_a_single_value_is_that_value():
    assert median((42 * WAD,)) == 42 * WAD


def test_the_median_of_two_values_one_apart_rounds_down():
    assert median((3, 4)) == 3


def test_the_median_of_three_values_ignores_the_outlier():
    assert median((60_000 * WAD, 1, 61_000 * WAD)) == 60_000 * WAD


@given(NON_NEGATIVE, NON_NEGATIVE, DECIMALS)
def test_a_holding_is_valued_rounding_down_to_the_base_unit(tokens, nav, decimals):
    exact = Fraction(tokens * nav * 10**decimals, WAD * WAD)
    assert holding_value_down(tokens, nav, decimals) == math.floor(exact)


def test_a_holding_is_valued_at_its_nav_per_whole_token():
    # 2.5 tokens at NAV 1.2 USDC per token (6 decimals) are worth 3 USDC; a dust holding of
    # 1 base token unit at that NAV is worth less than one base unit of USDC: nothing.
    assert holding_value_down(5 * WAD // 2, 12 * WAD // 10, 6) == 3 * 10**6
    assert holding_value_down(1, 12 * WAD // 10, 6) == 0
