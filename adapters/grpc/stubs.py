"""The generated gRPC stubs, imported from one place.

``scripts/gen_proto.py`` (run by ``make setup`` / ``make proto``) writes them into
``adapters/grpc/generated/`` as the package ``iit.v1`` (protoc names modules after the proto
package, and the stubs import each other that way). This module puts that folder on
``sys.path`` once; everything else imports the stubs from here. A missing stub is an
``ImportError`` that says how to make it: never a silent skip.
"""

from __future__ import annotations

import sys
from pathlib import Path

GENERATED = Path(__file__).resolve().parent / "generated"

if not (GENERATED / "iit" / "v1" / "token_pb2_grpc.py").is_file():
    raise ImportError(
        f"the gRPC stubs are missing from {GENERATED}: run `make proto` (or `make setup`), "
        "which generates them from proto/iit/v1/*.proto"
    )
if str(GENERATED) not in sys.path:
    sys.path.append(str(GENERATED))

from iit.v1 import (  # noqa: E402 - the generated package root must be on sys.path first
    admin_pb2,
    admin_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    keeper_pb2,
    keeper_pb2_grpc,
    oracle_pb2,
    oracle_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)

# Full names of the services, for health checking and reflection.
SERVICE_NAMES: tuple[str, ...] = tuple(
    service.full_name
    for module in (admin_pb2, oracle_pb2, token_pb2, keeper_pb2, audit_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
)

__all__ = [
    "SERVICE_NAMES",
    "admin_pb2",
    "admin_pb2_grpc",
    "audit_pb2",
    "audit_pb2_grpc",
    "common_pb2",
    "keeper_pb2",
    "keeper_pb2_grpc",
    "oracle_pb2",
    "oracle_pb2_grpc",
    "token_pb2",
    "token_pb2_grpc",
]
