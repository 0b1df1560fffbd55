"""A typed client of the node: one channel, the five service stubs, and the caller's
bearer token sent on every call. Used by ``iit demo``, ``iit events`` and the tests, and
meant for Python integrators (``examples/python_client.py``)::

    from adapters.grpc.client import Client, channel, error_reason
    from adapters.grpc.stubs import token_pb2

    alice = Client(channel("127.0.0.1:50051"), token="change-me-alice-00001")
    quote = alice.token.QuoteMint(
        token_pb2.QuoteMintRequest(product_id="DEMO", collateral_amount="1000000"), metadata=alice.md
    )
    try:
        alice.token.Mint(token_pb2.MintRequest(product_id="DEMO", holder_id="alice",
            collateral_amount="1000000", min_tokens_out=quote.tokens_out, request_id="mint-1"),
            metadata=alice.md)
    except grpc.RpcError as error:
        if error_reason(error) == "SlippageExceeded": ...

Every request message and field is documented in ``proto/iit/v1``; the typed stubs
(``.pyi``) come with the package. A call fails with ``grpc.RpcError``: ``code()`` is the
status, ``details()`` the message, ``error_reason`` the error's name (``ErrorInfo.reason``).
"""

from __future__ import annotations

from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

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


def error_reason(error: grpc.RpcError) -> str | None:
    """The name of the error a call failed with (``ProductPaused``, ``SlippageExceeded``,
    …): the ``reason`` of the ``google.rpc.ErrorInfo`` in its rich status; None when the
    failure carries none (a transport error, a deadline)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # an RpcError from a call is a grpc.Call
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return None
