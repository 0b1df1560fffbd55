"""``python -m benchmarks.domain_bench``: the domain's per-event cost, the old ``evolve``
(``benchmarks/reference_evolve.py``: a new ``ProductState`` and new mappings per event)
against the working copy (``domain.evolve``), interleaved in one run, several rounds,
medians printed. The commands are the bench's mix (mint, transfer, redeem in turn, one
event each, as ``benchmarks/workload.py`` sends them) on a product of ``HOLDERS`` holders,
and again with many holders, where copying ``balances`` and ``ledger`` per event shows."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

from benchmarks import reference_evolve as old
from benchmarks.workload import COMPONENTS, HOLDERS, NOW, PRICES, T0, USDC, command
from domain import commands as cmd
from domain.decide import decide_and_apply
from domain.events import Event
from domain.evolve import evolve, evolve_all
from domain.model import ProductState
from domain.params import default_params

ROUNDS = 7
COMMANDS = 600
BATCH = 64  # commands a group commit decides together at the bench's load


def product(holders: int) -> ProductState:
    """A product launched, priced and minted to by ``holders`` holders."""
    state = decide_and_apply(None, cmd.LaunchProduct("P", COMPONENTS, default_params()), T0).state
    for symbol, price in PRICES.items():
        state = decide_and_apply(state, cmd.ReportPrice(symbol, price, T0, "r1"), T0).state
    for h in range(holders):
        state = decide_and_apply(state, cmd.Mint(f"h{h}", 1_000_000 * USDC, 0), NOW).state
    return state


def decided(state: ProductState, holders: int) -> list[tuple[ProductState, list[Event]]]:
    """Each command of the mix with the state it is decided on and the events it causes."""
    steps = []
    for k in range(COMMANDS):
        events = decide_and_apply(state, command(k, k % holders), NOW).events
        steps.append((state, events))
        state = evolve_all(state, events) or state
    return steps


def per_event_old(steps: Sequence[tuple[ProductState, list[Event]]]) -> None:
    for before, events in steps:
        state = before
        for event in events:
            state = old.evolve(state, event)


def per_event_new(steps: Sequence[tuple[ProductState, list[Event]]]) -> None:
    for before, events in steps:
        state = before
        for event in events:
            state = evolve(state, event)


def batches(steps: Sequence[tuple[ProductState, list[Event]]]) -> list[tuple[ProductState, list[Event]]]:
    """The steps' events in runs of ``BATCH`` commands, each from the state before its run."""
    return [
        (steps[i][0], [e for _, events in steps[i : i + BATCH] for e in events])
        for i in range(0, len(steps), BATCH)
    ]


def batch_old(runs: Sequence[tuple[ProductState, list[Event]]]) -> None:
    for state, events in runs:
        old.evolve_all(state, events)


def batch_new(runs: Sequence[tuple[ProductState, list[Event]]]) -> None:
    for state, events in runs:
        evolve_all(state, events)


def decide_all(steps: Sequence[tuple[ProductState, list[Event]]], holders: int) -> None:
    for k, (state, _) in enumerate(steps):
        decide_and_apply(state, command(k, k % holders), NOW)


def interleaved(cases: dict[str, Callable[[], None]], count: int) -> dict[str, float]:
    """Median µs per item of each case over ``ROUNDS`` rounds, the cases taking turns."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, run in cases.items():
            began = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - began) / count * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    print(f"domain per-event cost, median of {ROUNDS} interleaved rounds, {COMMANDS} commands")
    print(f"{'holders':>8} {'case':<44} {'old µs':>8} {'new µs':>8} {'new/old':>8}")
    for holders in (HOLDERS, 10_000):
        state = product(holders)
        steps = decided(state, holders)
        runs = batches(steps)
        events = sum(len(e) for _, e in steps)
        figures = interleaved(
            {
                "event old": partial(per_event_old, steps),
                "event new": partial(per_event_new, steps),
                "batch old": partial(batch_old, runs),
                "batch new": partial(batch_new, runs),
            },
            events,
        )
        decide_us = interleaved({"decide": partial(decide_all, steps, holders)}, len(steps))["decide"]
        for label, key in (
            ("evolve, one event at a time", "event"),
            (f"evolve_all, {BATCH} commands", "batch"),
        ):
            o, n = figures[f"{key} old"], figures[f"{key} new"]
            print(f"{holders:>8} {label:<44} {o:>8.2f} {n:>8.2f} {n / o:>8.2f}")
        print(f"{holders:>8} {'decide_and_apply per command (new only)':<44} {'':>8} {decide_us:>8.2f}")


if __name__ == "__main__":
    main()
