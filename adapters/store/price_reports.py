"""The first answer of a price report fanned out to several products (SPEC §2: a repeat
answers the first reply field for field).

Each product decides the report under its own request id and marker, so the products
that applied it replay themselves. What no marker holds is the rest of the first reply:
which products it went to and what each one that rejected it said (a rejection writes no
marker, and products launched since hold the symbol too). ``PriceReportRecorded`` keeps
that, written after the fan-out once at least one product applied it. A report with no
such record (a store written before it existed, or a crash between the commits and the
record) is fanned out again as before: the products that applied it replay, the others
decide it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from eventsourcing.persistence import IntegrityError

from adapters.rejections import AdapterError, Rejection
from adapters.store.node import Node
from adapters.store.records import PriceReportRecorded, price_report_stream_id, request_stream_id
from adapters.store.sql import batch_view
from domain.errors import DomainError


def first_answer(
    node: Node, request_id: str, ids: dict[str, str]
) -> tuple[PriceReportRecorded | None, dict[str, str]]:
    """What the store knows of the report ``request_id`` before, in one round trip: its
    recorded first answer, if any, and those of ``ids`` (product -> the product's request
    id) that were handled."""
    keys = node.key_format
    report_stream = price_report_stream_id(request_id, keys)
    _, found = batch_view(node, [report_stream, *(request_stream_id(rid, keys) for rid in ids.values())])
    first = found.get(report_stream)
    assert first is None or isinstance(first, PriceReportRecorded)
    return first, {pid: rid for pid, rid in ids.items() if request_stream_id(rid, keys) in found}


def record(
    node: Node,
    request_id: str,
    fingerprint: str,
    outcomes: Sequence[tuple[str, str | None, Rejection | None]],
) -> None:
    """Record a fan-out's first answer: (product id, its request id if applied, its
    rejection otherwise) per product. A concurrent identical report that recorded first
    wins (the record is version 1 of its stream)."""
    rows: list[dict[str, str]] = []
    for product_id, product_request_id, error in outcomes:
        if product_request_id is not None:
            rows.append({"product_id": product_id, "request_id": product_request_id})
        else:
            assert error is not None
            rows.append({"product_id": product_id, "error": type(error).__name__, "message": str(error)})
    with contextlib.suppress(IntegrityError):
        node.events.put(
            [
                PriceReportRecorded(
                    originator_id=price_report_stream_id(request_id, node.key_format),
                    originator_version=1,
                    request_id=request_id,
                    fingerprint=fingerprint,
                    outcomes=rows,
                )
            ]
        )


def rejection_of(name: str, message: str) -> Rejection:
    """The rejection a record names, rebuilt with its first message."""
    todo: list[type[Exception]] = [DomainError, AdapterError]
    while todo:
        cls = todo.pop()
        if cls.__name__ == name:
            error = cls(message)
            assert isinstance(error, DomainError | AdapterError)
            return error
        todo.extend(cls.__subclasses__())
    return DomainError(message)  # a class renamed since: the message still says what it was
