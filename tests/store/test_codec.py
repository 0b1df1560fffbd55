"""The payload is encoded once: the chain hash written around its canonical JSON is the
hash of the whole canonical body, and the stored record written around it reads back as
the library's own encoding would."""

from __future__ import annotations

import base64
import hashlib
import json
import typing
from pathlib import Path
from typing import Any

import attrs
from eventsourcing.persistence import JSONTranscoder
from hypothesis import given
from hypothesis import strategies as st

from adapters.store.codec import (
    EncodedPayload,
    PayloadTranscoder,
    _command_types,
    canonical_json,
    chain_hash,
    chain_hash_encoded,
)
from domain.events import ALL_EVENT_TYPES
from domain.model import ProductState

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


@given(json_values)
def test_canonical_json_is_exactly_the_json_module_s_canonical_text(value):
    assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))


def test_canonical_json_falls_back_to_json_where_the_fast_encoder_would_differ():
    for value in ({"k": "\x7f"}, {"k": "é\u2028"}, {1: 2, 0: 3}, [{"z": 1, "a": "\x00\t"}]):
        assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))


def _holds_a_float(annotation: Any, seen: set[Any]) -> bool:
    if annotation is float:
        return True
    if annotation in seen:
        return False
    seen.add(annotation)
    if attrs.has(annotation):
        hints = typing.get_type_hints(annotation)
        return any(_holds_a_float(hints[f.name], seen) for f in attrs.fields(annotation))
    return any(_holds_a_float(arg, seen) for arg in typing.get_args(annotation))


def test_no_event_command_or_state_can_hold_a_float():
    """``canonical_json``'s fast encoder writes floats unlike json (``1e-05`` as
    ``0.00001``): it is byte-identical because nothing the node encodes is a float."""
    seen: set[Any] = set()
    for kind in (*ALL_EVENT_TYPES, ProductState, *_command_types().values()):
        assert not _holds_a_float(kind, seen), kind


def test_every_hash_of_a_store_written_before_the_fast_encoder_is_recomputed_the_same():
    fixture = json.loads((Path(__file__).parent / "fixtures" / "format1_store.json").read_text())
    checked = 0
    for row in fixture["rows"]:
        record = json.loads(base64.b64decode(row["state"]))
        if not row["topic"].endswith(":StoredProductEvent"):
            continue
        fields = (record["product_id"], row["originator_version"], record["type"], record["schema"])
        rest = (record["request_id"], record["decision_end"], record["prev_hash"])
        assert chain_hash_encoded(*fields, canonical_json(record["payload"]), *rest) == record["hash"]
        checked += 1
    assert checked >= 8
