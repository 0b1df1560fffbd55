"""Rejections carry the standard rich status (``google.rpc.Status`` with an ``ErrorInfo``
whose ``reason`` is the error's name), read with ``grpcio-status`` as any client would,
and still the ``iit-error`` metadata of the first release."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from adapters.grpc.stubs import audit_pb2, token_pb2
from tests.grpc.conftest import Harness
from tests.grpc.helpers import rejected


def _error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no grpc-status-details-bin trailer"
    assert status.code == error.code().value[0]
    assert status.message == error.details()
    infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert len(infos) == 1
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    return info


def test_a_domain_rejection_has_error_info_and_the_legacy_metadata(ready: Harness) -> None:
    error = rejected(
        lambda: ready.mint("alice", 0, "zero"), grpc.StatusCode.INVALID_ARGUMENT, "collateral_amount"
    )
    info = _error_info(error)
    assert (info.reason, info.domain) == ("InvalidArgument", "iit.v1")
    trailers = dict(error.trailing_metadata())  # type: ignore[attr-defined]
    assert trailers["iit-error"] == "InvalidArgument"


def test_not_found_and_auth_failures_are_rich_too(ready: Harness) -> None:
    error = rejected(
        lambda: ready.admin.token.GetProduct(
            token_pb2.GetProductRequest(product_id="NOPE"), metadata=ready.admin.md
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert _error_info(error).reason == "ProductNotFound"
    error = rejected(
        lambda: ready.anon.token.GetProduct(token_pb2.GetProductRequest(product_id="P")),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert _error_info(error).reason == "Unauthenticated"


def test_a_streaming_rejection_is_rich(ready: Harness) -> None:
    error = rejected(
        lambda: ready.alice.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=ready.alice.md),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert _error_info(error).reason == "PermissionDenied"
