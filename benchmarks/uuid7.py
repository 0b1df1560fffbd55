"""UUIDv7 request ids for the benchmark's clients (RFC 9562; Python 3.11's ``uuid`` has no
``uuid7``): 48 bits of Unix milliseconds, then 74 random bits. The recommended form of a
request id (SPEC §2), the one a store keys by itself (``adapters/store/key_format.py``)."""

from __future__ import annotations

import random
import time
from uuid import UUID

_RANDOM = random.Random()  # noqa: S311 - unique ids for a benchmark, not secrets


def uuid7() -> str:
    """A new UUIDv7 in its canonical lowercase form."""
    bits = _RANDOM.getrandbits(74)
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 7 << 76
        | (bits >> 62) << 64
        | 0b10 << 62
        | bits & ((1 << 62) - 1)
    )
    return str(UUID(int=value))
