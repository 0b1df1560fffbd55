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

from google.protobuf import descriptor_pb2

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

# The contract's files as protoc saw them, comments included (``scripts/gen_proto.py``).
DESCRIPTOR_SET = GENERATED / "iit_v1.binpb"


def documented_files() -> dict[str, bytes]:
    """Each ``iit/v1/*.proto`` file's serialized ``FileDescriptorProto`` with its source
    info (the comments), by file name. protoc also fills each field's ``json_name``, which
    the runtime's descriptors leave out; it is cleared so that reflection clients (grpcurl)
    print the proto field names as they always did."""
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    for file in files:
        pending = list(file.message_type)
        while pending:
            message = pending.pop()
            pending.extend(message.nested_type)
            for message_field in (*message.field, *message.extension):
                message_field.ClearField("json_name")
    return {f.name: f.SerializeToString() for f in files}


__all__ = [
    "DESCRIPTOR_SET",
    "SERVICE_NAMES",
    "admin_pb2",
    "admin_pb2_grpc",
    "audit_pb2",
    "audit_pb2_grpc",
    "common_pb2",
    "documented_files",
    "keeper_pb2",
    "keeper_pb2_grpc",
    "oracle_pb2",
    "oracle_pb2_grpc",
    "token_pb2",
    "token_pb2_grpc",
]
