"""``iit simulate`` against FLI and FTX (issue 14): the presets, policies that follow the
product's parameters in any combination, and the report's fixes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from adapters.cli import main
from adapters.simulate.outputs import summary_rows, text_table
from adapters.simulate.paths import alternating_path, gbm_path
from adapters.simulate.policies import parse_policy
from adapters.simulate.presets import FTX_RESET_TIME_OF_DAY_S, preset_params
from adapters.simulate.summary import summarise
from domain.fixedpoint import WAD
from domain.params import default_params
from tests.simulate.helpers import frictionless, run

DAY = 86_400


def simulate(*args: str) -> str:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_fli_preset_is_the_issues_product() -> None:
    params = preset_params("fli", default_params())
    assert (params.band_low_wad, params.band_high_wad) == (8 * WAD // 10, 12 * WAD // 10)
    assert params.rebalance_interval_s == 4 * 3600
    assert params.recentering_speed_wad < WAD
    assert params.max_trade_notional == 250_000 * 10**6
    assert params.twap_cooldown_s > 0
    assert (params.streaming_fee_bps, params.mint_fee_bps, params.redeem_fee_bps) == (195, 10, 10)


def test_the_ftx_preset_resets_at_0002_and_trades_intraday_at_133_percent() -> None:
    params = preset_params("ftx", default_params(-3 * WAD))
    assert params.rebalance_time_of_day_s == FTX_RESET_TIME_OF_DAY_S == 120
    assert params.rebalance_interval_s == DAY
    assert params.band_high_wad == 3 * WAD * 133 // 100


def test_ftx_resets_land_at_0002_on_an_hourly_path() -> None:
    path = gbm_path(["IDX"], [100.0], 0.0, 0.6, 4, 24, 3, 0.0)
    result = run(path, frictionless(-1), "ftx")
    scheduled = [n for row in result.rows for n in row.rebalances if n.reason == "schedule"]
    assert len(scheduled) >= 3
    assert {n.at % DAY for n in scheduled} == {FTX_RESET_TIME_OF_DAY_S}


def test_fli_twap_chunks_run_between_the_steps_of_the_path() -> None:
    """A 250,000 cap on 10,000,000: a band trade continues in chunks 300 s apart, between
    two hourly prices, not at the next price."""
    path = alternating_path("IDX", 100.0, 9.0, 2, 24)  # ±~10 % an hour: the band breaks
    result = run(path, frictionless(-1), "fli", mint=10_000_000 * 10**6)
    notes = [n for row in result.rows for n in row.rebalances]
    chunks = [n for n in notes if n.reason == "continuation"]
    assert chunks
    assert {n.at % 3600 for n in chunks} - {0} != set()  # between the hourly steps
    assert all(n.notional <= 250_000 * 10**6 for n in notes if n.reason != "ripcord")


@pytest.mark.parametrize("policy", ["daily+band", "every-4h+band", "product"])
def test_combined_policies_keep_both_schedule_and_band(policy: str) -> None:
    base = attrs.evolve(default_params(), recentering_speed_wad=WAD // 2, rebalance_interval_s=6 * 3600)
    params = parse_policy(policy).params(base)
    assert (params.band_low_wad, params.band_high_wad) == (base.band_low_wad, base.band_high_wad)
    assert params.recentering_speed_wad == WAD // 2
    assert (
        params.rebalance_interval_s
        == {"daily+band": DAY, "every-4h+band": 4 * 3600, "product": 6 * 3600}[policy]
    )


def test_the_reference_over_its_own_rebalances_is_the_frictionless_nav() -> None:
    """Hourly resets on an hourly path: the daily product is not the reference, the
    product over the policy's own rebalances is, to the base unit's rounding."""
    path = gbm_path(["IDX"], [100.0], 0.0, 0.8, 5, 24, 11, 0.0)
    for policy in ("every-1h", "band+ripcord", "daily"):
        summary = summarise(run(path, frictionless(-1), policy))
        assert summary.own_steps_product == pytest.approx(summary.final_nav, rel=1e-9), policy


def test_the_lower_panel_shows_leverage_before_trading_below_one_too() -> None:
    path = gbm_path(["IDX"], [100.0], 0.0, 0.8, 5, 24, 11, 0.0)
    result = run(path, frictionless(-1), "every-1h")
    before = [row.worst_leverage_wad for row in result.rows[1:]]
    assert min(before) < WAD < max(before)  # a falling index lowers |leverage| of −1×


def test_a_schedule_shorter_than_the_paths_step_is_flagged(tmp_path: Path) -> None:
    csv_file = tmp_path / "daily.csv"
    rows = ["timestamp,IDX"] + [f"{1_600_000_000 + k * DAY},{100 + (k % 3)}" for k in range(10)]
    csv_file.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "--prices-csv",
            str(csv_file),
            "--policy",
            "every-1h",
            "--policy",
            "daily",
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "note (every-1h)" in result.output
    assert "note (daily)" not in result.output


def test_the_report_names_the_leverage_and_each_policys_own_knobs(tmp_path: Path) -> None:
    output = simulate(
        "--days",
        "2",
        "--steps-per-day",
        "24",
        "--quiet",
        "--policy",
        "fli",
        "--policy",
        "ftx",
        "--policy",
        "band",
        "--out",
        str(tmp_path),
    )
    assert "every 1 d at 00:02 UTC" in output
    assert "every 4 h from launch" in output
    assert "reference: Π(1 + L_i·r_i)" in output
    page = (tmp_path / "report.html").read_text()
    settings = page.split("<h2>Settings</h2>")[1]
    assert "band_low" not in settings
    assert "rebalance_interval_s" not in settings
    assert "recentering_speed" in settings
    with (tmp_path / "path.csv").open() as handle:
        policies = {row["policy"] for row in csv.DictReader(handle)}
    assert policies == {"fli", "ftx", "band"}


def test_the_plot_title_says_minus_one_times(tmp_path: Path) -> None:
    from adapters.simulate import outputs  # noqa: PLC0415

    assert outputs.leverage_label(1.0) == "\u22121\u00d7"
    assert outputs.leverage_label(3.0) == "\u22123\u00d7"


def test_preset_flag_launches_with_the_preset_and_flags_still_win(tmp_path: Path) -> None:
    output = simulate(
        "--preset",
        "fli",
        "--days",
        "1",
        "--steps-per-day",
        "24",
        "--quiet",
        "--streaming-fee-bps",
        "50",
        "--out",
        str(tmp_path),
    )
    assert re.search(r"^policy\s+fli\s*$", output, re.MULTILINE)
    page = (tmp_path / "report.html").read_text()
    assert "<th>streaming_fee_bps</th><td>50</td>" in page
    assert "<th>twap_cooldown_s</th><td>300</td>" in page


def test_the_text_table_lists_recentering_and_twap() -> None:
    path = gbm_path(["IDX"], [100.0], 0.0, 0.5, 1, 24, 1, 0.0)
    summaries = [summarise(run(path, frictionless(-1), "fli"))]
    labels = [label for label, _ in summary_rows(summaries)]
    assert "recentering speed" in labels
    assert "TWAP" in labels
    assert "0.5" in text_table(summaries)
