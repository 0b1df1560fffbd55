"""How a store keys the records it finds by a client's request id (idempotency markers,
price reports, oracle requests), and which way a given store does it.

A marker must be found by its request id alone, forever (no retention window), so its
stream id is derived from the id. Format 1 (``LEGACY_KEYS``, every store written before
format records existed) derives every key as ``uuid5(namespace, kind + ":" + id)``: a
random key, so each marker lands at a random place in the store's primary-key index, and
in a store of millions of markers every commit touches scattered pages (row 3 of
``benchmarks/RESULTS.md``).

Format 2 (``TIME_KEYS``, every store created since) keys the ids that carry time (SPEC §2:
UUIDv7 or ULID, the recommended form) by that time, so markers land in time order, next to
the ones just written:

- a UUIDv7 in its canonical lowercase form, as a request's marker, is its own key;
- any other time-carrying id (a ULID, a UUIDv7 in upper or mixed case) and every
  price-report and oracle-request key of one is a UUIDv8: the id's 48-bit Unix-millisecond
  time, then 74 bits of SHA-256 of the kind and the exact id;
- every other string keeps the format-1 key.

No two different ids (nor one id in two kinds) can share a key, hostile or not: the three
families differ in the UUID's version field (5: uuid5, and every fixed stream of the node —
products, registry, oracle, this record; 7: only a lowercase UUIDv7 request id, the key
being the id itself, one for one; 8: hashed, with the kind in the hash, and two ids collide
only if they share the millisecond and 74 bits of SHA-256). A ULID is never its own key:
its 128 bits can spell any UUID, a product's stream id included.
"""

from __future__ import annotations

import hashlib
import re
from uuid import UUID

LEGACY_KEYS = 1
TIME_KEYS = 2
CURRENT_KEYS = TIME_KEYS  # what a store created now records

_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.IGNORECASE)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)
_CROCKFORD_VALUE = {c: i for i, c in enumerate(_CROCKFORD)} | {c.lower(): i for i, c in enumerate(_CROCKFORD)}
_V8 = 8 << 76  # version field of a UUID held as an int
_RFC_VARIANT = 0b10 << 62


def is_time_id(request_id: str) -> bool:
    return id_time_ms(request_id) is not None


def id_time_ms(request_id: str) -> int | None:
    """The Unix time in milliseconds a UUIDv7 or a ULID carries (either case), else None."""
    if len(request_id) == 36 and _UUID7.fullmatch(request_id):
        return int(request_id[:8] + request_id[9:13], 16)
    if len(request_id) == 26 and _ULID.fullmatch(request_id):
        time = 0
        for char in request_id[:10]:
            time = time * 32 + _CROCKFORD_VALUE[char]
        return time
    return None


def time_key(kind: str, request_id: str) -> UUID | None:
    """The format-2 key of ``request_id`` in ``kind``'s records, or None when the id
    carries no time (it keeps its format-1 key)."""
    time_ms = id_time_ms(request_id)
    if time_ms is None:
        return None
    if kind == "request" and len(request_id) == 36 and request_id == request_id.lower():
        return UUID(request_id)  # a canonical UUIDv7: the id itself
    digest = int.from_bytes(hashlib.sha256(f"{kind}:{request_id}".encode()).digest()[:10], "big")
    high = (digest >> 62) & 0xFFF  # 12 bits beside the version, 62 after the variant
    return UUID(int=(time_ms << 80) | _V8 | (high << 64) | _RFC_VARIANT | (digest & ((1 << 62) - 1)))
