"""Read models, projections of the log that can be rebuilt from it at any time: holder
balances per product, and the NAV history (SPEC §3).

A projection follows the store's notification log by polling from its last position
(the library's subscription is not implemented for SQLite), so it works on both stores
and catches up with what other nodes wrote.
"""

from __future__ import annotations

from attrs import define, field

from adapters.store.codec import decode_event
from adapters.store.nav_history import NavPoint, point_after
from adapters.store.node import Node
from adapters.store.records import StoredProductEvent
from domain.evolve import evolve
from domain.model import ProductState

PAGE_SIZE = 1_000


@define
class ReadModels:
    """Balances and NAV history as of ``position`` (the last notification applied)."""

    position: int = 0
    balances: dict[str, dict[str, int]] = field(factory=dict)
    nav_history: list[NavPoint] = field(factory=list)
    _states: dict[str, ProductState] = field(factory=dict)

    def catch_up(self, node: Node) -> int:
        """Apply every notification after ``position``; return how many were applied."""
        applied = 0
        while True:
            page = node.recorder.select_notifications(self.position + 1, PAGE_SIZE)
            if not page:
                return applied
            for notification in page:
                record = node.mapper.to_domain_event(notification)
                if isinstance(record, StoredProductEvent):
                    self._apply(notification.id, record)
                self.position = notification.id
                applied += 1

    def _apply(self, position: int, record: StoredProductEvent) -> None:
        event = decode_event(record.type, record.schema, record.payload)
        state = evolve(self._states.get(record.product_id), event)
        self._states[record.product_id] = state
        self.balances[record.product_id] = dict(state.balances)
        point = point_after(position, record.product_id, event, state)
        if point is not None:
            self.nav_history.append(point)


def rebuild(node: Node) -> ReadModels:
    """The read models built afresh from the first event."""
    models = ReadModels()
    models.catch_up(node)
    return models
