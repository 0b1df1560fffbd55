"""The audit in several processes: product streams are independent, so the store is cut
into shares by ranges of stream ids, each replayed by a process of its own with a node of
its own on the same store (SQLite or PostgreSQL), and the shares' reports are merged by
``adapters.store.audit``.

The ranges are drawn so that every share has about the same work: each product stream
weighs its events (a replayed event costs about ``EVENT_WEIGHT`` times a marker's read);
the other rows (request markers, the registry) have random stream ids and spread evenly
over the ranges.

Processes are forked when this process runs no other thread (the cheap start, and safe:
no lock can be held by a thread that does not exist in the child); otherwise they come
from a fork server (started once, with the audit preloaded), since forking a threaded
process — a gRPC server, a PostgreSQL connection pool — can copy a lock some thread holds.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import traceback
from collections.abc import Callable
from itertools import pairwise
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from uuid import UUID

from eventsourcing.sqlite import SQLiteApplicationRecorder

from adapters.store.audit_replay import ShareReport, replay_share
from adapters.store.audit_rows import Share
from adapters.store.node import Node
from adapters.store.records import product_stream_id

EVENT_WEIGHT = 4
# Beyond this many products, weigh each alike instead of asking the store for each one's length.
WEIGHED_PRODUCTS_MAX = 256
_SPAN = 1 << 128  # stream ids are UUIDs: 128-bit numbers

OnRead = Callable[[int], None]  # rows read since the last call


class AuditProcessFailed(RuntimeError):
    """A process of a parallel audit ended without its report."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_start_processes() -> bool:
    """Whether this process may start others (a daemonic process may not)."""
    return not multiprocessing.current_process().daemon


def plan_shares(node: Node, stop: int, count: int) -> list[Share]:
    """At most ``count`` shares of the rows up to ``stop``, by ranges of stream ids, of about
    equal work each, together covering every stream id once."""
    products = node.product_ids()
    weigh = len(products) <= WEIGHED_PRODUCTS_MAX
    points = sorted(
        (product_stream_id(p).int, _stream_length(node, p) * EVENT_WEIGHT if weigh else 1) for p in products
    )
    others = max(stop - sum(w for _, w in points) // EVENT_WEIGHT, 0) if weigh else 0
    cuts = _cuts(points, others, count)
    bounds = [None, *(UUID(int=c) for c in cuts), None]
    return [Share(stop, low, high) for low, high in pairwise(bounds)]


def _stream_length(node: Node, product_id: str) -> int:
    last = node.recorder.select_events(product_stream_id(product_id), desc=True, limit=1)
    return last[0].originator_version if last else 0


def _cuts(points: list[tuple[int, int]], others: int, count: int) -> list[int]:
    """Stream ids that cut [0, 2¹²⁸) into up to ``count`` ranges of about equal work: each
    point (a product's stream id) weighs what it says, and ``others`` is spread evenly over
    the whole span. A cut falls inside a gap between products, or at a product (which then
    begins the next range) or just after it, whichever is nearer the ideal."""
    total = sum(w for _, w in points) + others
    targets = [total * k / count for k in range(1, count)]
    cuts: list[int] = []
    done, at = 0.0, 0
    for point, weight in [*points, (_SPAN, 0)]:
        gap = others * (point - at) / _SPAN
        while targets and done + gap >= targets[0]:
            target = targets.pop(0)
            cuts.append(at + int((target - done) / others * _SPAN) if others else point)
        done += gap
        while targets and done + weight >= targets[0]:
            target = targets.pop(0)
            cuts.append(point if target - done <= done + weight - target else point + 1)
        done += weight
        at = point
    return sorted({c for c in cuts if 0 < c < _SPAN})


def replay_in_processes(
    node: Node, shares: list[Share], product_id: str | None, on_read: OnRead | None, report_every: int
) -> list[ShareReport]:
    """Replay each share in a process of its own; their reports, in the order of ``shares``.
    ``on_read(rows)`` is called as the processes report rows read (every ``report_every``)."""
    context = _context()
    env = _worker_env(node)
    chunk = report_every if on_read is not None else 0
    running: dict[Connection, tuple[int, BaseProcess]] = {}
    processes: list[BaseProcess] = []
    reports: list[ShareReport | None] = [None] * len(shares)
    frozen = context.get_start_method() == "fork"
    if frozen:
        # The child must never collect (and finalise) this process's objects, such as its
        # open store connections: hide them from its collector.
        gc.freeze()
    try:
        for index, share in enumerate(shares):
            receiver, sender = context.Pipe(duplex=False)
            process: BaseProcess = context.Process(
                target=_replay_share_here,
                args=(env, share, product_id, chunk, sender),
                name=f"iit-audit-{index}",
                daemon=True,
            )
            process.start()
            sender.close()
            running[receiver] = (index, process)
            processes.append(process)
    finally:
        if frozen:
            gc.unfreeze()
    try:
        while running:
            for ready in wait(list(running)):
                assert isinstance(ready, Connection)
                index, worker = running[ready]
                try:
                    kind, value = ready.recv()
                except EOFError:
                    worker.join()
                    raise AuditProcessFailed(
                        f"audit process {worker.name} ended without a report (exit code {worker.exitcode})"
                    ) from None
                if kind == "read":
                    assert on_read is not None
                    on_read(value)
                elif kind == "done":
                    reports[index] = value
                    del running[ready]
                    ready.close()
                else:
                    raise value
    finally:
        for worker in processes:
            if worker.is_alive() and running:
                worker.terminate()
            worker.join()
    assert all(r is not None for r in reports)
    return [r for r in reports if r is not None]


def _context() -> ForkContext | ForkServerContext | SpawnContext:
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def _worker_env(node: Node) -> dict[str, str]:
    """The node's environment, for a reading node of the same store in another process:
    with the database's absolute path (that process may not share this one's working
    directory), and creating no tables (the store exists; the processes would race to
    create its tables and functions, which PostgreSQL refuses, and a moved SQLite file
    must fail the audit rather than be replaced by an empty store)."""
    env = {k: v for k, v in node.env.items() if k.removeprefix(f"{node.name.upper()}_") != "CREATE_TABLE"}
    env["CREATE_TABLE"] = "no"
    recorder = node.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        name = recorder.datastore.pool.db_name
        if not name.startswith("file:") and not os.path.isabs(name):
            name = os.path.abspath(name)
        env.pop(f"{node.name.upper()}_SQLITE_DBNAME", None)
        env["SQLITE_DBNAME"] = name
    return env


def _replay_share_here(
    env: dict[str, str], share: Share, product_id: str | None, chunk: int, sender: Connection
) -> None:
    """A process of a parallel audit: replay one share, send its report (or its error)."""
    # A short life that frees everything at its end: the collector would only scan the
    # replay's live objects over and over.
    gc.disable()
    try:
        node = Node(env)
        try:
            if (node.recorder.max_notification_id() or 0) < share.stop:
                # Not the store the audit began on (moved, replaced, or a new empty one).
                raise AuditProcessFailed(f"the store has fewer than the {share.stop} rows the audit saw")
            counted = [0, 0]  # read, reported

            def count(_position: int) -> None:
                counted[0] += 1
                if counted[0] - counted[1] >= chunk:
                    sender.send(("read", counted[0] - counted[1]))
                    counted[1] = counted[0]

            report = replay_share(node, share, product_id, count if chunk else None)
            if counted[0] > counted[1]:
                sender.send(("read", counted[0] - counted[1]))
        finally:
            node.close()
        sender.send(("done", report))
    except BaseException as error:  # every failure goes back to the audit
        _send_error(sender, error)
    finally:
        sender.close()


def _send_error(sender: Connection, error: BaseException) -> None:
    try:
        sender.send(("error", error))
    except Exception:  # an error that cannot be pickled goes as its traceback
        detail = "".join(traceback.format_exception(error))
        sender.send(("error", AuditProcessFailed(f"an audit process failed:\n{detail}")))
