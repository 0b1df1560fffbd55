"""Every statement of raw SQL the node writes itself, for SQLite and PostgreSQL: what the
eventsourcing library's own queries cannot do in one round trip, and the tables of the
read models kept beside the library's.

- On the library's events table: ``batch_view``, many streams' first records with the
  store's last notification id (a batch's markers), and ``share_pages``, the rows of a
  share of the store in notification order (the audit's read).
- On the read models' tables: ``ActivitySql`` (``adapters.store.activity``) and
  ``NavHistorySql`` (``adapters.store.nav_history``).

Only table names (the library's, this module's own, and the store's schema) are formatted
into a statement; every value is a bound parameter.

``batch_view``: the library reads one stream per query; a batch of a thousand commands
would make a thousand queries to learn which of their request ids were handled before
(each its own transaction, and a network round trip on PostgreSQL). This asks once per
chunk of ids, on the library's own tables, and decodes the rows with the application's
own mapper. It also reads the store's last notification id in the same round trip (the
same snapshot of the store), which every batch needs too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol
from uuid import UUID

from attrs import frozen
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Identifier

CHUNK = 500  # ids per query: well under SQLite's bound on parameters
PAGE_SIZE = 1_000  # rows per page of a share

# position, stream id as stored, version, topic, state
RawRow = tuple[int, Any, int, str, bytes]


# The library's events table: a batch's markers -----------------------------------------


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


# The library's events table: the audit's share of the rows --------------------------------


class ShareBounds(Protocol):
    """Which rows a share reads (``adapters.audit.rows.Share``)."""

    @property
    def stop(self) -> int: ...
    @property
    def low(self) -> UUID | None: ...
    @property
    def high(self) -> UUID | None: ...
    @property
    def own(self) -> tuple[UUID, ...]: ...
    @property
    def listed(self) -> tuple[UUID, ...]: ...
    @property
    def whole(self) -> bool: ...
    @property
    def has_range(self) -> bool: ...


def share_pages(
    app: Application[Any], share: ShareBounds
) -> tuple[Iterator[Sequence[RawRow]], Callable[[Any], Any]]:
    """The pages of the rows of ``share``, in notification order, and how a stream id as
    stored becomes the library's (a UUID)."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        return _sqlite_pages(recorder, share), recorder.convert_originator_id
    if isinstance(recorder, PostgresApplicationRecorder):
        return _postgres_pages(recorder, share), _as_is
    return _library_pages(app, share), _as_is


def _as_is(stored_id: Any) -> Any:  # noqa: ANN401 - a stream id of the library's
    return stored_id


def _sqlite_pages(recorder: SQLiteApplicationRecorder, share: ShareBounds) -> Iterator[list[RawRow]]:
    which, bounds = "", []
    if not share.whole:
        clauses = []
        if share.own:
            clauses.append(f"originator_id IN ({','.join('?' * len(share.own))})")
            bounds += [s.hex for s in share.own]
        if share.has_range:
            others = ["1"]
            if share.listed:
                others.append(f"originator_id NOT IN ({','.join('?' * len(share.listed))})")
                bounds += [s.hex for s in share.listed]
            if share.low is not None:
                others.append("originator_id >= ?")
                bounds.append(share.low.hex)
            if share.high is not None:
                others.append("originator_id < ?")
                bounds.append(share.high.hex)
            clauses.append(f"({' AND '.join(others)})")
        which = f" AND ({' OR '.join(clauses) or '0'})"
    statement = (
        "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608 - the library's table name; values bound
        f"FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ?{which} ORDER BY rowid LIMIT ?"
    )
    after = 0
    while True:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None  # plain tuples, in the order selected
            cursor.execute(statement, [after, share.stop, *bounds, PAGE_SIZE])
            rows: list[RawRow] = cursor.fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _postgres_pages(recorder: PostgresApplicationRecorder, share: ShareBounds) -> Iterator[list[RawRow]]:
    which: Composable = SQL("")
    bounds: list[Any] = []
    if not share.whole:
        clauses: list[Composable] = []
        if share.own:
            clauses.append(SQL("originator_id = ANY(%s)"))
            bounds.append(list(share.own))
        if share.has_range:
            others: list[Composable] = [SQL("TRUE")]
            if share.listed:
                others.append(SQL("NOT (originator_id = ANY(%s))"))
                bounds.append(list(share.listed))
            if share.low is not None:
                others.append(SQL("originator_id >= %s"))
                bounds.append(share.low)
            if share.high is not None:
                others.append(SQL("originator_id < %s"))
                bounds.append(share.high)
            clauses.append(SQL("({})").format(SQL(" AND ").join(others)))
        which = SQL(" AND ({})").format(SQL(" OR ").join(clauses) if clauses else SQL("FALSE"))
    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{table} "
        "WHERE notification_id > %s AND notification_id <= %s{which} ORDER BY notification_id LIMIT %s"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
        which=which,
    )
    after = 0
    while True:
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, [after, share.stop, *bounds, PAGE_SIZE], prepare=True)
            rows = cursor.fetchall()
        if not rows:
            return
        yield [(row[0], row[1], row[2], row[3], bytes(row[4])) for row in rows]
        after = rows[-1][0]


def _library_pages(app: Application[Any], share: ShareBounds) -> Iterator[list[RawRow]]:
    """Any other store (the in-memory one): the library's notifications, whole store only."""
    assert share.whole, "only SQLite and PostgreSQL stores are split between processes"
    start = 1
    while page := app.recorder.select_notifications(start, PAGE_SIZE, stop=share.stop):
        yield [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in page]
        start = page[-1].id + 1


# The read models' tables ------------------------------------------------------------------


@frozen
class _Dialect:
    """How a read model's statements are written on one store: its placeholder, the prefix
    of its tables (on PostgreSQL the store's schema, quoted) and the datastore to run them on."""

    mark: str
    prefix: str
    postgres: bool
    datastore: Any


def _dialect_of(app: Application[Any]) -> _Dialect:
    recorder = app.recorder
    if isinstance(recorder, SQLiteAggregateRecorder):
        return _Dialect("?", "", postgres=False, datastore=recorder.datastore)
    if isinstance(recorder, PostgresAggregateRecorder):
        schema = '"' + str(recorder.datastore.schema).replace('"', '""') + '".'
        return _Dialect("%s", schema, postgres=True, datastore=recorder.datastore)
    raise TypeError(f"no read model on a {type(recorder).__name__} store")  # pragma: no cover - never opened


ACTIVITY_COLUMNS = (
    "position, product_id, holder_id, at, kind, tokens, collateral, fee, nav_per_token, "
    "counterparty, request_id"
)


class ActivitySql:
    """The activity model's statements in both dialects: placeholders, and table names (on
    PostgreSQL in the store's schema, quoted). Only those names are formatted into the SQL;
    every value is a parameter."""

    def __init__(self, app: Application[Any]) -> None:
        dialect = _dialect_of(app)
        self.datastore = dialect.datastore
        entries, cursor = f"{dialect.prefix}iit_activity", f"{dialect.prefix}iit_read_model_position"
        p = dialect.mark
        self.create = (
            f"CREATE TABLE IF NOT EXISTS {cursor} (model TEXT PRIMARY KEY, position BIGINT NOT NULL, "
            "version INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {entries} (position BIGINT NOT NULL, product_id TEXT NOT NULL, "
            "holder_id TEXT NOT NULL, at BIGINT NOT NULL, kind TEXT NOT NULL, tokens TEXT NOT NULL, "
            "collateral TEXT NOT NULL, fee TEXT NOT NULL, nav_per_token TEXT NOT NULL, "
            "counterparty TEXT NOT NULL, request_id TEXT NOT NULL, PRIMARY KEY (position, holder_id))",
            f"CREATE INDEX IF NOT EXISTS iit_activity_by_holder ON {entries} "
            "(holder_id, product_id, position)",
        )
        self.register = (
            f"INSERT INTO {cursor} (model, position, version) VALUES ({p}, 0, {p}) "  # noqa: S608
            "ON CONFLICT (model) DO NOTHING"
        )
        self.read_position = f"SELECT position, version FROM {cursor} WHERE model = {p}"  # noqa: S608
        self.clear = f"DELETE FROM {entries}"  # noqa: S608
        self.reset = f"UPDATE {cursor} SET position = 0, version = {p} WHERE model = {p}"  # noqa: S608
        self.insert = (
            f"INSERT INTO {entries} ({ACTIVITY_COLUMNS}) VALUES ({', '.join([p] * 11)}) "  # noqa: S608
            "ON CONFLICT (position, holder_id) DO NOTHING"
        )
        # Compare and set: only from the position the page was read after.
        self.advance = f"UPDATE {cursor} SET position = {p} WHERE model = {p} AND position = {p}"  # noqa: S608
        self.select = f"SELECT {ACTIVITY_COLUMNS} FROM {entries} WHERE holder_id = {p}"  # noqa: S608
        self.p = p

    def page(
        self, holder_id: str, product_id: str, after: int, size: int, newest_first: bool
    ) -> tuple[str, tuple[object, ...]]:
        """The statement and arguments of ``ActivityModel.page``: one row more than ``size``."""
        p = self.p
        statement = self.select
        args: list[object] = [holder_id]
        if product_id:
            statement += f" AND product_id = {p}"
            args.append(product_id)
        if after:
            statement += f" AND position {'<' if newest_first else '>'} {p}"
            args.append(after)
        statement += f" ORDER BY position {'DESC' if newest_first else 'ASC'} LIMIT {int(size) + 1}"
        return statement, tuple(args)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor


class NavHistorySql:
    """The NAV history's few statements, in each store's dialect and schema."""

    def __init__(self, app: Application[Any]) -> None:
        dialect = _dialect_of(app)
        self.datastore, self.mark, prefix = dialect.datastore, dialect.mark, dialect.prefix
        if dialect.postgres:
            self.upsert_tail = (
                "ON CONFLICT(name) DO UPDATE SET position=GREATEST("
                f"{prefix}iit_read_models.position, excluded.position)"
            )
        else:
            self.upsert_tail = "ON CONFLICT(name) DO UPDATE SET position=MAX(position, excluded.position)"
        self.points = f"{prefix}iit_nav_points"
        self.models = f"{prefix}iit_read_models"
        self.create = (
            f"CREATE TABLE IF NOT EXISTS {self.points} (product_id TEXT NOT NULL, "
            "position BIGINT NOT NULL, at BIGINT NOT NULL, index_price TEXT NOT NULL, "
            "nav_per_token TEXT NOT NULL, leverage TEXT NOT NULL, supply TEXT NOT NULL, "
            "PRIMARY KEY (product_id, position))",
            f"CREATE INDEX IF NOT EXISTS iit_nav_points_at ON {self.points} (product_id, at)",
            f"CREATE TABLE IF NOT EXISTS {self.models} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
        )
        # The table names are this module's own (and the store's schema): nothing a caller sent.
        self.select_position = self.q(f"SELECT position FROM {self.models} WHERE name=?")  # noqa: S608
        self.delete_points = f"DELETE FROM {self.points}"  # noqa: S608
        self.delete_model = self.q(f"DELETE FROM {self.models} WHERE name=?")  # noqa: S608
        self.insert_points = self.q(
            f"INSERT INTO {self.points} VALUES (?,?,?,?,?,?,?) ON CONFLICT(product_id, position) DO NOTHING"  # noqa: S608
        )
        self.upsert_model = self.q(f"INSERT INTO {self.models} VALUES (?,?) {self.upsert_tail}")  # noqa: S608
        self.select_points = f"SELECT * FROM {self.points} WHERE "  # noqa: S608

    def q(self, statement: str) -> str:
        return statement.replace("?", self.mark)

    def points_of(
        self, product_id: str, start: int | None, end: int | None, after_position: int
    ) -> tuple[str, tuple[object, ...]]:
        """The statement and arguments of ``NavHistory.points``, in log order."""
        clauses, args = ["product_id=?", "position>?"], [product_id, after_position]
        if start is not None:
            clauses.append("at>=?")
            args.append(start)
        if end is not None:
            clauses.append("at<=?")
            args.append(end)
        statement = self.q(self.select_points + " AND ".join(clauses) + " ORDER BY position")
        return statement, tuple(args)

    @contextmanager
    def transaction(self, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor
