"""Domain events and state to and from JSON-ready dicts, with versioned schemas.

cattrs (by the attrs authors) does the structuring, so that the domain stays plain attrs
classes. Each event type has a schema version; an old payload is upcast step by step
(``UPCASTERS[(type, v)]`` turns version v into v + 1) before it is structured, so that old
logs still load after a schema change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
import msgspec
from eventsourcing.persistence import JSONTranscoder

from domain import commands
from domain.commands import Command
from domain.events import ALL_EVENT_TYPES, Event
from domain.model import ProductState
from domain.params import Params

JSONDict = dict[str, Any]
Upcaster = Callable[[JSONDict], JSONDict]

converter = cattrs.Converter()
EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in ALL_EVENT_TYPES}

# The current schema version of each event type (1 unless listed).
SCHEMA_VERSIONS: dict[str, int] = {"Accrued": 2, "CircuitBreakerTripped": 2, "IndexReconstituted": 2}


def _accrued_v1_to_v2(payload: JSONDict) -> JSONDict:
    """Version 1 of ``Accrued`` had no ``funding_carry``: funding was settled without a
    carried remainder, so the carry after such an event was zero."""
    return {**payload, "funding_carry": 0}


def _tripped_v1_to_v2(payload: JSONDict) -> JSONDict:
    """Version 1 of ``CircuitBreakerTripped`` did not name the reports that tripped it: none
    of them counts as reported since the trip (an admin's acceptance waits for new ones)."""
    return {**payload, "tripping_reports": []}


def _reconstituted_v1_to_v2(payload: JSONDict) -> JSONDict:
    """Version 1 of ``IndexReconstituted`` priced new symbols by a typed price, with no
    oracle report behind it and no change to when the index's price was observed."""
    return {**payload, "new_symbol_reports": [], "observed_at": 0}


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("Accrued", 1): _accrued_v1_to_v2,
    ("CircuitBreakerTripped", 1): _tripped_v1_to_v2,
    ("IndexReconstituted", 1): _reconstituted_v1_to_v2,
}


def schema_version(type_name: str) -> int:
    return SCHEMA_VERSIONS.get(type_name, 1)


def encode_event(event: Event) -> tuple[str, int, JSONDict]:
    """(type name, schema version, payload) of a domain event."""
    type_name = type(event).__name__
    payload: JSONDict = converter.unstructure(event)
    return type_name, schema_version(type_name), payload


def decode_event(type_name: str, version: int, payload: JSONDict) -> Event:
    """The domain event of a stored payload, upcast to the current schema first."""
    current = schema_version(type_name)
    while version < current:
        payload = UPCASTERS[(type_name, version)](payload)
        version += 1
    if version > current:
        msg = f"{type_name} schema v{version} is newer than this node knows (v{current})"
        raise ValueError(msg)
    return converter.structure(payload, EVENT_TYPES[type_name])


def encode_state(state: ProductState) -> JSONDict:
    encoded: JSONDict = converter.unstructure(state)
    return encoded


def decode_state(payload: JSONDict) -> ProductState:
    return converter.structure(payload, ProductState)


# One encoder for every call: ``json.dumps`` with options builds a new one each time.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_FAST = msgspec.json.Encoder(order="sorted")


def canonical_json(value: object) -> str:
    """Sorted keys, no spaces, ASCII: exactly ``json.dumps(value, sort_keys=True,
    separators=(",", ":"))``, the text every chain hash and fingerprint is made of.

    msgspec writes it ~8x faster and byte for byte the same for what the node encodes
    (dicts with str keys, lists, ints of any size, bools, None, ASCII strings: no floats in
    any domain type, see ``tests/store/test_codec.py``); where it would differ, json is
    used: a string with a non-ASCII or DEL character (json escapes them as ``\\uXXXX``)
    and a key that is not a str (msgspec refuses it)."""
    try:
        fast = _FAST.encode(value)
    except TypeError:
        return _CANONICAL.encode(value)
    if fast.isascii() and b"\x7f" not in fast:
        return fast.decode()
    return _CANONICAL.encode(value)


def _command_types() -> dict[str, type[Command]]:
    # From the module, not Command.__subclasses__(): attrs replaces each slotted class by a
    # new one, and the discarded originals linger among the subclasses.
    return {
        name: value
        for name, value in vars(commands).items()
        if isinstance(value, type) and issubclass(value, Command) and value is not Command
    }


COMMAND_TYPES: dict[str, type[Command]] = _command_types()


def encode_command(command: Command) -> JSONDict:
    """A command as JSON: ``{"type": "Mint", "args": {...}}``."""
    return {"type": type(command).__name__, "args": converter.unstructure(command)}


def decode_command(body: JSONDict) -> Command:
    """The command of ``encode_command``'s JSON; ``ValueError`` if it is not one."""
    try:
        cls = COMMAND_TYPES[body["type"]]
        return converter.structure(body.get("args", {}), cls)
    except (KeyError, TypeError, cattrs.BaseValidationError) as error:
        raise ValueError(f"not a command: {body!r} ({type(error).__name__}: {error})") from error


def command_fingerprint(product_id: str, command: Command) -> str:
    """What makes two requests the same command: its type, product and the arguments the
    client sent (not those the node supplied from its records, such as the oracle reports
    of a reconstitution: a retry after new reports is still the same command)."""
    args = converter.unstructure(command)
    for field in attrs.fields(type(command)):
        if field.metadata.get(commands.NODE_SUPPLIED):
            args.pop(field.name, None)
    body = {"product_id": product_id, "type": type(command).__name__, "args": args}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def legacy_update_fingerprint(product_id: str, params: Params) -> str:
    """The fingerprint an ``UpdateParameters`` had before its command was a patch: of the
    whole parameters the servicer had merged (which its ``ParametersUpdated`` records)."""
    body = {
        "product_id": product_id,
        "type": "UpdateParameters",
        "args": {"params": converter.unstructure(params)},
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


GENESIS_HASH = "0" * 64


def chain_hash(
    product_id: str,
    version: int,
    type_name: str,
    schema: int,
    payload: JSONDict,
    request_id: str,
    decision_end: bool,
    prev_hash: str,
) -> str:
    """The hash of a stored event over its full content and its predecessor's hash: the
    SHA-256 of the canonical JSON (sorted keys, no spaces, ASCII) of ``{"decision_end",
    "payload", "prev_hash", "product_id", "request_id", "schema", "type", "version"}``."""
    # json itself, not ``canonical_json``: the audit hashes payloads read back from a store,
    # where anything (a float, by tampering) may be, and judges them as it always did.
    return chain_hash_encoded(
        product_id,
        version,
        type_name,
        schema,
        _CANONICAL.encode(payload),
        request_id,
        decision_end,
        prev_hash,
    )


_string = _CANONICAL.encode  # a str as canonical JSON: quoted and escaped


def chain_hash_encoded(
    product_id: str,
    version: int,
    type_name: str,
    schema: int,
    payload_json: str,
    request_id: str,
    decision_end: bool,
    prev_hash: str,
) -> str:
    """``chain_hash`` of a payload already in canonical JSON: the same bytes, the body
    written around it in its sorted key order instead of encoding the payload again."""
    body = (
        f'{{"decision_end":{"true" if decision_end else "false"},"payload":{payload_json},'
        f'"prev_hash":{_string(prev_hash)},"product_id":{_string(product_id)},'
        f'"request_id":{_string(request_id)},"schema":{int(schema)},"type":{_string(type_name)},'
        f'"version":{int(version)}}}'
    )
    return hashlib.sha256(body.encode()).hexdigest()


class EncodedPayload(dict[str, Any]):
    """An event's payload with its canonical JSON (``json``), made once for the chain hash
    and written as is by ``PayloadTranscoder``: the payload is encoded once, not twice."""

    __slots__ = ("json",)

    def __init__(self, payload: JSONDict) -> None:
        super().__init__(payload)
        self.json = canonical_json(payload)


class PayloadTranscoder(JSONTranscoder):
    """The library's JSON transcoder, writing an ``EncodedPayload`` from its JSON. What it
    writes is the JSON the library's own would (keys in another order, non-ASCII escaped),
    and it is read back by the library's own decoding."""

    def encode(self, obj: Any) -> bytes:  # noqa: ANN401 - the library's signature
        payload = obj.get("payload") if type(obj) is dict else None
        if not isinstance(payload, EncodedPayload):
            return super().encode(obj)
        rest = {key: value for key, value in obj.items() if key != "payload"}
        head = super().encode(rest)[:-1]  # without its closing brace
        separator = b"," if len(head) > 1 else b""
        return head + separator + b'"payload":' + payload.json.encode() + b"}"
