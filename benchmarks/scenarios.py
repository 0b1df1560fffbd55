"""The benchmark's scenarios, each run in its own process so that its peak RSS is its own:
``python -m benchmarks.scenarios NAME JSON-ARGS`` prints one JSON object of figures.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.audit.report import audit
from adapters.store.event_store import SNAPSHOT_INTERVAL
from adapters.store.node import Node
from adapters.store.records import StoredProductEvent, product_stream_id
from adapters.store.writer import GroupCommitWriter
from benchmarks.grpc_scenario import grpc_mint
from benchmarks.shared_store import nodes_on_one_store, one_of_the_nodes
from benchmarks.workload import (
    Appender,
    RecordingNode,
    check_results,
    fill_requests,
    launch,
    run_clients,
)

Figures = dict[str, Any]
PAGE = 1_000
FILL_BATCH = 200  # commands per commit while filling: a snapshot every commit or so, as in service


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _percentile(sorted_values: tuple[float, ...], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def durable(args: Figures) -> Figures:
    """Client threads through the group-commit writer, then the library appending exactly
    the records they stored, in the same batches, into a fresh store. Three rounds, each on
    fresh products, each the node's run and then the library's: the machine is shared and
    a neighbour's fsyncs slow whichever runs beside them, so each round's ratio compares
    like with like and the round of the median ratio is reported."""
    node = RecordingNode(_env(args["url"]))
    appender = Appender(_env(args["baseline_url"]))
    writer = GroupCommitWriter(node)
    rounds, node_rss = [], 0.0
    for round_number in range(args.get("rounds", 3)):
        products = [f"R{round_number}P{i}" for i in range(args["products"])]
        for product_id in products:
            launch(node, product_id)
        setup_end = node.recorder.max_notification_id() or 0
        node.batch_sizes = []
        node.recording = True
        run = run_clients(
            writer, products, args["per_client"], tag=f"durable{round_number}", ids=args.get("ids", "uuid7")
        )
        node.recording = False
        if round_number == 0:  # the node alone so far: the baseline's records come next
            node_rss = peak_rss_mb()
        if run.rejected:
            raise RuntimeError(f"{run.rejected} commands were rejected: the figures would lie")
        records = _records_after(node, setup_end)
        assert sum(node.batch_sizes) == len(records), (sum(node.batch_sizes), len(records))
        batches, at = [], 0
        for size in node.batch_sizes:
            batches.append(records[at : at + size])
            at += size
        began = time.perf_counter()
        for batch in batches:
            appender.events.put(batch)
        rounds.append((run, len(records), time.perf_counter() - began))
    writer.close()
    by_ratio = sorted(rounds, key=lambda r: r[2] / r[0].elapsed_s)
    run, records_count, append_s = by_ratio[len(by_ratio) // 2]
    return {
        "commands": run.commands,
        "commands_per_s": run.commands / run.elapsed_s,
        "batches": run.batches,
        "records": records_count,
        "mean_batch_commands": run.commands / max(1, run.batches),
        "p50_ms": _percentile(run.latencies_s, 0.50) * 1e3,
        "p99_ms": _percentile(run.latencies_s, 0.99) * 1e3,
        "append_commands_per_s": run.commands / append_s,
        "append_records_per_s": records_count / append_s,
        "rounds": [
            {"ratio": s / r.elapsed_s, "commands_per_s": r.commands / r.elapsed_s} for r, _, s in rounds
        ],
        "peak_rss_mb": node_rss,
    }


def _records_after(node: Node, after_id: int) -> list[Any]:
    records: list[Any] = []
    start = after_id + 1
    while page := node.recorder.select_notifications(start, PAGE):
        records += [node.mapper.to_domain_event(n) for n in page]
        start = page[-1].id + 1
    return records


def fill(args: Figures) -> Figures:
    """Product ``P`` with ``events`` events, written by real commands in big commits, then
    ``SNAPSHOT_INTERVAL - 1`` more one by one: the worst case for a cold load, the most
    events after the latest snapshot."""
    node = Node(_env(args["url"]))
    ids = args.get("ids", "uuid7")
    launch(node, "P")
    loaded = node.load("P")
    assert loaded is not None
    step, began, reported = 0, time.perf_counter(), 0
    while loaded.version < args["events"]:
        count = min(FILL_BATCH, args["events"] - loaded.version)
        check_results(node.execute_batch(fill_requests("P", step, count, ids)))
        step += count
        loaded = node.load("P")
        assert loaded is not None
        if loaded.version - reported >= 50_000:
            reported = loaded.version
            rate = step / (time.perf_counter() - began)
            print(f"  filled {loaded.version:,} events ({rate:,.0f} commands/s)", file=sys.stderr)
    for _ in range(SNAPSHOT_INTERVAL - 1 - loaded.version % SNAPSHOT_INTERVAL):
        check_results(node.execute_batch(fill_requests("P", step, 1, ids)))
        step += 1
    loaded = node.load("P")
    assert loaded is not None
    node.close()
    return {"events": loaded.version, "fill_s": time.perf_counter() - began}


def cost(args: Figures) -> Figures:
    """Per-command cost on product ``P`` of an existing store, warm (cold load is row 5)."""
    node = Node(_env(args["url"]))
    loaded = node.load("P")
    assert loaded is not None
    writer = GroupCommitWriter(node)
    ids = args.get("ids", "uuid7")
    run_clients(writer, ["P"], 5, tag=f"warm:{args['tag']}", ids=ids)
    cpu, written = time.process_time(), _bytes_written()
    run = run_clients(writer, ["P"], args["per_client"], tag=f"cost:{args['tag']}", ids=ids)
    cpu, written = time.process_time() - cpu, _bytes_written() - written
    writer.close()
    if run.rejected:
        raise RuntimeError(f"{run.rejected} commands were rejected: the figures would lie")
    return {
        "events_before": loaded.version,
        "us_per_command": run.elapsed_s / run.commands * 1e6,
        "cpu_us_per_command": cpu / run.commands * 1e6,
        "bytes_written_per_command": written / run.commands,
        "commands_per_s": run.commands / run.elapsed_s,
        "mean_batch_commands": run.commands / max(1, run.batches),
        "peak_rss_mb": peak_rss_mb(),
    }


def _bytes_written() -> int:
    """Bytes this process caused to be written to storage (Linux), WAL and checkpoints alike."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def cold_load(args: Figures) -> Figures:
    """Open the store afresh and load ``P``: the latest snapshot plus the events after it."""
    times, loaded, fast_forwarded = [], None, 0
    for _ in range(args["repeats"]):
        began = time.perf_counter()
        node = Node(_env(args["url"]))
        loaded = node.load("P")
        times.append(time.perf_counter() - began)
        assert loaded is not None
        assert node.snapshots is not None
        latest = next(iter(node.snapshots.get(product_stream_id("P"), desc=True, limit=1)))
        fast_forwarded = loaded.version - latest.originator_version
        node.close()
    assert loaded is not None
    return {
        "events": loaded.version,
        "fast_forwarded": fast_forwarded,
        "median_ms": statistics.median(times) * 1e3,
        "max_ms": max(times) * 1e3,
        "peak_rss_mb": peak_rss_mb(),
    }


def audit_vs_read(args: Figures) -> Figures:
    """The audit (replay + every invariant) against a plain decoded read of the same log, in
    rounds (``rounds``, default 3): each reads the log with the library's mapper (the faster
    of two reads), then audits it as ``audit()`` does by default (in several processes when
    the store is large enough), then in this process alone. The shared cores make single
    runs noisy: the round with the median ratio of the default audit is reported, with
    every round's ratios."""
    node = Node(_env(args["url"]))
    rounds = []
    for _ in range(args.get("rounds", 3)):
        reads = []
        for _ in range(2):  # the faster of two reads, as this row always measured it
            began = time.perf_counter()
            events = sum(1 for r in _records_after(node, 0) if isinstance(r, StoredProductEvent))
            reads.append(time.perf_counter() - began)
        read_s = min(reads)
        began = time.perf_counter()
        report = audit(node)
        audit_s = time.perf_counter() - began
        began = time.perf_counter()
        serial = audit(node, processes=1)
        serial_s = time.perf_counter() - began
        for checked in (report, serial):
            assert checked.ok, checked.findings[:3]
            assert checked.events_checked == events, (checked.events_checked, events)
        rounds.append(
            {
                "read_events_per_s": events / read_s,
                "audit_events_per_s": events / audit_s,
                "serial_audit_events_per_s": events / serial_s,
                "ratio": read_s / audit_s,
                "serial_ratio": read_s / serial_s,
                "processes": report.processes,
            }
        )
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    return {"events": events, **median, "rounds": rounds, "peak_rss_mb": peak_rss_mb()}


def _env(url: str) -> dict[str, str]:
    from adapters.store.url import store_env  # noqa: PLC0415

    return store_env(url)


SCENARIOS: dict[str, Callable[[Figures], Figures]] = {
    "grpc": grpc_mint,
    "durable": durable,
    "fill": fill,
    "cost": cost,
    "cold_load": cold_load,
    "audit": audit_vs_read,
    "shared": nodes_on_one_store,
    "shared_node": one_of_the_nodes,
}


def main() -> None:
    name, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(SCENARIOS[name](json.loads(raw))))


if __name__ == "__main__":
    main()
