"""Many streams' first records in one round trip to the store.

The library reads one stream per query; a batch of a thousand commands would make a
thousand queries to learn which of their request ids were handled before (each its own
transaction, and a network round trip on PostgreSQL). This asks once per chunk of ids,
on the library's own tables, and decodes the rows with the application's own mapper.
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


def first_records(app: Application[Any], originator_ids: Iterable[UUID]) -> dict[UUID, Any]:
    """The record at version 1 of each of ``originator_ids`` that has one."""
    ids = list(dict.fromkeys(originator_ids))
    recorder = app.recorder
    found: dict[UUID, Any] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        if isinstance(recorder, SQLiteAggregateRecorder):
            rows = _sqlite(recorder, chunk)
        elif isinstance(recorder, PostgresAggregateRecorder):
            rows = _postgres(recorder, chunk)
        else:  # another store: one query per stream, through the library
            rows = [e for i in chunk for e in recorder.select_events(i, lte=1, limit=1)]
        for stored in rows:
            record = app.mapper.to_domain_event(stored)
            found[record.originator_id] = record
    return found


def _sqlite(recorder: SQLiteAggregateRecorder, ids: Sequence[UUID]) -> list[StoredEvent]:
    marks = ",".join("?" * len(ids))
    statement = (
        f"SELECT * FROM {recorder.events_table_name} "  # noqa: S608 - the library's table name, ids bound
        f"WHERE originator_id IN ({marks}) AND originator_version=1"
    )
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, [i.hex for i in ids])
        return [
            StoredEvent(
                originator_id=recorder.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in c.fetchall()
        ]


def _postgres(recorder: PostgresAggregateRecorder, ids: Sequence[UUID]) -> list[StoredEvent]:
    statement = SQL(
        "SELECT * FROM {schema}.{table} WHERE originator_id = ANY(%s) AND originator_version = 1"
    ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [list(ids)], prepare=True)
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in curs.fetchall()
        ]
