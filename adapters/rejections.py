"""The adapters' own rejections, apart from the domain's.

A ``DomainError`` is a decision of the pure domain (the command does not apply to the
product). An ``AdapterError`` is a refusal by the machinery around it: the idempotency
store (a request id reused), the store or its writer (a failed commit, a writer shutting
down, a write race lost too often), the clock, credentials, server capacity. Both are
expected rejections that reach a client as a status with a message: ``REJECTIONS`` is
what a caller catches to answer one, and ``adapters.grpc.errors.STATUS_OF`` is the one
table from every such class to its gRPC status. Anything else that escapes is a bug
(``INTERNAL``).
"""

from __future__ import annotations

from typing import Final, TypeAlias

from domain.errors import DomainError


class AdapterError(Exception):
    """An expected refusal by an adapter, not a decision of the domain."""


Rejection: TypeAlias = DomainError | AdapterError
REJECTIONS: Final = (DomainError, AdapterError)
