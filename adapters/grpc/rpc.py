"""The one wrapper around every RPC: authenticate, check the role, run the handler, map a
rejection to its status through ``errors.STATUS_OF``, and count, time and log the call."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import grpc
from attrs import frozen

from adapters.grpc.app import NodeApp
from adapters.grpc.auth import Authenticator, Caller, Role
from adapters.grpc.errors import message_of, status_of
from adapters.grpc.logs import log
from adapters.grpc.metrics import Metrics

Req = TypeVar("Req")
Resp = TypeVar("Resp")
S = TypeVar("S", bound="HasDeps")

ADMIN = frozenset({Role.ADMIN})
ORACLE = frozenset({Role.ORACLE})
HOLDER = frozenset({Role.HOLDER})
ANY_ROLE = frozenset(Role)
ADMIN_OR_HOLDER = frozenset({Role.ADMIN, Role.HOLDER})
# What only reads and shows no single holder's balance: a dashboard's viewer token too.
ADMIN_OR_VIEWER = frozenset({Role.ADMIN, Role.VIEWER})
# Open to every role that may act (Rebalance writes: never a viewer).
ANY_ACTOR = frozenset({Role.ADMIN, Role.ORACLE, Role.HOLDER})


@frozen
class Deps:
    """What every servicer needs, wired once by the server."""

    app: NodeApp
    auth: Authenticator
    metrics: Metrics | None


class HasDeps(Protocol):
    deps: Deps


class Base:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps


def _finish(deps: Deps, method: str, caller: Caller | None, error: Exception | None, started: float) -> None:
    seconds = time.perf_counter() - started
    if error is None:
        code, reason = "OK", None
    else:
        status = status_of(error)
        code = status.name if status is not None else "INTERNAL"
        reason = type(error).__name__
    if deps.metrics is not None:
        deps.metrics.observe_rpc(method, code, reason, seconds)
    fields: dict[str, Any] = {"method": method, "code": code, "ms": round(seconds * 1000, 2)}
    if caller is not None:
        fields["caller"] = caller.name
    if error is not None:
        fields["error"] = message_of(error)
    # Rejections are the API working as specified; only an unexpected error is an ERROR.
    log(logging.ERROR if code == "INTERNAL" else logging.INFO, "rpc", **fields)


ERROR_METADATA_KEY = "iit-error"


def _abort(context: grpc.ServicerContext, error: Exception) -> None:
    """End the call with the error's status and message; the error's name also goes in
    the trailing metadata ``iit-error``, for clients that branch on it."""
    status = status_of(error)
    if status is None:
        logging.getLogger("iit").exception("unexpected error", exc_info=error)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}")
    context.set_trailing_metadata(((ERROR_METADATA_KEY, type(error).__name__),))
    context.abort(status, message_of(error))


def unary(
    roles: frozenset[Role],
) -> Callable[[Callable[[S, Req, Caller], Resp]], Callable[[S, Req, grpc.ServicerContext], Resp]]:
    """A unary RPC open to ``roles`` (everyone in development mode)."""

    def wrap(handler: Callable[[S, Req, Caller], Resp]) -> Callable[[S, Req, grpc.ServicerContext], Resp]:
        method = handler.__qualname__.replace("Servicer.", "Service/")

        @functools.wraps(handler)
        def call(self: S, request: Req, context: grpc.ServicerContext) -> Resp:
            started = time.perf_counter()
            caller: Caller | None = None
            try:
                caller = self.deps.auth.context_caller(context)
                caller.require_role(roles, method)
                response = handler(self, request, caller)
            except Exception as error:
                _finish(self.deps, method, caller, error, started)
                _abort(context, error)
                raise  # unreachable: abort raises
            _finish(self.deps, method, caller, None, started)
            return response

        return call

    return wrap


def streaming(
    roles: frozenset[Role],
) -> Callable[
    [Callable[[S, Req, Caller, grpc.ServicerContext], Iterator[Resp]]],
    Callable[[S, Req, grpc.ServicerContext], Iterator[Resp]],
]:
    """A server-streaming RPC open to ``roles``; the handler also gets the context, to
    notice a client that went away."""

    def wrap(
        handler: Callable[[S, Req, Caller, grpc.ServicerContext], Iterator[Resp]],
    ) -> Callable[[S, Req, grpc.ServicerContext], Iterator[Resp]]:
        method = handler.__qualname__.replace("Servicer.", "Service/")

        @functools.wraps(handler)
        def call(self: S, request: Req, context: grpc.ServicerContext) -> Iterator[Resp]:
            started = time.perf_counter()
            caller: Caller | None = None
            try:
                caller = self.deps.auth.context_caller(context)
                caller.require_role(roles, method)
                yield from handler(self, request, caller, context)
            except Exception as error:
                _finish(self.deps, method, caller, error, started)
                _abort(context, error)
                raise
            _finish(self.deps, method, caller, None, started)

        return call

    return wrap
