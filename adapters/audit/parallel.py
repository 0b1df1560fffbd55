"""The audit in several processes: product streams are independent, so the store is cut
into shares, each replayed by a process of its own with a node of its own on the same store
(SQLite or PostgreSQL), and the shares' reports are merged by ``adapters.audit.report``.

Each product's stream goes whole to one share, the heaviest first to the lightest share (a
product weighs its events; a replayed event costs about ``EVENT_WEIGHT`` times the read of
another row). The other rows — request markers, the registry — are cut by ranges of ids,
each share taking the part that brings it up to an equal share of the work: a cut is the
id found at that fraction of those rows in id order (markers keyed by time sit together,
``adapters/store/key_format.py``), or, on a store this cannot ask, that fraction of the id
space (random ids spread evenly). With more products than ``WEIGHED_PRODUCTS_MAX``, shares are equal
ranges of every stream id, products included (so many random ids even out).

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

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from adapters.audit.engine import ShareReport, replay_share
from adapters.audit.rows import Share
from adapters.store.node import Node
from adapters.store.records import product_stream_id

EVENT_WEIGHT = 8
# Beyond this many products, shares are ranges of all stream ids, products included: no
# query per product for its length, and no list of every product in each share's query.
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
    """At most ``count`` shares of the rows up to ``stop``, of about equal work each, that
    together hold every stream once."""
    products = node.product_ids()
    if len(products) > WEIGHED_PRODUCTS_MAX:
        return ranges_of_every_stream(stop, count)
    weights = {product_stream_id(p): _stream_length(node, p) * EVENT_WEIGHT for p in products}
    others = max(stop - sum(weights.values()) // EVENT_WEIGHT, 0)
    listed = tuple(sorted(weights))

    def id_at(fraction: float) -> UUID | None:
        return other_stream_at(node, listed, int(fraction * others))

    return shares_of(weights, others, stop, count, id_at)


def other_stream_at(node: Node, products: tuple[UUID, ...], offset: int) -> UUID | None:
    """The id of the ``offset``-th stream (in id order, from 0) that is not one of
    ``products``, counting streams by their first record; None past the last, or on a
    store other than SQLite and PostgreSQL."""
    recorder = node.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        marks = ",".join("?" * len(products))
        statement = (
            f"SELECT originator_id FROM {recorder.events_table_name} "  # noqa: S608 - the library's table; values bound
            f"WHERE originator_version = 1 AND originator_id NOT IN ({marks}) "
            "ORDER BY originator_id LIMIT 1 OFFSET ?"
        )
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, [*(p.hex for p in products), offset])
            row = cursor.fetchone()
        return None if row is None else UUID(row[0])
    if isinstance(recorder, PostgresApplicationRecorder):
        query = SQL(
            "SELECT originator_id FROM {schema}.{table} WHERE originator_version = 1 "
            "AND NOT (originator_id = ANY(%s)) ORDER BY originator_id LIMIT 1 OFFSET %s"
        ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, [list(products), offset])
            found = curs.fetchone()
        return None if found is None else UUID(str(found["originator_id"]))
    return None


def ranges_of_every_stream(stop: int, count: int) -> list[Share]:
    """``count`` shares, each an equal range of every stream id."""
    bounds = [None, *(UUID(int=_SPAN * k // count) for k in range(1, count)), None]
    return [Share(stop, low, high) for low, high in pairwise(bounds)]


def shares_of(
    weights: dict[UUID, int],
    others: int,
    stop: int,
    count: int,
    id_at: Callable[[float], UUID | None] | None = None,
) -> list[Share]:
    """Up to ``count`` shares: each product stream (of its weight) whole in one, and the rows
    of every other stream (``others`` of them) by ranges: cut where ``id_at(fraction)``
    says that fraction of them ends, else as if spread evenly over the ids."""
    owned, loads = _deal(weights, count)
    cuts = _cuts(_fill(loads, others), id_at)
    bounds = [None, *(UUID(int=c) for c in cuts), None]
    listed = tuple(sorted(weights))
    shares = [
        Share(stop, low, high, tuple(sorted(own)), listed)
        for (low, high), own in zip(pairwise(bounds), owned, strict=True)
    ]
    return [s for s in shares if s.own or s.has_range]


def _stream_length(node: Node, product_id: str) -> int:
    last = node.recorder.select_events(product_stream_id(product_id), desc=True, limit=1)
    return last[0].originator_version if last else 0


def _deal(weights: dict[UUID, int], count: int) -> tuple[list[list[UUID]], list[int]]:
    """Each product to the lightest share so far, heaviest first: the products of each share
    and each share's weight. No share weighs more than an equal share plus one product."""
    owned: list[list[UUID]] = [[] for _ in range(count)]
    loads = [0] * count
    for stream in sorted(weights, key=lambda s: (-weights[s], s)):
        lightest = loads.index(min(loads))
        owned[lightest].append(stream)
        loads[lightest] += weights[stream]
    return owned, loads


def _fill(loads: list[int], others: int) -> list[float]:
    """How much of ``others`` each share takes so that the lightest ones rise to one level
    (water filling): every share below the level is topped up to it, the others take none."""
    ordered = sorted(loads)
    level = 0.0
    for filled in range(1, len(ordered) + 1):
        level = (others + sum(ordered[:filled])) / filled
        if filled == len(ordered) or level <= ordered[filled]:
            break
    return [max(level - load, 0.0) for load in loads]


def _cuts(portions: list[float], id_at: Callable[[float], UUID | None] | None = None) -> list[int]:
    """Stream ids that cut [0, 2¹²⁸) into consecutive ranges, one per portion, each holding
    its portion of the other rows: at ``id_at(fraction)`` if given and it finds one, else
    as wide as its portion of the id space (ids in ``[1, 2¹²⁸ − 1]``, never decreasing)."""
    total = sum(portions)
    cuts: list[int] = []
    done = 0.0
    for portion in portions[:-1]:
        done += portion
        found = id_at(done / total) if id_at is not None and total else None
        cut = found.int if found is not None else (int(done / total * _SPAN) if total else 0)
        cuts.append(max(min(max(cut, 1), _SPAN - 1), cuts[-1] if cuts else 1))
    return cuts


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
