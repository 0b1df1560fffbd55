"""What the benchmark drives: products launched like an operator would, client threads
sending mints, transfers and redeems through the group-commit writer, and a node that
remembers how many records each commit carried (so the library baseline can append the
same records in the same batches)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from attrs import frozen
from eventsourcing.application import Application
from eventsourcing.persistence import Recording

from adapters.rejections import REJECTIONS
from adapters.store.batch import Batches
from adapters.store.contract import Request
from adapters.store.event_store import EventStore
from adapters.store.node import Node
from adapters.store.oracle_book import OracleBook
from adapters.store.writer import GroupCommitWriter
from benchmarks.uuid7 import uuid7
from domain import commands as cmd
from domain.fixedpoint import WAD
from domain.model import Component
from domain.params import default_params

T0 = 1_700_000_000
NOW = T0 + 1  # every command is decided at one instant: no accrual, one event per command
USDC = 10**6
COMPONENTS = (Component("BTC", WAD // 100), Component("ETH", WAD // 10))
PRICES = {"BTC": 60_000 * WAD, "ETH": 3_000 * WAD}
HOLDERS = 64  # a bounded set: per-event cost in the domain grows with the holders (see RESULTS.md)
CLIENTS = 16
# The clients' request ids: "uuid7" (the recommended form, SPEC §2: a store keys them by
# their time) or "free" (any other string: keyed by a hash, at random places in the index).
ID_FORMS = ("uuid7", "free")


def request_id(ids: str, free_form: str) -> str:
    """A new request id of the form ``ids``; ``free_form`` is the free-form one."""
    return uuid7() if ids == "uuid7" else free_form


class RecordingNode(Node):
    """The node, noting the number of records of every commit while ``recording`` is set."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.recording = False
        self.batch_sizes: list[int] = []
        # The node's parts, wired as ``Node`` wires them, on a store that notes its commits.
        self.store = RecordingStore(self)
        self.oracle = OracleBook(self.store)
        self.batches = Batches(self.store, self.oracle)


class RecordingStore(EventStore):
    """The node's event store, noting the number of records each of its commits puts."""

    def __init__(self, node: RecordingNode) -> None:
        super().__init__(node)
        self.node = node

    def put(self, records: list[Any]) -> list[Recording[Any]]:
        if self.node.recording:
            self.node.batch_sizes.append(len(records))
        return super().put(records)


class Appender(Application[Any]):
    """The library on its own, on the same tables as the node: the baseline's appender,
    through the library's event store (``events.put``: map, encode, insert in one
    transaction), the same path the node stores its batches by."""

    name = Node.name


def launch(node: Node, product_id: str) -> None:
    """Launch a product, report its prices and give every holder tokens to move."""
    requests = [
        Request(
            product_id,
            cmd.LaunchProduct(product_id, COMPONENTS, default_params()),
            f"{product_id}:launch",
            T0,
        )
    ]
    requests += [
        Request(product_id, cmd.ReportPrice(symbol, price, T0, "r1"), f"{product_id}:price:{symbol}", T0)
        for symbol, price in PRICES.items()
    ]
    requests += [
        Request(product_id, cmd.Mint(f"h{h}", 1_000_000 * USDC, 0), f"{product_id}:seed:{h}", NOW)
        for h in range(HOLDERS)
    ]
    check_results(node.execute_batch(requests))


def command(step: int, holder: int) -> cmd.Command:
    """The mix: a mint, a transfer to the next holder, a small redeem, in turn."""
    if step % 3 == 0:
        return cmd.Mint(f"h{holder}", 100 * USDC, 0)
    if step % 3 == 1:
        return cmd.Transfer(f"h{holder}", f"h{(holder + 1) % HOLDERS}", WAD)
    return cmd.Redeem(f"h{holder}", WAD // 10, 0)


def fill_requests(product_id: str, start: int, count: int, ids: str = "free") -> list[Request]:
    """``count`` commands of the mix, numbered from ``start``, spread over the holders."""
    return [
        Request(product_id, command(k, k % HOLDERS), request_id(ids, f"{product_id}:fill:{k}"), NOW)
        for k in range(start, start + count)
    ]


@frozen
class ClientRun:
    commands: int
    elapsed_s: float
    batches: int
    rejected: int
    latencies_s: tuple[float, ...]


def run_clients(
    writer: GroupCommitWriter,
    products: Sequence[str],
    per_client: int,
    tag: str,
    clients: int = CLIENTS,
    ids: str = "uuid7",
) -> ClientRun:
    """``clients`` threads, each sending ``per_client`` commands one after another (each
    waits for its durable acknowledgement), client ``i`` on ``products[i % len]``, with
    request ids of the form ``ids`` (each made as the command is sent, as a client would)."""
    start = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    rejected = [0] * clients

    def client(number: int) -> None:
        product_id = products[number % len(products)]
        holder = number % HOLDERS
        start.wait()
        for step in range(per_client):
            began = time.perf_counter()
            try:
                rid = request_id(ids, f"{tag}:{number}:{step}")
                writer.execute(product_id, command(step, holder), rid, NOW)
            except REJECTIONS:
                rejected[number] += 1
            latencies[number].append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    batches_before = writer.batches
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return ClientRun(
        commands=clients * per_client,
        elapsed_s=elapsed,
        batches=writer.batches - batches_before,
        rejected=sum(rejected),
        latencies_s=tuple(sorted(x for per in latencies for x in per)),
    )


def check_results(results: Sequence[object]) -> None:
    """Setup must not be rejected: a rejected command would make the figures lie."""
    errors = [r for r in results if isinstance(r, REJECTIONS)]
    if errors:
        raise RuntimeError(f"{len(errors)} setup command(s) rejected, first: {errors[0]!r}")
