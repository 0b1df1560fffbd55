"""The one table from every rejection to its gRPC status code (SPEC §5).

Every class that can reject a call is listed by name, whoever raises it: the domain
(``domain.errors``), the idempotency store, the store and its writer, the clock, the
server and the credentials (``adapters.rejections.AdapterError`` and its subclasses). A
test walks every subclass of both bases and fails on one missing here, and checks that
each domain error's ``code`` agrees. A store or writer that could not take a command is
``UNAVAILABLE``: nothing was applied and the same request id may be retried. Anything not
in the table is a bug (``INTERNAL``). A status message is ``<ErrorName>: <what was wrong>``.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc

from adapters.clock import ClockWentBackwards
from adapters.rejections import AdapterError
from adapters.service.follow import TooManyFollowers, TooManyStreams
from adapters.service.keeper import WallClockTick
from adapters.store.contract import ConcurrencyConflict, RequestIdReused, StoreWriteFailed, UnstorableCommand
from adapters.store.writer import WriterClosed
from domain import errors as de


class Unauthenticated(AdapterError):
    """No bearer token, or one the node does not know."""


class PermissionDenied(AdapterError):
    """The caller's role may not call this RPC, or not on this holder or reporter."""


S = grpc.StatusCode

STATUS_OF: Mapping[type[Exception], grpc.StatusCode] = {
    # Malformed commands.
    de.InvalidArgument: S.INVALID_ARGUMENT,
    de.InvalidParameters: S.INVALID_ARGUMENT,
    de.InvalidComponents: S.INVALID_ARGUMENT,
    de.InvalidPriceReport: S.INVALID_ARGUMENT,
    UnstorableCommand: S.INVALID_ARGUMENT,  # its events would not load back: nothing written
    # Identity.
    de.NotFound: S.NOT_FOUND,
    de.ProductNotFound: S.NOT_FOUND,
    de.ProductAlreadyExists: S.ALREADY_EXISTS,
    RequestIdReused: S.ALREADY_EXISTS,
    # The product's state does not allow the command now.
    de.DomainError: S.FAILED_PRECONDITION,
    de.ProductPaused: S.FAILED_PRECONDITION,
    de.ProductHalted: S.FAILED_PRECONDITION,
    de.ProductSettled: S.FAILED_PRECONDITION,
    de.ProductNotHalted: S.FAILED_PRECONDITION,
    de.InvalidTransition: S.FAILED_PRECONDITION,
    de.OracleStale: S.FAILED_PRECONDITION,
    de.PriceUnavailable: S.FAILED_PRECONDITION,
    de.SlippageExceeded: S.FAILED_PRECONDITION,
    de.InsufficientBalance: S.FAILED_PRECONDITION,
    de.SupplyCapReached: S.FAILED_PRECONDITION,
    de.MintTooSmall: S.FAILED_PRECONDITION,
    de.RedeemTooSmall: S.FAILED_PRECONDITION,
    de.VaultInsolvent: S.FAILED_PRECONDITION,
    ClockWentBackwards: S.FAILED_PRECONDITION,
    WallClockTick: S.FAILED_PRECONDITION,
    # Retry: other writers won the race every time.
    ConcurrencyConflict: S.ABORTED,
    # Retry with the same request id: the store or its writer could not take the command.
    StoreWriteFailed: S.UNAVAILABLE,
    WriterClosed: S.UNAVAILABLE,
    # Capacity: following streams are limited so that they cannot starve other RPCs.
    TooManyFollowers: S.RESOURCE_EXHAUSTED,
    TooManyStreams: S.RESOURCE_EXHAUSTED,
    # Credentials.
    Unauthenticated: S.UNAUTHENTICATED,
    PermissionDenied: S.PERMISSION_DENIED,
}


def status_of(error: Exception) -> grpc.StatusCode | None:
    """The status of a known rejection (its nearest listed class), or None for a bug.

    Every rejection class is listed itself (the test sees to it); the walk up the classes
    is only for a subclass a test or plug-in defines."""
    for cls in type(error).__mro__:
        status = STATUS_OF.get(cls)
        if status is not None:
            return status
    return None


def message_of(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
