"""Server reflection that serves the contract's descriptors WITH their comments.

The generated modules register descriptors without source info, so the stock servicer
(which re-serializes descriptors from the pool) sends no comment and ``grpcurl describe``
shows bare messages. This servicer answers with the files protoc wrote at generation
time, source info included (``stubs.documented_files``), and with the stock answer for
any other file (health, reflection, well-known types)."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection
from grpc_reflection.v1alpha import reflection_pb2 as pb

from adapters.grpc.rpc import register_guarded
from adapters.grpc.stubs import documented_files

SERVICE_NAME = reflection.SERVICE_NAME
# grpcio-reflection ships no types: its messages are untyped here.
Request: TypeAlias = Any
Response: TypeAlias = Any


class DocumentedReflection(reflection.ReflectionServicer):
    def __init__(self, service_names: tuple[str, ...], documented: dict[str, bytes]) -> None:
        super().__init__(service_names)
        self._pool = descriptor_pool.Default()
        self._documented = documented

    def _response(self, file: FileDescriptor, request: Request) -> Response:
        files: dict[str, FileDescriptor] = {}
        pending = [file]
        while pending:
            current = pending.pop()
            if current.name not in files:
                files[current.name] = current
                pending.extend(current.dependencies)
        serialized = []
        for name, descriptor in files.items():
            if name in self._documented:
                serialized.append(self._documented[name])
            else:
                proto = descriptor_pb2.FileDescriptorProto()
                descriptor.CopyToProto(proto)
                serialized.append(proto.SerializeToString())
        return pb.ServerReflectionResponse(
            file_descriptor_response=pb.FileDescriptorResponse(file_descriptor_proto=serialized),
            original_request=request,
        )

    def _file_by_filename(self, request: Request, filename: str) -> Response:
        try:
            file = self._pool.FindFileByName(filename)
        except KeyError:
            return super()._file_by_filename(request, filename)
        return self._response(file, request)

    def _file_containing_symbol(self, request: Request, symbol: str) -> Response:
        try:
            file = self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            return super()._file_containing_symbol(request, symbol)
        return self._response(file, request)


def enable(service_names: tuple[str, ...], server: grpc.Server) -> None:
    """Serve reflection for ``service_names`` on ``server``, with the contract's comments,
    guarded as the node's services are: a request message that does not decode ends the
    stream INVALID_ARGUMENT (the generated ``add_ServerReflectionServicer_to_server`` would
    answer INTERNAL)."""
    register_guarded(
        server,
        DocumentedReflection(service_names, documented_files()),
        pb.DESCRIPTOR.services_by_name["ServerReflection"],
    )
