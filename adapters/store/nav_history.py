"""The NAV history read model (SPEC §3, §5 ``AuditService.GetNavHistory``), kept in the
store itself so that it survives restarts and is shared by every node on the store.

Two tables beside the library's, in the same database (SQLite file or PostgreSQL schema):

- ``iit_nav_points``: one row per event that moves the NAV (a price accepted, a mint, a
  redemption, a rebalance, an accrual, the settlement), keyed by the event's store
  position: the product, its time, and the index price, NAV per token, leverage and supply
  right after it, as decimal strings (WAD values exceed 64 bits).
- ``iit_read_models``: the last store position each read model has applied.

``catch_up`` reads the notifications after the persisted position, computes the points by
evolving each product's state (a product first met after a restart is loaded as of the
event before, from its snapshot and stream), and writes the points and the new position in
one transaction: a crash leaves the model where its last transaction put it, and the next
catch-up goes on from there. Rows are keyed by position and the position only moves
forward, so two nodes catching up at once on one store write the same rows and lose
nothing. ``rebuild`` empties both and replays the whole log.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from adapters.store.codec import decode_event
from adapters.store.node import Node
from adapters.store.records import StoredProductEvent
from adapters.store.sql import NavHistorySql
from domain import events as ev
from domain.evolve import evolve
from domain.model import ProductState
from domain.valuation import current_leverage_wad, nav_wad

MODEL_NAME = "nav_history"
PAGE_SIZE = 1_000
NAV_EVENTS = (ev.PriceAccepted, ev.Minted, ev.Redeemed, ev.Rebalanced, ev.Settled, ev.Accrued)
DEFAULT_MAX_POINTS = 1_000
MAX_POINTS_LIMIT = 10_000


@frozen
class NavPoint:
    """The product right after one NAV-moving event (WAD and base units, as integers)."""

    position: int
    product_id: str
    at: int
    index_price_wad: int
    nav_per_token_wad: int
    leverage_wad: int | None  # None: undefined (no positive equity)
    supply: int


def point_after(position: int, product_id: str, event: ev.Event, state: ProductState) -> NavPoint | None:
    """The point ``event`` (at store ``position``) leaves ``product_id`` at, if it moves the
    NAV of a priced product; None otherwise."""
    if not isinstance(event, NAV_EVENTS) or not state.index_price_wad:
        return None
    return NavPoint(
        position=position,
        product_id=product_id,
        at=event.at,
        index_price_wad=state.index_price_wad,
        nav_per_token_wad=nav_wad(state),
        leverage_wad=current_leverage_wad(state),
        supply=state.vault.supply,
    )


class NavHistory:
    """The durable NAV history of every product in ``node``'s store."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._sql = NavHistorySql(node)
        self._lock = threading.Lock()  # one catch-up at a time in this process
        self._states: dict[str, ProductState] = {}
        self._applied_to = -1  # the position ``_states`` hold (-1: nothing cached)
        with self._sql.transaction(commit=True) as cursor:
            for statement in self._sql.create:
                cursor.execute(statement)

    @property
    def position(self) -> int:
        """The last store position applied, as persisted."""
        with self._sql.transaction(commit=False) as cursor:
            cursor.execute(self._sql.select_position, (MODEL_NAME,))
            row = cursor.fetchone()
        return int(row["position"]) if row else 0

    def catch_up(self, limit: int | None = None) -> int:
        """Apply the notifications after the persisted position (at most ``limit``; all
        when None), a page per transaction; return how many were read."""
        with self._lock:
            read = 0
            position = self.position
            while limit is None or read < limit:
                size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - read)
                page = self.node.recorder.select_notifications(position + 1, size)
                if not page:
                    break
                if self._applied_to != position:  # another process moved it, or a restart
                    self._states.clear()
                points: list[NavPoint] = []
                for notification in page:
                    record = self.node.mapper.to_domain_event(notification)
                    if isinstance(record, StoredProductEvent):
                        point = self._apply(notification.id, record)
                        if point is not None:
                            points.append(point)
                    position = notification.id
                self._write(points, position)
                self._applied_to = position
                read += len(page)
            return read

    def rebuild(self) -> int:
        """Forget everything and replay the whole log; return the notifications read."""
        with self._lock:
            with self._sql.transaction(commit=True) as cursor:
                cursor.execute(self._sql.delete_points)
                cursor.execute(self._sql.delete_model, (MODEL_NAME,))
            self._states.clear()
            self._applied_to = -1
        return self.catch_up()

    def _apply(self, position: int, record: StoredProductEvent) -> NavPoint | None:
        event = decode_event(record.type, record.schema, record.payload)
        before = self._states.get(record.product_id)
        if before is None and record.originator_version > 1:
            loaded = self.node.load_cold(record.product_id, record.originator_version - 1)
            before = loaded.state if loaded else None
        state = evolve(before, event)
        self._states[record.product_id] = state
        return point_after(position, record.product_id, event, state)

    def _write(self, points: Sequence[NavPoint], position: int) -> None:
        with self._sql.transaction(commit=True) as cursor:
            if points:
                cursor.executemany(self._sql.insert_points, [_row(p) for p in points])
            cursor.execute(self._sql.upsert_model, (MODEL_NAME, position))

    def points(
        self,
        product_id: str,
        start: int | None = None,
        end: int | None = None,
        after_position: int = 0,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> list[NavPoint]:
        """The points of ``product_id`` with ``start <= at <= end`` and a position after
        ``after_position``, in log order; more than ``max_points`` are thinned evenly,
        keeping the first and the last."""
        sql = self._sql
        statement, args = sql.points_of(product_id, start, end, after_position)
        with sql.transaction(commit=False) as cursor:
            cursor.execute(statement, args)
            rows = cursor.fetchall()
        return [_point(row) for row in thin(rows, max_points)]


def thin(rows: Sequence[Any], max_points: int) -> Sequence[Any]:
    """At most ``max_points`` of ``rows``, evenly spaced, the first and the last kept."""
    if len(rows) <= max_points:
        return rows
    if max_points == 1:
        return [rows[-1]]
    last = len(rows) - 1
    return [rows[(i * last) // (max_points - 1)] for i in range(max_points)]


def _row(point: NavPoint) -> tuple[Any, ...]:
    return (
        point.product_id,
        point.position,
        point.at,
        str(point.index_price_wad),
        str(point.nav_per_token_wad),
        "" if point.leverage_wad is None else str(point.leverage_wad),
        str(point.supply),
    )


def _point(row: Any) -> NavPoint:  # noqa: ANN401 - a row of either driver
    return NavPoint(
        position=int(row["position"]),
        product_id=str(row["product_id"]),
        at=int(row["at"]),
        index_price_wad=int(row["index_price"]),
        nav_per_token_wad=int(row["nav_per_token"]),
        leverage_wad=int(row["leverage"]) if row["leverage"] else None,
        supply=int(row["supply"]),
    )
