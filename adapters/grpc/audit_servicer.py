"""AuditService: the event log streamed from a position, the audit over the wire, and the
NAV history from its read model (the servicer of the gRPC service; the audit itself is
``adapters.audit``)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from adapters.grpc import wire
from adapters.grpc.auth import Caller
from adapters.grpc.rpc import ADMIN_OR_VIEWER, Base, streaming, unary
from adapters.grpc.stubs import audit_pb2, audit_pb2_grpc
from adapters.store.codec import canonical_json
from adapters.store.nav_history import DEFAULT_MAX_POINTS, MAX_POINTS_LIMIT, NavPoint
from adapters.store.records import StoredProductEvent
from domain.errors import InvalidArgument


def event_message(position: int, record: StoredProductEvent) -> audit_pb2.Event:
    at = record.payload.get("at")
    return audit_pb2.Event(
        position=position,
        product_id=record.product_id,
        type=record.type,
        occurred_at=wire.timestamp(at if isinstance(at, int) else 0),
        payload_json=canonical_json(record.payload),
        hash=record.hash,
        prev_hash=record.prev_hash,
        version=record.originator_version,
        schema=record.schema,
        request_id=record.request_id,
    )


class AuditServicer(Base, audit_pb2_grpc.AuditServiceServicer):
    @streaming(ADMIN_OR_VIEWER)
    def StreamEvents(  # noqa: N802 - gRPC method names are the contract's
        self, request: audit_pb2.StreamEventsRequest, caller: Caller, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.Event]:
        if request.from_position < 0:
            raise InvalidArgument(f"from_position must not be negative, got {request.from_position}")
        follow = self.service.follow
        if request.product_id:
            self.service.reads.load(request.product_id)  # NOT_FOUND for an unknown product
        with follow.stream_slot():
            events = follow.events(
                request.from_position, request.product_id, request.follow, context.is_active
            )
            for position, record in events:
                yield event_message(position, record)

    @unary(ADMIN_OR_VIEWER)
    def CheckInvariants(  # noqa: N802
        self, request: audit_pb2.CheckInvariantsRequest, caller: Caller
    ) -> audit_pb2.CheckInvariantsResponse:
        report = self.service.audits.check(request.product_id or None)
        return audit_pb2.CheckInvariantsResponse(
            ok=report.ok,
            events_checked=report.events_checked,
            products=report.products,
            invariants_checked=report.invariants_checked,
            violations=[
                audit_pb2.Violation(
                    position=f.position,
                    invariant=f.invariant,
                    detail=f.detail,
                    product_id=f.product_id,
                    version=f.version,
                )
                for f in report.findings
            ],
        )

    @unary(ADMIN_OR_VIEWER)
    def GetNavHistory(  # noqa: N802
        self, request: audit_pb2.GetNavHistoryRequest, caller: Caller
    ) -> audit_pb2.GetNavHistoryResponse:
        if not request.product_id:
            raise InvalidArgument("product_id is required")
        start = wire.seconds(getattr(request, "from"), "from") if request.HasField("from") else None
        end = wire.seconds(request.to, "to") if request.HasField("to") else None
        if start is not None and end is not None and start > end:
            raise InvalidArgument(f"from ({start}) is after to ({end})")
        if not 0 <= request.max_points <= MAX_POINTS_LIMIT:
            raise InvalidArgument(
                f"max_points must be 0 (the default) to {MAX_POINTS_LIMIT}, got {request.max_points}"
            )
        if request.after_position < 0:
            raise InvalidArgument(f"after_position must not be negative, got {request.after_position}")
        self.service.reads.load(request.product_id)  # NOT_FOUND for an unknown product
        history = self.service.reads.nav_history()
        history.catch_up()
        points = history.points(
            request.product_id,
            start,
            end,
            request.after_position,
            request.max_points or DEFAULT_MAX_POINTS,
        )
        return audit_pb2.GetNavHistoryResponse(
            points=[nav_point(p) for p in points], as_of_position=history.position
        )


def nav_point(point: NavPoint) -> audit_pb2.NavPoint:
    return audit_pb2.NavPoint(
        at=wire.timestamp(point.at),
        index_price=str(point.index_price_wad),
        nav_per_token=str(point.nav_per_token_wad),
        leverage="" if point.leverage_wad is None else str(point.leverage_wad),
        supply=str(point.supply),
        position=point.position,
    )
