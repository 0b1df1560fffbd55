"""Many streams' first records in one round trip to the store.

The library reads one stream per query; a batch of a thousand commands would make a
thousand queries to learn which of their request ids were handled before (each its own
transaction, and a network round trip on PostgreSQL). This asks once per chunk of ids,
on the library's own tables, and decodes the rows with the application's own mapper.
``batch_view`` also reads the store's last notification id in the same round trip (the
same snapshot of the store), which every batch needs too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg.sql import SQL, Identifier

CHUNK = 500  # ids per query: well under SQLite's bound on parameters


def batch_view(app: Application[Any], originator_ids: Iterable[UUID]) -> tuple[int, dict[UUID, Any]]:
    """The store's last notification id (0 when empty) and the record at version 1 of each
    of ``originator_ids`` that has one, read together (the id first, on another store)."""
    ids = list(dict.fromkeys(originator_ids))
    recorder = app.recorder
    found: dict[UUID, Any] = {}
    store_max: int | None = None
    for start in range(0, max(len(ids), 1), CHUNK):
        chunk = ids[start : start + CHUNK]
        if isinstance(recorder, SQLiteAggregateRecorder):
            chunk_max, rows = _sqlite(recorder, chunk)
        elif isinstance(recorder, PostgresAggregateRecorder):
            chunk_max, rows = _postgres(recorder, chunk)
        else:  # another store: one query per stream, through the library
            chunk_max = _max_of(recorder) if store_max is None else None
            rows = [e for i in chunk for e in recorder.select_events(i, lte=1, limit=1)]
        if store_max is None:
            store_max = chunk_max or 0
        for stored in rows:
            record = app.mapper.to_domain_event(stored)
            found[record.originator_id] = record
    return store_max or 0, found


def _max_of(recorder: object) -> int | None:
    max_id = getattr(recorder, "max_notification_id", None)
    return max_id() if callable(max_id) else None


def _sqlite(recorder: SQLiteAggregateRecorder, ids: Sequence[UUID]) -> tuple[int | None, list[StoredEvent]]:
    marks = ",".join("?" * len(ids))
    statement = (
        f"SELECT * FROM {recorder.events_table_name} "  # noqa: S608 - the library's table name, ids bound
        f"WHERE originator_id IN ({marks}) AND originator_version=1"
    )
    with recorder.datastore.transaction(commit=False) as c:  # one snapshot for both reads
        c.execute(f"SELECT MAX(rowid) FROM {recorder.events_table_name}")  # noqa: S608 - the library's table
        store_max = c.fetchone()[0]
        if not ids:
            return store_max, []
        c.execute(statement, [i.hex for i in ids])
        return store_max, [
            StoredEvent(
                originator_id=recorder.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in c.fetchall()
        ]


def _postgres(
    recorder: PostgresAggregateRecorder, ids: Sequence[UUID]
) -> tuple[int | None, list[StoredEvent]]:
    # One statement, one snapshot, one round trip: the last notification id on every row,
    # and one row of NULLs beside it when none of the ids has a record.
    statement = SQL(
        "SELECT (SELECT MAX(notification_id) FROM {schema}.{table}) AS store_max, "
        "e.originator_id, e.originator_version, e.topic, e.state "
        "FROM (SELECT 1) AS one LEFT JOIN {schema}.{table} AS e "
        "ON e.originator_id = ANY(%s) AND e.originator_version = 1"
    ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [list(ids)], prepare=True)
        rows = curs.fetchall()
    return rows[0]["store_max"], [
        StoredEvent(
            originator_id=row["originator_id"],
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        )
        for row in rows
        if row["originator_id"] is not None
    ]
