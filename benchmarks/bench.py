"""``make bench``: the figures of issue 5 in ONE table, each row beside a baseline measured
in the same run on the same machine, and the ratio against its target.

Scale with environment variables: ``BENCH_EVENTS`` (events in the big log, default the
issue's 1,000,000; the filled store is cached in ``benchmarks/.cache``),
``BENCH_COMMANDS`` (commands per client thread, default 400), ``BENCH_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``; a fresh schema is made and dropped).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from attrs import frozen

CACHE = Path(__file__).parent / ".cache"
# Bump when what the fill writes changes (commands, records, codec, key format): a stale
# cache is refilled. 2: request ids UUIDv7 or free-form, stores that record their key format.
FILL_FORMAT = 2
EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
SMALL_EVENTS = 1_000
PER_CLIENT = int(os.environ.get("BENCH_COMMANDS", "400"))
GRPC_CALLS = int(os.environ.get("BENCH_GRPC_CALLS", "3000"))
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
Figures = dict[str, Any]


@frozen
class Row:
    number: str  # "3", and "3b" for the row beside it
    measure: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""


def scenario(name: str, **args: Any) -> Figures:  # noqa: ANN401 - JSON arguments
    """Run one scenario in a fresh process (its own peak RSS) and return its figures."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.scenarios", name, json.dumps(args)],
        cwd=Path(__file__).resolve().parent.parent,  # the repository, wherever this runs from
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    figures: Figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Rows ------------------------------------------------------------------------------------


def grpc_row(figures: Figures) -> Row:
    """Row 1: gRPC Mint requests/s with 16 in flight ÷ health-Check requests/s, same server
    (``iit serve`` in its own process; the client here, on the same two cores)."""
    ratio = figures["mint_per_s"] / figures["check_per_s"]
    return Row(
        "1",
        "gRPC Mint req/s, 16 in flight ÷ health Check req/s",
        f"{figures['mint_per_s']:,.0f} req/s",
        f"{figures['check_per_s']:,.0f} req/s",
        ratio,
        "≥ 0.80",
        ratio >= 0.80,
        f"Mint p50 {figures['mint_p50_ms']:.1f} ms, p99 {figures['mint_p99_ms']:.1f} ms; "
        f"Check p50 {figures['check_p50_ms']:.1f} ms, p99 {figures['check_p99_ms']:.1f} ms",
    )


def durable_row(number: str, store: str, figures: Figures, target: float, floor: float = 0.0) -> Row:
    measured = figures["commands_per_s"]
    baseline = figures["append_commands_per_s"]
    ratio = measured / baseline
    met = ratio >= target and measured >= floor
    target_text = f"≥ {target}" + (f", ≥ {floor / 1000:.0f}k cmd/s" if floor else "")
    return Row(
        number,
        f"{store} durable commands/s (16 clients) ÷ library batched append",
        f"{measured:,.0f} cmd/s",
        f"{baseline:,.0f} cmd/s ({figures['append_records_per_s']:,.0f} records/s)",
        ratio,
        target_text,
        met,
        "median of 3 rounds (ratios " + ", ".join(f"{r['ratio']:.2f}" for r in figures["rounds"]) + "); "
        f"{figures['commands']:,} commands in {figures['batches']:,} commits "
        f"(mean {figures['mean_batch_commands']:.1f}/commit); p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms",
    )


def postgres_row() -> Row:
    try:
        url, drop = postgres_schema()
        baseline_url, drop_baseline = postgres_schema()
    except psycopg.Error as error:
        problem = f"skipped: PostgreSQL at {POSTGRES_URL} unreachable ({type(error).__name__})"
        return Row(
            "6", "PostgreSQL durable commands/s ÷ library batched append", problem, "", None, "≥ 0.5", None
        )
    try:
        figures = scenario("durable", url=url, baseline_url=baseline_url, products=4, per_client=PER_CLIENT)
    finally:
        drop()
        drop_baseline()
    return durable_row("6", "PostgreSQL", figures, 0.5)


def shared_row() -> Row:
    """Row 8: two node processes on one PostgreSQL ÷ one node, the same 16 clients."""
    measure = "PostgreSQL durable commands/s of 2 nodes on one store ÷ 1 node (16 clients)"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            pass
    except psycopg.Error as error:
        problem = f"skipped: PostgreSQL at {POSTGRES_URL} unreachable ({type(error).__name__})"
        return Row("8", measure, problem, "", None, "measured", None)
    try:
        figures = scenario("shared", url=POSTGRES_URL, nodes=2, products=4, per_client=PER_CLIENT)
    except subprocess.CalledProcessError:  # the shared server refused a connection: once more
        say("(8) failed (its error above); once more in 10 s")
        time.sleep(10)
        try:
            figures = scenario("shared", url=POSTGRES_URL, nodes=2, products=4, per_client=PER_CLIENT)
        except subprocess.CalledProcessError:
            return Row("8", measure, "failed twice (errors above)", "", None, "measured", None)
    one, many = figures["one"], figures["many"]
    return Row(
        "8",
        measure,
        f"{many['commands_per_s']:,.0f} cmd/s",
        f"{one['commands_per_s']:,.0f} cmd/s",
        figures["ratio"],
        "measured (≥ 1.5 moonshot)",
        figures["ratio"] >= 1.5,
        "median of 3 alternating rounds (ratios "
        + ", ".join(f"{r['ratio']:.2f}" for r in figures["rounds"])
        + "); "
        "products split between the nodes; per node "
        + " + ".join(f"{r:,.0f}" for r in many["per_node_commands_per_s"])
        + f" cmd/s; commits {many['batches']:,} vs {one['batches']:,}; "
        f"CPU {many['cpu_us_per_command']:,.0f} vs {one['cpu_us_per_command']:,.0f} µs/cmd",
    )


def cost_row(small: Figures, big: Figures, number: str = "3", ids: str = "UUIDv7") -> Row:
    ratio = big["us_per_command"] / small["us_per_command"]
    return Row(
        number,
        f"per-command cost at {big['events_before']:,} events ÷ at {small['events_before']:,}, {ids} ids",
        f"{big['us_per_command']:,.0f} µs/cmd",
        f"{small['us_per_command']:,.0f} µs/cmd",
        ratio,
        "≤ 1.1",
        ratio <= 1.1,
        f"16 clients on one product, best of 3 alternating runs; "
        f"CPU {big['cpu_us_per_command']:,.0f} vs {small['cpu_us_per_command']:,.0f} µs/cmd; "
        f"written {big['bytes_written_per_command'] / 1024:,.1f} vs "
        f"{small['bytes_written_per_command'] / 1024:,.1f} KiB/cmd; "
        f"mean {big['mean_batch_commands']:.1f} vs {small['mean_batch_commands']:.1f} commands/commit",
    )


def audit_row(figures: Figures) -> Row:
    """Row 4: the audit as ``audit()`` runs by default (in several processes on a store this
    size) ÷ a plain decoded read in one process; the audit in one process in the detail."""
    ratio = figures["audit_events_per_s"] / figures["read_events_per_s"]
    return Row(
        "4",
        "audit events/s (replay + every invariant) ÷ decoded log read",
        f"{figures['audit_events_per_s']:,.0f} events/s",
        f"{figures['read_events_per_s']:,.0f} events/s",
        ratio,
        "≥ 0.75",
        ratio >= 0.75,
        f"{figures['events']:,} events of row 2's store; audit in {figures['processes']} processes; "
        "median of 3 rounds (ratios " + ", ".join(f"{r['ratio']:.2f}" for r in figures["rounds"]) + "); "
        f"in one process {figures['serial_audit_events_per_s']:,.0f} events/s, ratio "
        f"{figures['serial_ratio']:.2f} (rounds "
        + ", ".join(f"{r['serial_ratio']:.2f}" for r in figures["rounds"])
        + ")",
    )


def cold_row(figures: Figures) -> Row:
    return Row(
        "5",
        f"cold load of a product with {figures['events']:,} events",
        f"{figures['median_ms']:.1f} ms",
        "",
        None,
        "≤ 50 ms",
        figures["median_ms"] <= 50,
        f"median of fresh Node.open + load; snapshot + {figures['fast_forwarded']} events; "
        f"worst {figures['max_ms']:.1f} ms",
    )


def rss_row(served: Figures, durable: Figures, big: Figures) -> Row:
    peak = max(served["server_peak_rss_mb"], durable["peak_rss_mb"], big["peak_rss_mb"])
    return Row(
        "7",
        "peak RSS of the node during (1), (2) and (3)",
        f"{peak:,.0f} MB",
        "",
        None,
        "< 300 MB",
        peak < 300,
        f"(1) served node: {served['server_peak_rss_mb']:.0f} MB; (2): {durable['peak_rss_mb']:.0f} MB; "
        f"(3) at {big['events_before']:,} events: {big['peak_rss_mb']:.0f} MB",
    )


# Stores ------------------------------------------------------------------------------------


def filled_store(events: int, ids: str = "uuid7") -> Path:
    """A SQLite store whose product ``P`` has ``events`` events, each command's request id
    of the form ``ids``, from the cache if there."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"fill-v{FILL_FORMAT}-{ids}-{events}.db"
    if path.exists():
        say(f"using the cached store {path.name}")
        return path
    partial = CACHE / f"partial-{path.name}"
    _remove_sqlite(partial)
    say(f"filling a store with {events:,} events, {ids} ids (cached for the next run)…")
    figures = scenario("fill", url=f"sqlite:///{partial}", events=events, ids=ids)
    say(f"filled in {figures['fill_s']:.0f} s")
    _checkpoint(partial)
    _remove_sqlite(partial, keep_db=True)
    partial.rename(path)
    return path


def _copy(source: Path, target: Path) -> None:
    """Copy a store and wait until the copy is on disk: a gigabyte of dirty pages being
    written back would otherwise slow every fsync of the run that follows."""
    shutil.copyfile(source, target)
    with target.open("rb+") as copy:
        os.fsync(copy.fileno())


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the database file, so that the one file is the whole store."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _remove_sqlite(path: Path, keep_db: bool = False) -> None:
    suffixes = ("-wal", "-shm") if keep_db else ("", "-wal", "-shm")
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def postgres_schema() -> tuple[str, Callable[[], None]]:
    """A fresh schema in the benchmark database, and how to drop it."""
    schema = f"iit_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return f"{POSTGRES_URL}?schema={schema}", drop


# The run -------------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        row = ("unreachable",)
    return [
        f"machine: {cpu}, {os.cpu_count()} cores, {mem_kb / 2**20:.0f} GiB RAM; {platform.platform()}",
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {row[0] if row else '?'}, eventsourcing {metadata.version('eventsourcing')}",
    ]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    began = time.perf_counter()
    header = [*machine(), f"load average at start: {load()}"]
    rows: list[Row] = []
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=CACHE) as tmp:
        work = Path(tmp)
        say("(1) gRPC: 16 Mints in flight against a served node, then 16 health Checks")
        served = scenario("grpc", dir=str(work), calls=GRPC_CALLS)
        rows.append(grpc_row(served))
        say("(2) SQLite: 16 clients through the group-commit writer, then the library appends")
        durable = scenario(
            "durable",
            url=f"sqlite:///{work}/durable.db",
            baseline_url=f"sqlite:///{work}/append.db",
            products=4,
            per_client=PER_CLIENT,
        )
        rows.append(durable_row("2", "SQLite", durable, 0.6, 10_000))

        say("(4) audit against a decoded read of the same store")
        rows.append(audit_row(scenario("audit", url=f"sqlite:///{work}/durable.db")))

        say("(6) PostgreSQL: the same on fresh schemas")
        rows.append(postgres_row())

        big_store = filled_store(EVENTS)
        free_store = filled_store(EVENTS, "free")
        say(f"(3) per-command cost at {SMALL_EVENTS:,} and {EVENTS:,} events (copies of the cached stores)")
        big, small = cost_rows(work, big_store, "uuid7")
        rows.append(cost_row(small, big))
        say("(3b) the same with free-form request ids")
        free_big, free_small = cost_rows(work, free_store, "free")
        rows.append(cost_row(free_small, free_big, "3b", "free-form"))

        say(f"(5) cold load of the product with {EVENTS:,} events")
        rows.append(cold_row(scenario("cold_load", url=f"sqlite:///{big_store}", repeats=7)))
        rows.append(rss_row(served, durable, big))

        say("(8) PostgreSQL: two node processes on one store against one node")
        rows.append(shared_row())

    rows.sort(key=lambda r: (int(r.number.rstrip("b")), r.number))
    header.append(f"load average at end: {load()}; make bench took {time.perf_counter() - began:.0f} s")
    print("\n".join(header))
    print()
    print(table(rows))


def cost_rows(work: Path, big_store: Path, ids: str) -> tuple[Figures, Figures]:
    """Row 3's runs: the 16 clients (request ids of the form ``ids``) on a copy of a small
    store and of the big one (both filled with such ids), 3 alternating runs; the best of
    each (big, small)."""
    small_store = work / f"small-{ids}.db"
    scenario("fill", url=f"sqlite:///{small_store}", events=SMALL_EVENTS, ids=ids)
    _checkpoint(small_store)
    big_copy = work / "big.db"
    _remove_sqlite(big_copy)
    _checkpoint(big_store)  # row 5 opened it last time: make sure the one file is all of it
    _copy(big_store, big_copy)
    smalls, bigs = [], []
    for attempt in range(3):  # alternate, and keep each one's best: the machine is shared
        small_copy = work / f"small-{ids}-{attempt}.db"
        _copy(small_store, small_copy)  # each run starts at the same small log
        smalls.append(
            scenario("cost", url=f"sqlite:///{small_copy}", per_client=PER_CLIENT // 2, tag="s", ids=ids)
        )
        bigs.append(
            scenario(
                "cost", url=f"sqlite:///{big_copy}", per_client=PER_CLIENT // 2, tag=f"b{attempt}", ids=ids
            )
        )
        _remove_sqlite(small_copy)
    big = min(bigs, key=lambda f: f["us_per_command"])
    big["peak_rss_mb"] = max(f["peak_rss_mb"] for f in bigs)
    _remove_sqlite(big_copy)
    return big, min(smalls, key=lambda f: f["us_per_command"])


def table(rows: list[Row]) -> str:
    lines = [
        "| # | measure | measured | baseline (same run) | ratio | target | status | detail |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "—"
        status = "pending" if r.met is None else ("met" if r.met else "MISSED")
        lines.append(
            f"| {r.number} | {r.measure} | {r.measured} | {r.baseline or '—'} | {ratio} | {r.target} "
            f"| {status} | {r.note} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
