"""The outputs of a backtest: a CSV of every step, a PNG of NAV against the index and
the naive inverse (rebalances marked), an HTML report, and a text table for the terminal.
"""

from __future__ import annotations

import base64
import csv
import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.ticker as mticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adapters.simulate.paths import PricePath
from adapters.simulate.policies import CENTURY_S
from adapters.simulate.runner import PolicyRun
from adapters.simulate.summary import Summary, index_series, nav_series
from domain.fixedpoint import WAD

CSV_COLUMNS = (
    "policy",
    "time",
    "unix_time",
    "index",
    "nav",
    "nav_relative",
    "naive_inverse",
    "leverage",
    "worst_leverage",
    "equity",
    "funding_paid",
    "circuit_breaker",
    "status",
    "rebalance_reasons",
    "rebalance_sides",
    "rebalance_notionals",
    "rebalance_costs",
    "leverage_before",
    "leverage_after",
)
SCHEDULE_MARKERS_MAX = 120  # past this many, scheduled resets are not marked one by one


def decimal(value: int, decimals: int) -> str:
    """An integer with ``decimals`` implied decimals as an exact plain decimal string."""
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**decimals)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(fraction).rjust(decimals, '0')}"


def iso(unix_time: int) -> str:
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_csv(runs: Sequence[PolicyRun], destination: Path) -> None:
    """One row per policy and step. Prices, NAV and leverage are exact decimals (from WAD);
    equity, funding and rebalance amounts are collateral base units; several rebalances in
    one step are listed in order, separated by ``;``."""
    with destination.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for run in runs:
            magnitude = -run.params.target_leverage_wad / WAD
            first_index = run.rows[0].index_price_wad
            navs = nav_series(run)
            for row, nav_relative in zip(run.rows, navs, strict=True):
                notes = row.rebalances
                writer.writerow(
                    (
                        run.policy.name,
                        iso(row.time),
                        row.time,
                        decimal(row.index_price_wad, 18),
                        decimal(row.nav_wad, 18),
                        f"{nav_relative:.12g}",
                        f"{(first_index / row.index_price_wad) ** magnitude:.12g}",
                        decimal(row.leverage_wad, 18) if row.leverage_wad is not None else "",
                        decimal(row.worst_leverage_wad, 18),
                        row.equity,
                        row.funding_paid,
                        int(row.circuit_breaker),
                        row.status,
                        ";".join(n.reason for n in notes),
                        ";".join(n.side for n in notes),
                        ";".join(str(n.notional) for n in notes),
                        ";".join(str(n.execution_cost) for n in notes),
                        ";".join(decimal(n.leverage_before_wad, 18) for n in notes),
                        ";".join(decimal(n.leverage_after_wad, 18) for n in notes),
                    )
                )


def plot(runs: Sequence[PolicyRun], path: PricePath, destination: Path) -> None:
    """NAV per policy against the index and the naive inverse (top, log scale) and the
    |leverage| each policy reached (bottom); rebalances other than scheduled resets are
    marked, and scheduled resets too when there are few of them."""
    # A Figure on the Agg canvas, without pyplot: no display, no global figure state.
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    first = runs[0]
    times = [datetime.fromtimestamp(row.time, UTC) for row in first.rows]
    index = index_series(first)
    magnitude = -first.params.target_leverage_wad / WAD
    top.plot(times, [s / index[0] for s in index], color="0.55", lw=1.1, label="index (relative)")
    naive = [(index[0] / s) ** magnitude for s in index]
    label = "naive 1/index" if magnitude == 1 else f"naive (1/index)^{magnitude:g}"
    top.plot(times, naive, color="0.2", lw=1.1, ls="--", label=label)
    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for number, run in enumerate(runs):
        colour = colours[number % len(colours)]
        run_times = [datetime.fromtimestamp(row.time, UTC) for row in run.rows]
        navs = nav_series(run)
        scheduled = sum(n.reason == "schedule" for row in run.rows for n in row.rebalances)
        show_schedule = scheduled <= SCHEDULE_MARKERS_MAX
        note = "" if show_schedule else f" ({scheduled} scheduled resets not dotted)"
        top.plot(run_times, navs, color=colour, lw=1.3, label=f"NAV: {run.policy.name}{note}")
        marked = [
            (t, v)
            for t, v, row in zip(run_times, navs, run.rows, strict=True)
            if any(show_schedule or n.reason != "schedule" for n in row.rebalances)
        ]
        if marked:
            top.scatter(
                [t for t, _ in marked], [v for _, v in marked], s=14, color=colour, marker="o", zorder=3
            )
        bottom.plot(run_times, [row.worst_leverage_wad / WAD for row in run.rows], color=colour, lw=0.9)
    bottom.axhline(magnitude, color="0.2", lw=0.8, ls=":")
    top.set_yscale("log")
    plain = mticker.FuncFormatter(lambda value, _position: f"{value:g}")
    top.yaxis.set_major_formatter(plain)
    top.yaxis.set_minor_formatter(plain)
    top.set_ylabel("value (start = 1, log scale)")
    title = f"{leverage_label(magnitude)} inverse: NAV against the index — {path.description}"
    top.set_title(title, fontsize=10)
    top.legend(loc="best", fontsize=8, title="dots: rebalances", title_fontsize=8)
    top.grid(alpha=0.3, which="both")
    bottom.set_ylabel("|leverage| before trading")
    bottom.grid(alpha=0.3)
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    figure.savefig(destination, dpi=110)


def leverage_label(magnitude: float) -> str:
    """``−1×`` for a magnitude of 1 (a true minus sign and a multiplication sign)."""
    return f"\u2212{magnitude:g}\u00d7"


def _pct(value: float) -> str:
    return f"{value * 100:+.2f} %"


def summary_rows(summaries: Sequence[Summary]) -> list[tuple[str, list[str]]]:
    """The metrics of each policy as (label, one cell per policy)."""

    def cells(render: Callable[[Summary], str]) -> list[str]:
        return [render(s) for s in summaries]

    def amount(value: int, summary: Summary) -> str:
        return f"{value / 10**summary.collateral_decimals:,.2f}"

    def schedule(summary: Summary) -> str:
        interval = summary.rebalance_interval_s
        if interval >= CENTURY_S:
            return "none"
        every = f"every {interval // 3600} h" if interval % 86_400 else f"every {interval // 86_400} d"
        if summary.time_of_day_s is None:
            return f"{every} from launch"
        hours, rest = divmod(summary.time_of_day_s, 3600)
        return f"{every} at {hours:02d}:{rest // 60:02d} UTC"

    def twap(summary: Summary) -> str:
        if not summary.max_trade_notional:
            return "no cap"
        return f"cap {amount(summary.max_trade_notional, summary)}, chunks {summary.twap_cooldown_s} s apart"

    def band(summary: Summary) -> str:
        low, high = summary.band
        if low < 1e-9 and high > summary.ripcord - 1e-9:
            return "none (open)"
        return f"above {high:g}" if low < 1e-9 else f"{low:g} to {high:g}"

    return [
        ("schedule", cells(schedule)),
        ("band (|leverage|)", cells(band)),
        ("ripcord (|leverage|)", cells(lambda s: f"{s.ripcord:.4g}")),
        ("recentering speed", cells(lambda s: f"{s.recentering_speed:g}")),
        ("TWAP", cells(twap)),
        ("final NAV (start = 1)", cells(lambda s: f"{s.final_nav:.6f}")),
        ("reference: Π(1 + L_i·r_i) over its rebalances", cells(lambda s: f"{s.own_steps_product:.6f}")),
        ("closed form (Avellaneda-Zhang)", cells(lambda s: f"{s.avellaneda_zhang:.6f}")),
        ("daily product Π(1 + L·r), daily samples", cells(lambda s: f"{s.daily_product:.6f}")),
        ("naive (S_T/S_0)^L", cells(lambda s: f"{s.naive:.6f}")),
        ("volatility decay, measured", cells(lambda s: _pct(s.measured_decay))),
        ("volatility decay, closed form", cells(lambda s: _pct(s.closed_form_decay))),
        ("max drawdown", cells(lambda s: f"{s.max_drawdown * 100:.2f} %")),
        ("rebalances", cells(lambda s: str(s.rebalances))),
        (
            "  by reason",
            cells(lambda s: ", ".join(f"{k} {v}" for k, v in sorted(s.rebalances_by_reason.items())) or "-"),
        ),
        ("rebalance cost (collateral units)", cells(lambda s: amount(s.rebalance_cost, s))),
        ("funding paid (collateral units)", cells(lambda s: amount(s.funding_paid, s))),
        ("worst |leverage| reached", cells(lambda s: f"{s.worst_leverage:.4f}")),
        ("circuit breaker trips", cells(lambda s: str(s.circuit_breakers))),
        ("settled (equity wiped out)", cells(lambda s: "yes" if s.settled else "no")),
    ]


def text_table(summaries: Sequence[Summary]) -> str:
    """The summary as a plain-text table for the terminal."""
    rows = [("policy", [s.policy for s in summaries]), *summary_rows(summaries)]
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(cells[i]) for _, cells in rows) for i in range(len(summaries))]
    lines = []
    for label, cells in rows:
        padded = "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))
        lines.append(f"{label.ljust(label_width)}  {padded}")
    return "\n".join(lines)


def write_html(
    summaries: Sequence[Summary],
    path: PricePath,
    png: Path,
    csv_path: Path,
    destination: Path,
    settings: Sequence[tuple[str, str]],
) -> None:
    """A self-contained page: the plot embedded (and linked), the comparison table, the
    settings of the run, and links to the CSV."""
    image = base64.b64encode(png.read_bytes()).decode("ascii")
    head = "".join(
        f"<th>{html.escape(s.policy)}<br><small>{html.escape(s.description)}</small></th>" for s in summaries
    )
    body = "".join(
        f"<tr><th>{html.escape(label)}</th>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        for label, cells in [
            *summary_rows(summaries),
            ("notes", [("; ".join(s.notes) or "-") for s in summaries]),
        ]
    )
    setting_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in settings
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iit simulate: {html.escape(path.description)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
th {{ background: #f4f4f4; text-align: left; }}
img {{ max-width: 100%; }}
small {{ font-weight: normal; color: #666; }}
</style></head><body>
<h1>Backtest: {html.escape(path.description)}</h1>
<p>{path.steps} steps from {iso(path.times[0])} to {iso(path.times[-1])}, through the node's domain
(every price report, ripcord and keeper tick decided by <code>decide</code>).
NAVs are per token relative to the NAV after the first mint. The closed forms (SPEC §6) use the
index prices the domain accepted: Avellaneda-Zhang <code>(S_T/S_0)^L · exp((L − L²)/2 · Σσ²dt)</code>
with the realised variance, and the discrete daily product <code>Π(1 + L·r_t)</code> on daily samples;
beside them the reference the node's NAV actually follows, exactly: the product over the policy's
own rebalances, <code>Π(1 + L_i·r_i)</code> with <code>L_i</code> the leverage each rebalance left and
<code>r_i</code> the index return until the next. All three are before fees, funding and execution
cost. The measured volatility decay is the final NAV over the naive
<code>(S_T/S_0)^L</code>, less one, and so includes fees, funding and execution cost.</p>
<h2>Results per policy</h2>
<table><tr><th>metric</th>{head}</tr>{body}</table>
<h2>NAV against the index</h2>
<p><a href="{html.escape(png.name)}"><img alt="NAV against the index and the naive inverse"
src="data:image/png;base64,{image}"></a></p>
<p>Every step: <a href="{html.escape(csv_path.name)}">{html.escape(csv_path.name)}</a>.</p>
<h2>Settings</h2>
<table>{setting_rows}</table>
</body></html>
"""
    destination.write_text(page)
