"""A real node process, killed with SIGKILL in the middle of a stream of commands, loses
none it acknowledged; retrying every command sent (acknowledged or not) with the same
request ids applies each exactly once. On SQLite and PostgreSQL.

The node process is ``adapters.store.driver`` run by this venv's python, opening its node
with the tests' factory: it acknowledges a command on stdout only after ``execute()``
returned. The run is killed twice, at different
points, and a third run retries the whole stream to its end.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.audit.report import audit
from adapters.store.codec import decode_event, encode_command
from domain import commands as cmd
from domain.errors import DomainError
from domain.fixedpoint import WAD
from domain.params import default_params
from tests.store.factory import open_node
from tests.support import DEFAULT_COMPONENTS, DEFAULT_PRICES, USDC, Scenario

T0 = 1_700_000_000
ROOT = Path(__file__).resolve().parents[2]
COMMANDS = 240
KILL_AFTER_ACKS = (60, 150)  # first run killed after 60 acknowledgements, the retry after 150
HOLDERS = ("alice", "bob", "carol", "dave")
# The driver's entry point with the tests' node factory, so that swapping the factory
# swaps the writer in the killed process too.
DRIVER = (
    "import sys; from adapters.store.driver import main; from tests.store.factory import open_node; "
    "raise SystemExit(main(sys.argv[1:], open_node))"
)


def command_stream(seed: int = 7) -> tuple[list[dict[str, Any]], list[int], Scenario]:
    """Commands that the domain accepts in this order, each with its own request id; how many
    events each causes; and the pure domain's run of them (where a correct node ends)."""
    rng = random.Random(seed)
    scenario = Scenario(now=T0)
    lines: list[dict[str, Any]] = []
    event_counts: list[int] = []
    prices = dict(DEFAULT_PRICES)

    def send(command: cmd.Command) -> None:
        try:
            events = scenario.run(command)
        except DomainError:
            return  # only commands that apply: then "exactly once" is visible in the state
        event_counts.append(len(events))
        lines.append(
            {
                "request_id": f"req-{len(lines)}",
                "product_id": "P",
                "now": scenario.now,
                "command": encode_command(command),
            }
        )

    send(cmd.LaunchProduct("P", DEFAULT_COMPONENTS, default_params(-2 * WAD)))
    while len(lines) < COMMANDS:
        roll = rng.random()
        if roll < 0.15 or len(lines) < 3:
            scenario.advance(rng.choice((1, 30, 300)))
            for symbol, price in list(prices.items()):
                prices[symbol] = price * rng.randint(9_900, 10_100) // 10_000
                send(cmd.ReportPrice(symbol, prices[symbol], scenario.now, rng.choice(("r1", "r2"))))
        elif roll < 0.55:
            send(cmd.Mint(rng.choice(HOLDERS), rng.randint(1, 5_000) * USDC, 0))
        elif roll < 0.7:
            holder = rng.choice(HOLDERS)
            balance = scenario.product.balance_of(holder)
            send(cmd.Redeem(holder, balance * rng.randint(1, 50) // 100, 0))
        elif roll < 0.9:
            source, destination = rng.sample(HOLDERS, 2)
            balance = scenario.product.balance_of(source)
            send(cmd.Transfer(source, destination, balance * rng.randint(1, 30) // 100))
        else:
            send(cmd.Tick())
    return lines, event_counts, scenario


def run_driver(
    url: str, lines: list[dict[str, Any]], kill_after: int | None, pipeline: bool = False
) -> list[dict[str, Any]]:
    """Feed ``lines`` to a fresh node process; SIGKILL it once ``kill_after`` acknowledgements
    came back (None: let it finish). Every acknowledgement it wrote before dying."""
    process = subprocess.Popen(  # noqa: S603 - our own driver, with this venv's python
        [sys.executable, "-c", DRIVER, "--store", url, *(["--pipeline"] if pipeline else [])],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    stdin = process.stdin

    def feed() -> None:
        try:
            for line in lines:
                stdin.write(json.dumps(line) + "\n")
            stdin.close()
        except BrokenPipeError:
            pass  # killed while we were still writing: the rest was never sent

    feeder = threading.Thread(target=feed)
    feeder.start()
    watchdog = threading.Timer(120, process.kill)  # a hung node fails the test, not the run
    watchdog.start()
    acks: list[dict[str, Any]] = []
    killed = False
    for text in process.stdout:
        acks.append(json.loads(text))
        if kill_after is not None and len(acks) == kill_after and not killed:
            process.send_signal(signal.SIGKILL)
            killed = True  # keep reading: acknowledgements already in the pipe were sent
    returncode = process.wait(timeout=60)
    watchdog.cancel()
    feeder.join(timeout=60)
    stderr = process.stderr.read() if process.stderr else ""
    if kill_after is None:
        assert returncode == 0, stderr
        assert len(acks) == len(lines)
    else:
        assert returncode == -signal.SIGKILL, stderr
        assert len(acks) < len(lines), "the process finished before it could be killed mid-stream"
    return acks


def decisions(url: str) -> Iterator[tuple[str, int]]:
    """(request id, event count) of every stored decision of product P, in log order."""
    node = open_node(url)
    try:
        current: str | None = None
        count = 0
        for record in node.stored_events("P"):
            current = record.request_id if current is None else current
            assert record.request_id == current, "a decision's events are interleaved with another's"
            decode_event(record.type, record.schema, record.payload)
            count += 1
            if record.decision_end:
                yield current, count
                current, count = None, 0
        assert current is None, "the last decision has no end"
    finally:
        node.close()


def check_acknowledged_exactly_once(url: str, acks: list[dict[str, Any]], sent: set[str]) -> None:
    stored = list(decisions(url))
    ids = [request_id for request_id, _ in stored]
    assert len(ids) == len(set(ids)), "a request was applied twice"
    assert set(ids) <= sent, "the store holds events of a request never sent"
    counts = dict(stored)
    for ack in acks:
        assert ack["ok"], ack
        if ack["events"]:
            assert counts.get(ack["request_id"]) == ack["events"], f"acknowledged but not stored: {ack}"


@pytest.mark.parametrize("pipeline", [False, True], ids=["one-by-one", "group-commit"])
def test_a_killed_node_loses_nothing_acknowledged_and_retries_apply_exactly_once(store_url, pipeline):
    """One by one, at most the command in flight is stored unacknowledged; through the
    group-commit writer (every line handed over as soon as read) a whole batch may be."""
    lines, event_counts, expected = command_stream()
    sent: set[str] = set()
    acknowledged: dict[str, dict[str, Any]] = {}
    for kill_after in (*KILL_AFTER_ACKS, None):
        acks = run_driver(store_url, lines, kill_after, pipeline)
        in_flight = len(lines) if pipeline else len(acks) + 1
        sent |= {line["request_id"] for line in lines[:in_flight]}
        for ack in acks:
            assert ack["ok"], f"a command of the stream was rejected: {ack}"
            first = acknowledged.setdefault(ack["request_id"], ack)
            if first is not ack:
                assert ack["replayed"], f"a retry of an acknowledged request applied again: {ack}"
                assert ack["events"] == first["events"]
        check_acknowledged_exactly_once(store_url, acks, sent)
    # Every command applied once, in order: the node ends where the pure domain does.
    assert [request_id for request_id, _ in decisions(store_url)] == [
        line["request_id"] for line, count in zip(lines, event_counts, strict=True) if count
    ]
    node = open_node(store_url)
    try:
        loaded = node.load("P")
        assert loaded is not None
        assert loaded.state == expected.state
        report = audit(node)
        assert report.ok, report.findings
    finally:
        node.close()
