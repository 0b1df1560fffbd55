"""The pure formulas of SPEC §6 and the report's statistics."""

from __future__ import annotations

import math

import pytest

from adapters.simulate import closed_form as cf


def test_avellaneda_zhang_for_minus_one_is_the_inverse_times_exp_minus_variance():
    # SPEC §6: for L = −1, (S_0/S_T) · exp(−σ²T).
    assert cf.avellaneda_zhang(100.0, 125.0, -1.0, 0.64) == pytest.approx(100 / 125 * math.exp(-0.64))


def test_volatility_decay_reference_values_for_eighty_percent_over_a_year():
    variance = 0.8**2
    assert cf.volatility_decay_factor(-1.0, variance) == pytest.approx(0.527, abs=5e-4)
    assert cf.volatility_decay_factor(-2.0, variance) == pytest.approx(0.147, abs=5e-4)
    assert cf.volatility_decay_factor(-3.0, variance) == pytest.approx(0.0215, abs=5e-5)


def test_realised_variance_of_alternating_moves_is_n_times_the_square():
    prices = [100.0 * math.exp(0.01 * (k % 2)) for k in range(11)]
    assert cf.realised_variance(prices) == pytest.approx(10 * 0.01**2)


def test_discrete_product_compounds_leveraged_simple_returns_and_stops_at_zero():
    assert cf.discrete_product([100.0, 110.0, 99.0], -1.0) == pytest.approx(0.9 * 1.1)
    assert cf.discrete_product([100.0, 160.0, 100.0], -2.0) == 0.0


def test_max_drawdown_is_the_largest_fall_from_a_running_peak():
    assert cf.max_drawdown([1.0, 2.0, 1.0, 1.5, 0.5, 3.0]) == pytest.approx(0.75)
    assert cf.max_drawdown([1.0, 1.1, 1.2]) == 0.0


def test_standard_error_is_sample_deviation_over_root_n():
    mean, error = cf.mean_and_standard_error([1.0, 3.0])
    assert mean == 2.0
    assert error == pytest.approx(math.sqrt(2.0) / math.sqrt(2.0))
