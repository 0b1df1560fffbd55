"""``iit simulate``: backtest a product on a price path and write a CSV, a PNG and an
HTML report comparing rebalancing policies, with the closed forms of SPEC §6."""

from __future__ import annotations

import hashlib
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import attrs
import click
from tqdm import tqdm

from adapters.formatting import wad_of
from adapters.rejections import REJECTIONS
from adapters.simulate.outputs import decimal, plot, text_table, write_csv, write_html
from adapters.simulate.paths import (
    FUNDING_COLUMN,
    PathError,
    PricePath,
    alternating_path,
    gbm_path,
    read_csv_path,
)
from adapters.simulate.policies import DEFAULT_POLICIES, Policy, PolicyError, parse_policy
from adapters.simulate.presets import PRESET_NAMES, preset_params
from adapters.simulate.runner import FEEDS, Driver, MemoryDriver, PolicyRun, Setup, StoreDriver, run_backtest
from adapters.simulate.summary import summarise
from domain.errors import DomainError
from domain.params import Params, default_params, validate_params

PATH_KINDS = ("gbm", "alternating", "csv")


class Progress(Protocol):
    """A progress bar (tqdm's interface)."""

    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """A TOML file whose keys are the options' names (``steps_per_day = 24``, ``policy =
    ["daily", "band"]``); flags given on the command line win."""
    if value is None:
        return None
    try:
        config = tomllib.loads(value.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise click.BadParameter(f"cannot read {value}: {error}") from error
    known = {p.name for p in ctx.command.params}
    unknown = sorted(set(config) - known)
    if unknown:
        raise click.BadParameter(f"{value}: unknown setting(s) {', '.join(unknown)}")
    ctx.default_map = {**(ctx.default_map or {}), **config}
    return value


def _wad(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        return wad_of(str(text))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=name) from error


def time_of_day_s(text: str) -> int:
    """``HH:MM`` (UTC) or whole seconds after midnight."""
    try:
        if ":" in text:
            hours, minutes = text.split(":")
            return int(hours) * 3600 + int(minutes) * 60
        return int(text)
    except ValueError as error:
        hint = "--rebalance-time-of-day"
        raise click.BadParameter(f"{text!r} is not HH:MM or seconds", param_hint=hint) from error


def build_params(options: dict[str, Any]) -> Params:
    """``LaunchProduct`` parameters from the options; unset ones take the documented defaults
    (``domain.params.default_params``) for the target leverage."""
    target = _wad(options["target_leverage"], "--target-leverage")
    assert target is not None
    params = default_params(target)
    if options.get("preset"):
        params = preset_params(options["preset"], params)
    overrides: dict[str, int] = {}
    for name in ("band_low", "band_high", "ripcord_leverage", "max_price_move", "recentering_speed"):
        value = _wad(options.get(name), f"--{name.replace('_', '-')}")
        if value is not None:
            overrides[f"{name}_wad"] = value
    for name in (
        "max_trade_notional",
        "mint_fee_bps",
        "redeem_fee_bps",
        "streaming_fee_bps",
        "execution_cost_bps",
        "max_oracle_age_s",
        "oracle_quorum",
        "collateral_decimals",
        "supply_cap",
        "rebalance_interval_s",
        "twap_cooldown_s",
    ):
        if options.get(name) is not None:
            overrides[name] = int(options[name])
    if options["frictionless"]:
        overrides.update(mint_fee_bps=0, redeem_fee_bps=0, streaming_fee_bps=0, execution_cost_bps=0)
    params = attrs.evolve(params, **overrides)
    if options.get("rebalance_time_of_day") is not None:
        pinned = time_of_day_s(str(options["rebalance_time_of_day"]))
        params = attrs.evolve(params, rebalance_time_of_day_s=pinned)
    try:
        validate_params(params)
    except DomainError as error:
        raise click.UsageError(f"invalid product parameters: {error}") from error
    return params


def build_path(options: dict[str, Any]) -> PricePath:
    kind = options["path_kind"] or ("csv" if options["prices_csv"] else "gbm")
    symbols = [s.strip() for s in options["components"].split(",") if s.strip()]
    try:
        if kind == "csv":
            if options["prices_csv"] is None:
                raise click.UsageError("--path csv needs --prices-csv FILE")
            columns = [c.strip() for c in options["columns"].split(",")] if options["columns"] else None
            return read_csv_path(Path(options["prices_csv"]), columns, options["funding_column"])
        if kind == "alternating":
            if len(symbols) != 1:
                raise click.UsageError("an alternating path has one component")
            return alternating_path(
                symbols[0],
                options["initial_price"],
                options["volatility"],
                options["days"],
                options["steps_per_day"],
            )
        return gbm_path(
            symbols,
            [options["initial_price"]] * len(symbols),
            options["drift"],
            options["volatility"],
            options["days"],
            options["steps_per_day"],
            options["seed"],
            options["correlation"],
        )
    except PathError as error:
        raise click.UsageError(str(error)) from error


# What each policy sets for itself: shown per policy in the results, not as one setting.
POLICY_KNOBS = frozenset(
    {
        "rebalance_interval_s",
        "band_low_wad",
        "band_high_wad",
        "ripcord_leverage_wad",
        "rebalance_time_of_day_s",
    }
)


def _settings(options: dict[str, Any], params: Params, path: PricePath) -> list[tuple[str, str]]:
    """The product's parameters shared by every policy; the schedule, band and ripcord are
    each policy's own (the results table shows them per policy)."""
    shown = [("path", path.description)]
    if options.get("preset"):
        shown.append(("preset", str(options["preset"])))
    for field in attrs.fields(Params):
        if field.name in POLICY_KNOBS:
            continue
        value = getattr(params, field.name)
        if field.name.endswith("_wad"):
            shown.append((field.name.removesuffix("_wad"), decimal(value, 18).rstrip("0").rstrip(".")))
        else:
            shown.append((field.name, str(value)))
    shown += [
        (name, str(options[name])) for name in ("initial_mint", "funding_rate", "store") if options[name]
    ]
    return shown


def _run_id(options: dict[str, Any]) -> str:
    """A short digest of the settings, so that two different runs never share product ids."""
    text = repr(sorted((k, str(v)) for k, v in options.items() if k not in {"quiet", "out", "config"}))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def execute(
    options: dict[str, Any], progress_factory: Callable[[int], Progress] | None = None
) -> tuple[PricePath, list[PolicyRun]]:
    """Build everything from the options and run the backtest (the command's core, for tests)."""
    params = build_params(options)
    path = build_path(options)
    try:
        default = (options["preset"],) if options.get("preset") else DEFAULT_POLICIES
        policies: list[Policy] = [parse_policy(name) for name in options["policy"] or default]
    except PolicyError as error:
        raise click.UsageError(str(error)) from error
    funding = _wad(options["funding_rate"], "--funding-rate") or 0
    setup = Setup(
        params=params,
        initial_mint=int(options["initial_mint"]) * 10**params.collateral_decimals,
        funding_wad=funding,
        feed=options.get("feed") or "rounds",
    )
    run_id = options["run_id"] or _run_id(options)
    prefix = f"SIM-{run_id}"
    driver: Driver
    if options["store"]:
        store_driver = StoreDriver(options["store"], run_id)
        taken = [p.name for p in policies if store_driver.exists(f"{prefix}-{p.name.replace('+', '-')}")]
        if taken:
            raise click.UsageError(
                f"{options['store']} already holds run {run_id} ({', '.join(taken)}): "
                "give another --run-id or a fresh store"
            )
        driver = store_driver
    else:
        driver = MemoryDriver()
    total = path.steps * len(policies)
    bar = progress_factory(total) if progress_factory else None
    try:
        runs = run_backtest(driver, path, setup, policies, prefix, bar.update if bar is not None else None)
    except REJECTIONS as error:
        raise click.ClickException(f"the domain rejected a step: {type(error).__name__}: {error}") from error
    finally:
        if bar is not None:
            bar.close()
    return path, runs


@click.command(
    help="Backtest a product on a price path (GBM, an alternating path, or a CSV of real prices) "
    "through the node's domain, comparing rebalancing policies; write a CSV of every step, a PNG "
    "of NAV against the index and the naive inverse, and an HTML report with the closed forms of "
    "SPEC §6 beside the measured NAV."
)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    callback=_load_config,
    is_eager=True,
    expose_value=True,
    help="TOML file of these options (underscored names); flags override it.",
)
@click.option(
    "--path",
    "path_kind",
    type=click.Choice(PATH_KINDS),
    default=None,
    help="Default: csv if --prices-csv, else gbm.",
)
@click.option("--components", default="IDX", show_default=True, help="Comma-separated symbols of a GBM path.")
@click.option("--initial-price", type=float, default=100.0, show_default=True)
@click.option("--drift", type=float, default=0.0, show_default=True, help="GBM drift per year.")
@click.option("--volatility", type=float, default=0.8, show_default=True, help="Volatility per year.")
@click.option(
    "--correlation",
    type=float,
    default=0.5,
    show_default=True,
    help="Between GBM components (0: each component moves independently).",
)
@click.option(
    "--feed",
    type=click.Choice(FEEDS),
    default="rounds",
    show_default=True,
    help="How reporters publish each step: one round of every component, or one report per component.",
)
@click.option("--days", type=int, default=365, show_default=True)
@click.option("--steps-per-day", type=int, default=24, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="A seed reproduces a GBM run exactly.")
@click.option(
    "--prices-csv", type=click.Path(exists=True, dir_okay=False), default=None, help="timestamp,SYM1,SYM2,..."
)
@click.option("--columns", default=None, help="Price columns of the CSV to use (default: all).")
@click.option(
    "--funding-column",
    default=FUNDING_COLUMN,
    show_default=True,
    help="CSV column of funding rates per year.",
)
@click.option(
    "--funding-rate", default=None, help="Constant funding rate per year (0.05 = 5 %), paid by the vault."
)
@click.option(
    "--policy",
    multiple=True,
    help="daily, band, band+ripcord, every-Nh, daily+band, every-Nh+band, product, fli, ftx "
    f"(repeat; default: {', '.join(DEFAULT_POLICIES)}). A policy sets rebalance_interval_s; daily "
    "and every-Nh open the band wide; product (and a preset's name) runs the parameters as given.",
)
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES),
    default=None,
    help="Launch with a preset's parameters (flags still win). fli: band 0.8-1.2 x |target|, every "
    "4 h, recentering 0.5, TWAP 250k / 300 s, 1.95 %/yr fee, 0.1 % mint/redeem. ftx: daily reset "
    "at 00:02 UTC, intraday at |L| >= 1.33 x |target|. Default policy: the preset's own.",
)
@click.option("--target-leverage", default="-1", show_default=True, help="-1, -2 or -3.")
@click.option("--band-low", default=None, help="Default 0.8 x |target|.")
@click.option("--band-high", default=None, help="Default 1.2 x |target|.")
@click.option("--ripcord-leverage", default=None, help="Default 1.5 x |target|.")
@click.option("--max-price-move", default=None, help="Circuit breaker, e.g. 0.2 (default).")
@click.option("--max-trade-notional", type=int, default=None, help="Base units; 0 = no cap (default).")
@click.option(
    "--rebalance-interval-s", type=int, default=None, help="The schedule (policy product); default 86400."
)
@click.option("--rebalance-time-of-day", default=None, help="Pin the schedule: HH:MM UTC (FTX: 00:02).")
@click.option("--recentering-speed", default=None, help="Fraction of the way back, (0, 1]; default 1.")
@click.option("--twap-cooldown-s", type=int, default=None, help="Seconds between capped chunks; default 0.")
@click.option("--mint-fee-bps", type=int, default=None, help="Default 10.")
@click.option("--redeem-fee-bps", type=int, default=None, help="Default 10.")
@click.option("--streaming-fee-bps", type=int, default=None, help="Per year; default 95.")
@click.option("--execution-cost-bps", type=int, default=None, help="On each hedge trade; default 10.")
@click.option("--max-oracle-age-s", type=int, default=None, help="Default 3600.")
@click.option("--oracle-quorum", type=int, default=None, help="Reporters per price; default 1.")
@click.option("--collateral-decimals", type=int, default=None, help="Default 6.")
@click.option("--supply-cap", type=int, default=None, help="Token base units; 0 = no cap (default).")
@click.option(
    "--frictionless", is_flag=True, help="Zero every fee and the execution cost (the closed forms' setting)."
)
@click.option(
    "--initial-mint", type=int, default=1_000_000, show_default=True, help="Whole collateral units."
)
@click.option(
    "--store",
    default=None,
    help="Also store every decision: sqlite:///path.db or postgresql://... (default: memory only).",
)
@click.option(
    "--run-id",
    default=None,
    help="Product ids are SIM-<run-id>-<policy> (default: a digest of the settings).",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("simulation"), show_default=True
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def simulate(**options: Any) -> None:  # noqa: ANN401 - click passes each option's own type
    out: Path = options["out"]
    out.mkdir(parents=True, exist_ok=True)
    quiet = options["quiet"] or not sys.stderr.isatty()

    def progress(total: int) -> Progress:
        bar: Progress = tqdm(total=total, file=sys.stderr, unit="step", desc="simulate", disable=quiet)
        return bar

    path, runs = execute(options, progress)
    summaries = [summarise(run) for run in runs]
    csv_path, png, report = out / "path.csv", out / "nav.png", out / "report.html"
    write_csv(runs, csv_path)
    plot(runs, path, png)
    write_html(summaries, path, png, csv_path, report, _settings(options, build_params(options), path))
    click.echo(f"{path.description}\n")
    click.echo(text_table(summaries))
    for summary in summaries:
        for note in summary.notes:
            click.echo(f"note ({summary.policy}): {note}", err=True)
    click.echo(f"\nwrote {csv_path}, {png} and {report}")
