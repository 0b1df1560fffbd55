"""The payload is encoded once: the chain hash written around its canonical JSON is the
hash of the whole canonical body, and the stored record written around it reads back as
the library's own encoding would."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from eventsourcing.persistence import JSONTranscoder
from hypothesis import given
from hypothesis import strategies as st

from adapters.store.codec import EncodedPayload, PayloadTranscoder, chain_hash, chain_hash_encoded

text = st.text(max_size=20)  # any code point: quotes, backslashes, controls, non-ASCII
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)
payloads = st.dictionaries(text, json_values, max_size=6)


def canonical_body_hash(
    product_id: str,
    version: int,
    type_name: str,
    schema: int,
    payload: dict[str, Any],
    request_id: str,
    decision_end: bool,
    prev_hash: str,
) -> str:
    """The chain hash as first defined: the canonical JSON of the whole body, hashed."""
    body = {
        "product_id": product_id,
        "version": version,
        "type": type_name,
        "schema": schema,
        "payload": payload,
        "request_id": request_id,
        "decision_end": decision_end,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@given(text, st.integers(0, 10**12), text, st.integers(1, 9), payloads, text, st.booleans(), text)
def test_the_hash_around_an_encoded_payload_is_the_hash_of_the_canonical_body(
    product_id, version, type_name, schema, payload, request_id, decision_end, prev_hash
):
    args = (product_id, version, type_name, schema)
    rest = (request_id, decision_end, prev_hash)
    expected = canonical_body_hash(*args, payload, *rest)
    assert chain_hash(*args, payload, *rest) == expected
    assert chain_hash_encoded(*args, EncodedPayload(payload).json, *rest) == expected


@given(st.dictionaries(text.filter(lambda k: k != "payload"), json_values, max_size=4), payloads)
def test_a_record_written_around_its_encoded_payload_reads_back_as_the_library_writes_it(fields, payload):
    plain, library = JSONTranscoder(), PayloadTranscoder()
    record = {**fields, "payload": EncodedPayload(payload)}
    written = library.encode(record)
    assert plain.decode(written) == plain.decode(plain.encode({**fields, "payload": payload}))
    assert library.encode(fields) == plain.encode(fields)  # anything else: the library's bytes


def test_events_stored_before_the_fli_ftx_parameters_still_load() -> None:
    """ProductLaunched, ParametersUpdated and Rebalanced written before issue 14 lack the
    new fields; they load with the values that keep their old meaning."""
    from adapters.store.codec import decode_event, encode_event  # noqa: PLC0415
    from domain import events as ev  # noqa: PLC0415
    from domain.params import default_params  # noqa: PLC0415

    new_fields = {"rebalance_time_of_day_s", "recentering_speed_wad", "twap_cooldown_s"}
    launched = ev.ProductLaunched(at=1, product_id="P", components=(), params=default_params())
    type_name, version, payload = encode_event(launched)
    old = {**payload, "params": {k: v for k, v in payload["params"].items() if k not in new_fields}}
    assert decode_event(type_name, version, old) == launched
    updated = ev.ParametersUpdated(at=2, previous=default_params(), params=default_params())
    type_name, version, payload = encode_event(updated)
    old = {
        k: ({f: x for f, x in v.items() if f not in new_fields} if isinstance(v, dict) else v)
        for k, v in payload.items()
        if k != "next_rebalance_at"
    }
    assert decode_event(type_name, version, old) == updated
