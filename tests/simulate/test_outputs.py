"""``iit simulate`` end to end: the files it writes hold what they say, a seed replays a
run exactly, a TOML file configures it, real prices run, and a store gets a clean log."""

from __future__ import annotations

import base64
import csv
import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.audit.report import audit
from adapters.cli import main
from adapters.simulate.outputs import CSV_COLUMNS
from adapters.simulate.sample_data import stocks_csv
from adapters.store.node import Node

SMALL_GBM = ["--days", "3", "--steps-per-day", "24", "--components", "BTC,ETH", "--quiet"]
POLICIES = ("daily", "band", "band+ripcord", "every-1h")


def simulate(*args: str) -> str:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def read_rows(out: Path) -> list[dict[str, str]]:
    with (out / "path.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_has_a_row_per_policy_and_step_with_each_rebalance_and_its_reason(tmp_path):
    output = simulate(*SMALL_GBM, "--seed", "5", "--out", str(tmp_path))
    rows = read_rows(tmp_path)
    assert tuple(rows[0]) == CSV_COLUMNS
    assert Counter(r["policy"] for r in rows) == dict.fromkeys(POLICIES, 3 * 24 + 1)
    reasons = Counter(
        (r["policy"], reason) for r in rows for reason in r["rebalance_reasons"].split(";") if reason
    )
    # The daily reset trades once a day, the hourly one every hour, on schedule.
    assert reasons[("daily", "schedule")] == 3
    assert reasons[("every-1h", "schedule")] == 72
    assert {reason for _, reason in reasons} <= {"schedule", "band", "ripcord", "continuation"}
    for row in rows:
        reasons_here = [x for x in row["rebalance_reasons"].split(";") if x]
        costs = [x for x in row["rebalance_costs"].split(";") if x]
        assert len(costs) == len(reasons_here)
        assert all(int(c) >= 0 for c in costs)  # base units
        for after in filter(None, row["leverage_after"].split(";")):
            # Back to target; the trade's execution cost (10 bps) lowers equity after sizing it.
            assert float(after) == pytest.approx(-1.0, abs=1e-3)
        assert int(row["equity"]) > 0
        assert float(row["index"]) > 0
    # Execution cost defaults to 10 bps: the hourly policy pays for its 72 trades.
    hourly_costs = sum(
        int(c) for r in rows if r["policy"] == "every-1h" for c in r["rebalance_costs"].split(";") if c
    )
    assert hourly_costs > 0
    assert "Avellaneda-Zhang" in output


def test_html_report_embeds_the_plot_and_tabulates_every_policy_against_the_closed_form(tmp_path):
    simulate(*SMALL_GBM, "--frictionless", "--seed", "5", "--out", str(tmp_path))
    page = (tmp_path / "report.html").read_text()
    png = (tmp_path / "nav.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert embedded is not None
    assert base64.b64decode(embedded.group(1)) == png
    assert 'href="path.csv"' in page
    for policy in POLICIES:
        assert f"<th>{policy.replace('+', '+')}<br>" in page
    for metric in (
        "final NAV",
        "closed form (Avellaneda-Zhang)",
        "daily product",
        "reference: Π(1 + L_i·r_i) over its rebalances",
        "volatility decay, measured",
        "max drawdown",
        "rebalances",
        "rebalance cost",
        "worst |leverage| reached",
    ):
        assert metric in page
    # The table's final NAV is the CSV's last relative NAV of each policy.
    rows = read_rows(tmp_path)
    last = {r["policy"]: r for r in rows}
    table_row = re.search(r"<tr><th>final NAV \(start = 1\)</th>(.*?)</tr>", page)
    assert table_row is not None
    cells = re.findall(r"<td>([^<]*)</td>", table_row.group(1))
    assert cells == [f"{float(last[p]['nav_relative']):.6f}" for p in POLICIES]
    # Frictionless with a daily reset: the measured NAV is the discrete daily product.
    product_row = re.search(r"<tr><th>daily product[^<]*</th>(.*?)</tr>", page)
    assert product_row is not None
    assert re.findall(r"<td>([^<]*)</td>", product_row.group(1))[0] == cells[0]


def test_a_seed_reproduces_a_run_exactly_and_another_seed_does_not(tmp_path):
    first, again, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(*SMALL_GBM, "--seed", "11", "--out", str(first))
    simulate(*SMALL_GBM, "--seed", "11", "--out", str(again))
    simulate(*SMALL_GBM, "--seed", "12", "--out", str(other))
    assert (first / "path.csv").read_bytes() == (again / "path.csv").read_bytes()
    assert (first / "path.csv").read_bytes() != (other / "path.csv").read_bytes()


def test_a_toml_file_sets_the_options_and_flags_override_it(tmp_path):
    config = tmp_path / "backtest.toml"
    config.write_text(
        'days = 2\nsteps_per_day = 4\npolicy = ["daily", "every-6h"]\ntarget_leverage = "-2"\nseed = 3\n'
    )
    simulate("--config", str(config), "--days", "1", "--quiet", "--out", str(tmp_path / "out"))
    rows = read_rows(tmp_path / "out")
    assert Counter(r["policy"] for r in rows) == {"daily": 5, "every-6h": 5}
    assert float(rows[0]["leverage"]) == pytest.approx(-2.0)


def test_real_daily_prices_from_the_shipped_history_run_and_follow_the_daily_product(tmp_path):
    """AAPL and MSFT adjusted closes of 2008-2009 (bokeh-sampledata), an equal-weighted
    index, a frictionless daily reset: the NAV is the discrete daily product."""
    prices = tmp_path / "prices.csv"
    prices.write_text(stocks_csv(("AAPL", "MSFT"), start="2008-01-01", end="2009-12-31"))
    days = len(prices.read_text().splitlines()) - 1
    assert days > 490  # two years of trading days
    output = simulate(
        "--prices-csv", str(prices), "--policy", "daily", "--policy", "band+ripcord",
        "--frictionless", "--quiet", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    rows = read_rows(tmp_path / "out")
    assert Counter(r["policy"] for r in rows) == {"daily": days, "band+ripcord": days}
    assert rows[0]["time"] == "2008-01-02T00:00:00Z"
    assert "CSV prices.csv" in output
    table = {line.split("  ")[0]: line.split()[-2:] for line in output.splitlines() if "  " in line}
    final = table["final NAV (start = 1)"][0]
    assert final == table["daily product Π(1 + L·r), daily samples"][0]
    assert final == table["reference: Π(1 + L_i·r_i) over its rebalances"][0]


@pytest.mark.parametrize("constant", [False, True], ids=["csv-column", "flag"])
def test_funding_from_a_csv_column_or_a_flag_is_charged_to_the_vault(tmp_path, constant):
    prices = tmp_path / "prices.csv"
    header, rate = ("timestamp,X", "") if constant else ("timestamp,X,funding", ",0.10")
    lines = [header] + [f"2024-01-{d:02d},100{rate}" for d in range(1, 11)]
    prices.write_text("\n".join(lines) + "\n")
    flag = ["--funding-rate", "0.10"] if constant else []
    simulate(
        "--prices-csv",
        str(prices),
        "--policy",
        "daily",
        "--frictionless",
        "--quiet",
        "--out",
        str(tmp_path),
        *flag,
    )
    rows = read_rows(tmp_path)
    paid = sum(int(r["funding_paid"]) for r in rows)
    # 10 %/yr on the notional, −1× of equity, reset daily: equity × (1 − 0.10/365) a day.
    equity = 1_000_000 * 10**6
    assert paid == pytest.approx(equity * (1 - (1 - 0.10 / 365) ** 9), rel=1e-6)
    assert float(rows[-1]["nav"]) < 1.0


def test_a_store_run_writes_a_log_the_audit_finds_clean_and_refuses_to_reuse_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    args = ["--days", "1", "--steps-per-day", "24", "--policy", "band+ripcord", "--quiet", "--store", url]
    simulate(*args, "--out", str(tmp_path / "out"))
    report = audit(Node.open(url), None)
    assert report.ok, report.findings[:3]
    assert report.products == 1
    assert report.events_checked > 24
    again = CliRunner().invoke(main, ["simulate", *args, "--out", str(tmp_path / "out2")])
    assert again.exit_code != 0
    assert "already holds run" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--band-high", "1.6"], "band_high must be in"),
        (["--target-leverage", "-4"], "target_leverage must be between"),
        (["--policy", "weekly"], "unknown policy 'weekly'"),
        (["--steps-per-day", "7"], "steps_per_day must divide 86400"),
        (["--path", "csv"], "--path csv needs --prices-csv"),
    ],
)
def test_bad_settings_are_refused_with_what_was_wrong(tmp_path, args, message):
    result = CliRunner().invoke(main, ["simulate", "--days", "1", "--quiet", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "path.csv").exists()
