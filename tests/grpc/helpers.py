"""Assertions on RPC failures."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest


def _call_and_read(call: Callable[[], object]) -> None:
    """Call; a stream fails only when it is read, so read it."""
    result = call()
    if hasattr(result, "__iter__") and not isinstance(result, str | bytes):
        list(result)  # type: ignore[call-overload]


def rejected(call: Callable[[], object], code: grpc.StatusCode, *fragments: str) -> grpc.RpcError:
    """``call`` fails with ``code`` and a message holding every fragment."""
    with pytest.raises(grpc.RpcError) as caught:
        _call_and_read(call)
    error = caught.value
    assert error.code() == code, f"{error.code()} {error.details()}"
    for fragment in fragments:
        assert fragment in error.details(), error.details()
    return error
