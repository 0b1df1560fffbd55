"""A typed client of the node: one channel, the five service stubs, and the caller's
bearer token sent on every call. Used by ``iit demo``, ``iit events`` and the tests."""

from __future__ import annotations

from pathlib import Path

import grpc

from adapters.grpc.stubs import (
    admin_pb2_grpc,
    audit_pb2_grpc,
    keeper_pb2_grpc,
    oracle_pb2_grpc,
    token_pb2_grpc,
)

Metadata = tuple[tuple[str, str | bytes], ...]


def metadata(token: str | None) -> Metadata:
    return (("authorization", f"Bearer {token}"),) if token else ()


def channel(
    address: str, ca: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> grpc.Channel:
    """A channel to ``address``: TLS when ``ca`` is given (mTLS with ``cert`` and ``key``)."""
    if ca is None:
        return grpc.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.secure_channel(address, credentials)


class Client:
    """The node's services over ``chan``; ``md`` is the metadata to pass as ``metadata=``."""

    def __init__(self, chan: grpc.Channel, token: str | None = None) -> None:
        self.channel = chan
        self.md = metadata(token)
        self.admin = admin_pb2_grpc.AdminServiceStub(chan)
        self.oracle = oracle_pb2_grpc.OracleServiceStub(chan)
        self.token = token_pb2_grpc.TokenServiceStub(chan)
        self.keeper = keeper_pb2_grpc.KeeperServiceStub(chan)
        self.audit = audit_pb2_grpc.AuditServiceStub(chan)

    def as_(self, token: str | None) -> Client:
        """The same channel, another caller."""
        return Client(self.channel, token)

    def close(self) -> None:
        self.channel.close()
