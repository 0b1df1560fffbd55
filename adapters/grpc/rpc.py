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
from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from adapters.grpc import wire
from adapters.grpc.auth import Authenticator, Caller, Role
from adapters.grpc.errors import message_of, status_of
from adapters.grpc.logs import log
from adapters.grpc.metrics import Metrics
from adapters.service.use_cases import Service
from domain.errors import InvalidArgument

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

    service: Service
    auth: Authenticator
    metrics: Metrics | None


class HasDeps(Protocol):
    deps: Deps


class Base:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @property
    def service(self) -> Service:
        """The node's use cases: what a servicer translates each request into."""
        return self.deps.service


def _finish(
    deps: Deps,
    method: str,
    caller: Caller | None,
    error: Exception | None,
    started: float,
    grpc_type: str = "unary",
) -> None:
    seconds = time.perf_counter() - started
    if error is None:
        code, reason = "OK", None
    else:
        status = status_of(error)
        code = status.name if status is not None else "INTERNAL"
        reason = type(error).__name__
    if deps.metrics is not None:
        deps.metrics.observe_rpc(method, code, reason, seconds, grpc_type)
    fields: dict[str, Any] = {"method": method, "code": code, "ms": round(seconds * 1000, 2)}
    if caller is not None:
        fields["caller"] = caller.name
    if error is not None:
        fields["error"] = cut(message_of(error))
    # Rejections are the API working as specified; only an unexpected error is an ERROR.
    log(logging.ERROR if code == "INTERNAL" else logging.INFO, "rpc", **fields)


ERROR_METADATA_KEY = "iit-error"
# SPEC §7: a status message (sent in the trailing metadata, which gRPC limits to 16 KB) and
# a log line never carry more of a client's value than this; the messages themselves quote
# ids shortened (``domain.validation.shown``), this is the last guard.
MESSAGE_MAX = 1_024


def cut(text: str, limit: int = MESSAGE_MAX) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters in all)"


# ErrorInfo.domain of every rejection (AIP-193: the logical grouping of the reasons).
ERROR_DOMAIN = "iit.v1"


@frozen
class _RichStatus(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def rich_status(error: Exception, code: grpc.StatusCode) -> grpc.Status:
    """The standard rich status of a rejection (``google.rpc.Status`` in the trailer
    ``grpc-status-details-bin``, as ``grpcio-status`` reads it) carrying one
    ``google.rpc.ErrorInfo`` whose ``reason`` is the error's name; the name also rides in
    ``iit-error``, the metadata earlier clients branch on (kept for one more release)."""
    name = type(error).__name__
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=name, domain=ERROR_DOMAIN))
    status = status_pb2.Status(code=code.value[0], message=cut(message_of(error)), details=[info])
    standard = rpc_status.to_status(status)
    return _RichStatus(
        standard.code, standard.details, (*standard.trailing_metadata, (ERROR_METADATA_KEY, name))
    )


def _abort(context: grpc.ServicerContext, error: Exception) -> None:
    """End the call with the error's status, message and rich status details."""
    status = status_of(error)
    if status is None:
        logging.getLogger("iit").exception("unexpected error", exc_info=error)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}")
    context.abort_with_status(rich_status(error, status))


@frozen
class Undecodable:
    """What the server's deserializer hands the handler for bytes that do not decode as the
    request message (invalid UTF-8 in a string, a truncated field, ...): gRPC's own answer to
    a deserializer that raises is INTERNAL, this one's is INVALID_ARGUMENT (SPEC §7)."""

    message_name: str
    error: str


def lenient(message_class: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    """A request deserializer that never raises: a decode error becomes ``Undecodable``."""
    name = message_class.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Message | Undecodable:
        try:
            return message_class.FromString(data)
        except Exception as error:
            return Undecodable(name, cut(f"{type(error).__name__}: {error}", 200))

    return deserialize


def register(server: grpc.Server, servicer: object, service: ServiceDescriptor) -> None:
    """Serve every method of ``service`` from ``servicer``'s method of the same name, with
    ``lenient`` request deserializers (the generated ``add_*_to_server`` would use the plain
    ``FromString``). A method the servicer lacks answers UNIMPLEMENTED (the generated base)."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in service.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        behaviour = getattr(servicer, method.name)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            behaviour,
            request_deserializer=lenient(request_class),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))


def _check(request: object) -> None:
    """What every request gets before its handler: bytes that decoded, ids of the documented
    length and alphabet, no string beyond its bound (``wire.check_request``)."""
    if isinstance(request, Undecodable):
        raise InvalidArgument(
            f"the request does not decode as {request.message_name} ({request.error}); "
            "strings must be valid UTF-8"
        )
    if isinstance(request, Message):
        wire.check_request(request)


def unary(
    roles: frozenset[Role],
) -> Callable[[Callable[[S, Req, Caller], Resp]], Callable[[S, Req, grpc.ServicerContext], Resp]]:
    """A unary RPC open to ``roles`` (everyone in development mode)."""

    def wrap(handler: Callable[[S, Req, Caller], Resp]) -> Callable[[S, Req, grpc.ServicerContext], Resp]:
        method = handler.__qualname__.replace("Servicer.", "Service/")

        @functools.wraps(handler)
        def call(self: S, request: Req, context: grpc.ServicerContext) -> Resp:
            started = time.perf_counter()
            if self.deps.metrics is not None:
                self.deps.metrics.observe_start(method, "unary")
            caller: Caller | None = None
            try:
                caller = self.deps.auth.context_caller(context)
                caller.require_role(roles, method)
                _check(request)
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
            if self.deps.metrics is not None:
                self.deps.metrics.observe_start(method, "server_stream")
            caller: Caller | None = None
            try:
                caller = self.deps.auth.context_caller(context)
                caller.require_role(roles, method)
                _check(request)
                yield from handler(self, request, caller, context)
            except Exception as error:
                _finish(self.deps, method, caller, error, started, "server_stream")
                _abort(context, error)
                raise
            _finish(self.deps, method, caller, None, started, "server_stream")

        return call

    return wrap
