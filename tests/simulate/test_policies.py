"""Policies are mappings onto Params that the launch rule accepts."""

from __future__ import annotations

import attrs
import pytest

from adapters.simulate.policies import CENTURY_S, PolicyError, parse_policy, widest_ripcord_wad
from domain.errors import InvalidParameters
from domain.fixedpoint import WAD
from domain.params import default_params, validate_params


@pytest.mark.parametrize("leverage", [-1, -2, -3])
@pytest.mark.parametrize("name", ["daily", "band", "band+ripcord", "every-1h", "every-8h"])
def test_every_policy_gives_parameters_the_domain_accepts(name, leverage):
    base = default_params(leverage * WAD)
    params = parse_policy(name).params(base)
    validate_params(params)
    assert params.target_leverage_wad == base.target_leverage_wad
    assert params.execution_cost_bps == base.execution_cost_bps


def test_policies_set_the_schedule_band_and_ripcord_they_name():
    base = default_params(-2 * WAD)
    daily = parse_policy("daily").params(base)
    assert daily.rebalance_interval_s == 86_400
    assert daily.band_low_wad == 1
    assert daily.band_high_wad == base.ripcord_leverage_wad - 1
    assert parse_policy("every-4h").params(base).rebalance_interval_s == 4 * 3_600
    band_ripcord = parse_policy("band+ripcord").params(base)
    assert band_ripcord.rebalance_interval_s == CENTURY_S
    assert (band_ripcord.band_low_wad, band_ripcord.band_high_wad) == (base.band_low_wad, base.band_high_wad)
    assert band_ripcord.ripcord_leverage_wad == base.ripcord_leverage_wad
    band = parse_policy("band").params(base)
    assert band.ripcord_leverage_wad == widest_ripcord_wad(base) > base.ripcord_leverage_wad


def test_the_widest_ripcord_is_the_launch_rules_limit():
    base = default_params(-WAD)
    widest = widest_ripcord_wad(base)
    validate_params(attrs.evolve(base, ripcord_leverage_wad=widest))
    with pytest.raises(InvalidParameters, match="ripcord"):
        validate_params(attrs.evolve(base, ripcord_leverage_wad=widest + 1))


@pytest.mark.parametrize("name", ["weekly", "every-0h", "every-1d", ""])
def test_unknown_policies_are_refused(name):
    with pytest.raises(PolicyError, match="unknown policy"):
        parse_policy(name)
