"""The servicers of iit.v1, registered: each translates proto -> command -> service
(``adapters.service``) -> proto, nothing more, one module a service
(``admin_servicer``, ``oracle_servicer``, ``token_servicer``, ``keeper_servicer``,
``audit_servicer``).

Each RPC names the roles that may call it (``rpc.unary``); the holder and reporter
bindings are checked before anything runs, and every field is parsed strictly
(``wire``) before a command reaches the node, so a rejected request writes nothing.
"""

from __future__ import annotations

import grpc

from adapters.grpc.admin_servicer import AdminServicer
from adapters.grpc.audit_servicer import AuditServicer
from adapters.grpc.keeper_servicer import KeeperServicer
from adapters.grpc.oracle_servicer import OracleServicer
from adapters.grpc.rpc import Base, register
from adapters.grpc.stubs import admin_pb2, audit_pb2, keeper_pb2, oracle_pb2, token_pb2
from adapters.grpc.token_servicer import TokenServicer

__all__ = ["AdminServicer", "AuditServicer", "KeeperServicer", "OracleServicer", "TokenServicer", "add_all"]


def add_all(server: grpc.Server, servicers: tuple[Base, ...]) -> None:
    """Serve each servicer's service (``rpc.register``: undecodable requests are
    INVALID_ARGUMENT, not gRPC's INTERNAL)."""
    for servicer in servicers:
        match servicer:
            case AdminServicer():
                service = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
            case OracleServicer():
                service = oracle_pb2.DESCRIPTOR.services_by_name["OracleService"]
            case TokenServicer():
                service = token_pb2.DESCRIPTOR.services_by_name["TokenService"]
            case KeeperServicer():
                service = keeper_pb2.DESCRIPTOR.services_by_name["KeeperService"]
            case AuditServicer():
                service = audit_pb2.DESCRIPTOR.services_by_name["AuditService"]
            case _:
                raise TypeError(f"not a servicer of iit.v1: {servicer!r}")
        register(server, servicer, service)
