"""The holders' activity: a durable read model of the log, in the store itself (SQLite or
PostgreSQL), for ``TokenService.ListActivity``.

Each mint, redemption (at NAV or pro rata after settlement) and transfer becomes one row
per holder it touched (a transfer: one out, one in), keyed by the event's store position
and the holder. The model follows the notification log from its own position, kept in
the same database: every page of the log is applied in ONE transaction with the new
position, so a crash leaves the model as of a whole page, and a restarted node resumes
where it stopped. The position moves by compare and set, from the position the page was
read after: two processes catching up at once (nodes on one PostgreSQL store, or a
node and ``iit rebuild-read-models``) insert nothing twice, and neither moves the
position back nor past rows that were not applied.

It is rebuilt from the first event on demand (``rebuild``), and on its own when its
row format (``MODEL_VERSION``) changed or the store is younger than the model (a store
that was reset under it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from adapters.store.codec import decode_event
from adapters.store.node import Node
from adapters.store.records import StoredProductEvent
from adapters.store.sql import ActivitySql
from domain import events as ev

MODEL = "activity"
MODEL_VERSION = 1
PAGE = 1_000
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


@frozen
class Entry:
    """One change to one holder's tokens. Amounts are integers in base units; ``tokens``
    is signed (what the holder's balance moved by)."""

    position: int
    product_id: str
    holder_id: str
    at: int
    kind: str  # mint, redeem, settlement_redeem, transfer_in, transfer_out
    tokens: int
    collateral: int  # paid in (mint) or out (redemptions); 0 for transfers
    fee: int
    nav_per_token_wad: int  # after the event; 0 for transfers
    counterparty: str  # the other holder of a transfer
    request_id: str


def entries_of(position: int, record: StoredProductEvent, event: ev.Event) -> list[Entry]:
    """The activity rows of one stored event (none for events that move no holder's tokens)."""

    def entry(
        holder: str, kind: str, tokens: int, collateral: int = 0, fee: int = 0, nav: int = 0, other: str = ""
    ) -> Entry:
        return Entry(
            position,
            record.product_id,
            holder,
            event.at,
            kind,
            tokens,
            collateral,
            fee,
            nav,
            other,
            record.request_id,
        )

    match event:
        case ev.Minted():
            return [
                entry(
                    event.holder_id,
                    "mint",
                    event.tokens_minted,
                    event.collateral_in,
                    event.fee,
                    event.nav_after_wad,
                )
            ]
        case ev.Redeemed():
            return [
                entry(
                    event.holder_id,
                    "redeem",
                    -event.tokens_burned,
                    event.collateral_out,
                    event.fee,
                    event.nav_after_wad,
                )
            ]
        case ev.SettlementRedeemed():
            return [entry(event.holder_id, "settlement_redeem", -event.tokens_burned, event.collateral_out)]
        case ev.Transferred():
            return [
                entry(event.from_holder_id, "transfer_out", -event.tokens, other=event.to_holder_id),
                entry(event.to_holder_id, "transfer_in", event.tokens, other=event.from_holder_id),
            ]
    return []  # fmt: skip


def _values(row: Any) -> tuple[Any, ...]:  # noqa: ANN401 - a row of either driver
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


class ActivityModel:
    """The activity read model of one store (see the module's docstring)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.sql = ActivitySql(node)
        self._lock = threading.Lock()
        with self.sql.transaction() as c:
            for statement in self.sql.create:
                c.execute(statement)
            c.execute(self.sql.register, (MODEL, MODEL_VERSION))

    def position(self) -> tuple[int, int]:
        """(the last store position applied, the row format it was built with)."""
        with self.sql.transaction() as c:
            c.execute(self.sql.read_position, (MODEL,))
            position, version = _values(c.fetchone())
        return int(position), int(version)

    def rebuild(self) -> int:
        """Drop every row and apply the whole log again; return the model's position."""
        with self._lock:
            with self.sql.transaction() as c:
                c.execute(self.sql.clear)
                c.execute(self.sql.reset, (MODEL_VERSION, MODEL))
            return self._follow()

    def catch_up(self) -> int:
        """Apply what the log holds beyond the model's position; return the new position."""
        position, version = self.position()
        store_max = self.node.recorder.max_notification_id() or 0
        if version != MODEL_VERSION or position > store_max:
            return self.rebuild()
        if position == store_max:
            return position
        with self._lock:
            return self._follow()

    def _follow(self) -> int:
        position, _ = self.position()
        while True:
            page = self.node.recorder.select_notifications(position + 1, PAGE)
            if not page:
                return position
            rows: list[Entry] = []
            for notification in page:
                record = self.node.mapper.to_domain_event(notification)
                if isinstance(record, StoredProductEvent) and record.type in _KINDS:
                    event = decode_event(record.type, record.schema, record.payload)
                    rows.extend(entries_of(notification.id, record, event))
            if self._store(rows, position, page[-1].id):
                position = page[-1].id
            else:  # another process moved the position (a follower, or a rebuild): resume from it
                position, _ = self.position()

    def _store(self, rows: Sequence[Entry], previous: int, position: int) -> bool:
        """One page's rows and the new position, in one transaction, if the model is still
        at ``previous`` (compare and set: a follower that raced another, or a rebuild,
        never moves the position past rows it did not apply); False if it was not."""
        with self.sql.transaction() as c:
            for r in rows:
                c.execute(
                    self.sql.insert,
                    (r.position, r.product_id, r.holder_id, r.at, r.kind, str(r.tokens), str(r.collateral),
                     str(r.fee), str(r.nav_per_token_wad), r.counterparty, r.request_id),
                )  # fmt: skip
            c.execute(self.sql.advance, (position, MODEL, previous))
            # (The library's SQLite cursor has no rowcount.) At ``position`` now: this page
            # moved it, or a twin of this follower applied the very same page.
            c.execute(self.sql.read_position, (MODEL,))
            return int(_values(c.fetchone())[0]) == position

    def page(
        self, holder_id: str, product_id: str, after: int, size: int, newest_first: bool = False
    ) -> tuple[list[Entry], int | None]:
        """Up to ``size`` entries of ``holder_id`` (in ``product_id``, or every product for
        ""), past store position ``after`` in the order asked (0: from the start); and the
        position to continue after, or None at the end."""
        statement, args = self.sql.page(holder_id, product_id, after, size, newest_first)
        with self.sql.transaction() as c:
            c.execute(statement, args)
            fetched = [_values(row) for row in c.fetchall()]
        entries = [
            Entry(
                int(pos),
                str(pid),
                str(h),
                int(at),
                str(k),
                int(t),
                int(col),
                int(f),
                int(n),
                str(o),
                str(rid),
            )
            for pos, pid, h, at, k, t, col, f, n, o, rid in fetched
        ]
        more = len(entries) > size
        entries = entries[:size]
        return entries, (entries[-1].position if more else None)


_KINDS = frozenset({"Minted", "Redeemed", "SettlementRedeemed", "Transferred"})
