"""Direct edits of a store's rows, as an attacker with database access would make them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

Row = tuple[int, str, int, bytes]  # (position, originator_id, version, state)


class Tamperer:
    """Reads and rewrites the events table of a SQLite or PostgreSQL store."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.sqlite_path = parts.path[1:] if parts.scheme == "sqlite" else None
        schema = parse_qs(parts.query).get("schema", ["public"])[0]
        self.pg_dsn = url.split("?", maxsplit=1)[0]
        self.pg_table = f'"{schema}".iit_events'

    def _run(self, sql_sqlite: str, sql_pg: str, args: tuple[Any, ...] = ()) -> list[Any]:
        if self.sqlite_path is not None:
            with sqlite3.connect(self.sqlite_path) as conn:
                rows = conn.execute(sql_sqlite, args).fetchall()
                conn.commit()
                return rows
        with psycopg.connect(self.pg_dsn, autocommit=True) as conn:
            cursor = conn.execute(sql_pg.replace("TABLE", self.pg_table).replace("?", "%s"), args)
            return cursor.fetchall() if cursor.description else []

    def product_rows(self, product_stream: str) -> list[Row]:
        return [
            (int(r[0]), str(r[1]), int(r[2]), bytes(r[3]))
            for r in self._run(
                "SELECT rowid, originator_id, originator_version, state FROM stored_events "
                "WHERE originator_id = ? ORDER BY originator_version",
                "SELECT notification_id, originator_id::text, originator_version, state FROM TABLE "
                "WHERE originator_id::text = ? ORDER BY originator_version",
                (product_stream,),
            )
        ]

    def edit_payload(self, row: Row, change: Callable[[dict[str, Any]], None]) -> None:
        record = json.loads(row[3])
        change(record["payload"])
        self.set_state(row, json.dumps(record).encode())

    def set_state(self, row: Row, state: bytes) -> None:
        self._run(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            "UPDATE TABLE SET state = ? WHERE notification_id = ?",
            (state, row[0]),
        )

    def set_topic(self, row: Row, topic: str) -> None:
        self._run(
            "UPDATE stored_events SET topic = ? WHERE rowid = ?",
            "UPDATE TABLE SET topic = ? WHERE notification_id = ?",
            (topic, row[0]),
        )

    def delete(self, row: Row) -> None:
        self._run(
            "DELETE FROM stored_events WHERE rowid = ?",
            "DELETE FROM TABLE WHERE notification_id = ?",
            (row[0],),
        )

    def swap_contents(self, first: Row, second: Row) -> None:
        """Swap what two events say, leaving their versions in place (a reordering)."""
        self.set_state(first, second[3])
        self.set_state(second, first[3])
