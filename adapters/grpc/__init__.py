"""The node over gRPC: stubs generated from proto/iit/v1, thin servicers, auth, server."""
