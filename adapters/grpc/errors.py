"""The one table from rejections to gRPC status codes (SPEC §5).

Every named domain error is listed (a test checks that the table is total over
``domain.errors`` and agrees with each class's ``code``), with the adapters' own
rejections: a reused request id, a lost race, a clock asked to go back, and the two
credential failures. A status message is ``<ErrorName>: <what was wrong>``.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc

from adapters.clock import ClockWentBackwards
from adapters.store.node import ConcurrencyConflict, RequestIdReused, UnstorableCommand
from domain import errors as de


class WallClockTick(de.DomainError):
    """Tick(now) on a node that runs on the wall clock, with a ``now`` that is not now."""


class TooManyFollowers(Exception):
    """Every slot for a following StreamEvents is taken (each holds a server thread)."""


class TooManyStreams(TooManyFollowers):
    """Every slot for a StreamEvents (a replay or a follow: each holds a server thread while
    its client reads, or does not) is taken; unary calls keep the remaining threads."""


class Unauthenticated(Exception):
    """No bearer token, or one the node does not know."""


class PermissionDenied(Exception):
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
    # Capacity: following streams are limited so that they cannot starve other RPCs.
    TooManyFollowers: S.RESOURCE_EXHAUSTED,
    TooManyStreams: S.RESOURCE_EXHAUSTED,
    # Credentials.
    Unauthenticated: S.UNAUTHENTICATED,
    PermissionDenied: S.PERMISSION_DENIED,
}


def status_of(error: Exception) -> grpc.StatusCode | None:
    """The status of a known rejection (its nearest listed class), or None for a bug."""
    for cls in type(error).__mro__:
        status = STATUS_OF.get(cls)
        if status is not None:
            return status
    return None


def message_of(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
