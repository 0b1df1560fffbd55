"""SPEC §7, never INTERNAL: a wire fuzzer. Hypothesis strategies built from the proto
descriptors generate every request message of every RPC of iit.v1 (valid values, boundary
values and hostile ones: huge and negative numbers, unicode digits, whitespace, NUL,
20 KB strings, far timestamps, reused ids, bytes that do not decode), interleaved with valid
traffic from several holders and reporters, against a real served node.

After every call: no INTERNAL or UNKNOWN, and a rejected call wrote nothing. After every
example: Σ balances = supply for every product. After the run: CheckInvariants is clean
and so is ``iit audit``. The hypothesis profile sets the size: ``ci`` (``make test``) runs
in well under two minutes, ``deep`` (``make deep``) twenty times as many examples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.cli import main
from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, keeper_pb2, oracle_pb2, token_pb2
from domain.params import TIME_MAX_S
from tests.grpc.conftest import PRICES, TOKENS, USDC, WAD, Harness, start

MODULES = (admin_pb2, oracle_pb2, token_pb2, keeper_pb2, audit_pb2)
METHODS: list[MethodDescriptor] = [
    method
    for module in MODULES
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
HOLDERS = ("alice", "bob")
REPORTERS = ("r1", "r2")
PRODUCTS = ("P", "Q")

# Hostile strings: what a careless or malicious client sends in any string field.
HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            " 1",
            "1 ",
            "\t1",
            "+1",
            "-0",
            "1.5",
            "1e3",
            "0x10",
            "١٢٣",  # Arabic-Indic digits: str.isdigit() is true
            "１２３",  # fullwidth digits
            "\x00",
            "a\x00b",
            "\n",
            "#",
            "#keeper:P:1700000000:1",
            "keeper:P:1700000000:1",
            "eth-1#P",
            "treasury",
            "locked:minimum-supply",
            "🙂",
            "9" * 40,
            "9" * 400,
            "-" + "9" * 40,
            str(2**128),
            str(2**128 - 1),
            str(2**63),
            str(-(2**63)),
        ]
    ),
    st.integers(1, 20_000).map(lambda n: "x" * n),
    st.text(max_size=40),
)
AMOUNT = st.one_of(
    st.integers(0, 10**22).map(str),
    st.integers(1, 10**4).map(lambda n: str(n * USDC)),
    st.integers(1, 10).map(lambda n: str(n * WAD)),
)
INT64 = st.one_of(
    st.integers(-5, 100_000),
    st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**62, 2**63 - 1, -(2**63), TIME_MAX_S, TIME_MAX_S + 1]),
)
AMOUNT_FIELDS = {
    "collateral_amount",
    "token_amount",
    "min_tokens_out",
    "min_collateral_out",
    "price",
    "quantity",
    "funding_rate",
    "max_trade_notional",
    "supply_cap",
}
SIGNED_WAD_FIELDS = {"target_leverage", "band_low", "band_high", "ripcord_leverage", "max_price_move"}


class Fuzz:
    """The strategies of one example: they know the node's clock and the caller."""

    def __init__(self, node: Harness, caller: str) -> None:
        self.node = node
        self.caller = caller
        self.now = node.running.service.now()

    def valid_string(self, field: FieldDescriptor) -> st.SearchStrategy[str]:
        name = field.name
        if name == "product_id":
            return st.sampled_from([*PRODUCTS, "NEW", "NOPE"])
        if name in {"holder_id", "from_holder_id"}:
            mine = [self.caller] if self.caller in HOLDERS else list(HOLDERS)
            return st.sampled_from([*mine, *mine, "carol"])
        if name == "to_holder_id":
            return st.sampled_from(["alice", "bob", "carol"])
        if name == "reporter_id":
            return st.just(self.caller) if self.caller in REPORTERS else st.sampled_from(REPORTERS)
        if name == "symbol":
            return st.sampled_from(["BTC", "ETH", "SOL", "DOGE"])
        if name == "request_id":  # a few reused ids among fresh ones
            return st.one_of(st.sampled_from(["a", "b", "c"]), st.uuids().map(str))
        if name in AMOUNT_FIELDS:
            return AMOUNT
        if name in SIGNED_WAD_FIELDS:
            return st.integers(-3 * WAD, 3 * WAD).map(str)
        return st.text(max_size=8)

    def string(self, field: FieldDescriptor) -> st.SearchStrategy[str]:
        return st.one_of(self.valid_string(field), self.valid_string(field), HOSTILE_TEXT)

    def timestamp(self) -> st.SearchStrategy[dict[str, int]]:
        near = st.integers(-7_200, 0).map(lambda d: {"seconds": self.now + d})
        later = st.integers(0, 86_400).map(lambda d: {"seconds": self.now + d})
        far = st.sampled_from([-1, -(2**40), TIME_MAX_S + 1, 2**62, 2**63 - 1, 253_402_300_800]).map(
            lambda s: {"seconds": s}
        )
        nanos = st.tuples(near, st.integers(-5, 2 * 10**9)).map(lambda t: {**t[0], "nanos": t[1]})
        return st.one_of(near, near, later, far, nanos)

    def value(self, field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name == "google.protobuf.Timestamp":
                if field.name == "now":  # Tick: mostly a little later, never a valid far moment
                    return st.one_of(
                        st.integers(0, 3_600).map(lambda d: {"seconds": self.now + d}),
                        st.sampled_from(
                            [{"seconds": -1}, {"seconds": TIME_MAX_S + 1}, {"seconds": 2**63 - 1}]
                        ),
                    )
                return self.timestamp()
            return self.fields(field.message_type, depth + 1)
        if field.type == FieldDescriptor.TYPE_STRING:
            return self.string(field)
        if field.type == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if field.type == FieldDescriptor.TYPE_ENUM:
            return st.sampled_from([v.number for v in field.enum_type.values])
        if field.type in {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64}:
            return st.integers(0, 2**32 - 1)
        if field.type in {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32}:
            return st.integers(-(2**31), 2**31 - 1)
        if field.type == FieldDescriptor.TYPE_BYTES:
            return st.binary(max_size=64)
        return INT64

    def fields(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
        """A dict of field values for ``descriptor``: any subset of its fields, each drawn
        from its strategy (a list of them for a repeated field)."""
        parts: dict[str, st.SearchStrategy[Any]] = {}
        for field in descriptor.fields:
            if depth > 2 and field.type == FieldDescriptor.TYPE_MESSAGE:
                continue
            value = self.value(field, depth)
            if field.is_repeated:
                parts[field.name] = st.lists(value, max_size=3)
            else:
                parts[field.name] = value
        return st.fixed_dictionaries({}, optional=parts)


def _build(message_class: type[Message], values: dict[str, Any]) -> Message:
    message = message_class()
    _fill(message, values)
    return message


def _fill(message: Message, values: dict[str, Any]) -> None:
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.is_repeated:
                for item in value:
                    _fill(getattr(message, name).add(), item)
            else:
                _fill(getattr(message, name), value)
        elif field.is_repeated:
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)


def _fitting(method: MethodDescriptor) -> list[str]:
    """The callers whose role may call ``method``."""
    service = method.containing_service.name
    if service == "OracleService":
        return list(REPORTERS)
    if service == "TokenService" and method.name not in {"GetProduct", "GetBalance"}:
        return list(HOLDERS)
    return ["admin"]


def _every_string(message: Message, text: str) -> Message:
    """``message`` with every string field, nested ones too, set to ``text``."""
    for field in message.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                getattr(message, field.name).append(text)
            else:
                setattr(message, field.name, text)
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type.full_name != "google.protobuf.Timestamp"
        ):
            child = getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
            _every_string(child, text)
    return message


def _caller_for(method: MethodDescriptor) -> st.SearchStrategy[str]:
    fitting = _fitting(method)
    return st.one_of(
        st.sampled_from(fitting), st.sampled_from(fitting), st.sampled_from(["admin", *HOLDERS, *REPORTERS])
    )


def _call(node: Harness, method: MethodDescriptor, caller: str, payload: Message | bytes) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = (("authorization", f"Bearer {TOKENS[caller]}"),)
    serialize: Callable[[Any], bytes] | None = (
        None if isinstance(payload, bytes) else type(payload).SerializeToString
    )
    try:
        if method.server_streaming:
            stream = node.channel.unary_stream(path, request_serializer=serialize, response_deserializer=None)
            call = stream(payload, metadata=metadata, timeout=5)
            for count, _ in enumerate(call):
                if count >= 200:
                    call.cancel()
                    break
        else:
            unary = node.channel.unary_unary(path, request_serializer=serialize, response_deserializer=None)
            unary(payload, metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def _stored(node: Harness) -> int:
    return node.running.service.node.recorder.max_notification_id() or 0


def _balances_add_up(node: Harness) -> None:
    reads = node.running.service.reads
    for product_id in reads.product_ids():
        state = reads.load(product_id).state
        assert sum(state.balances.values()) == state.vault.supply, product_id


_SERIAL = iter(range(10**9))


def _valid_traffic(node: Harness, data: st.DataObject, seen: dict[str, set[str]]) -> None:
    """Well-formed traffic between the hostile calls: a reporter refreshes P's prices, then
    a holder mints, redeems or transfers with a fresh id. A rejection here can only be the
    product's state (a halt, say), never the request."""
    serial = next(_SERIAL)
    reporter = node.r1 if data.draw(st.booleans(), label="reporter") else node.r2
    now = node.running.service.now()
    for symbol, price in PRICES.items():
        bump = data.draw(st.integers(-50, 50), label="bps")
        request = oracle_pb2.ReportPriceRequest(
            symbol=symbol,
            price=str(price + price * bump // 10_000),
            observed_at=Timestamp(seconds=now),
            reporter_id="r1" if reporter is node.r1 else "r2",
            request_id=f"valid-px-{serial}-{symbol}",
        )
        code = _call(
            node, _method("OracleService", "ReportPrice"), "r1" if reporter is node.r1 else "r2", request
        )
        assert code in {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}, code  # stale after a Tick
    holder = data.draw(st.sampled_from(HOLDERS), label="holder")
    product_id = data.draw(st.sampled_from(PRODUCTS), label="product")
    kind = data.draw(st.sampled_from(["Mint", "Redeem", "Transfer"]), label="kind")
    balance = int(
        node.admin.token.GetBalance(
            token_pb2.GetBalanceRequest(product_id=product_id, holder_id=holder), metadata=node.admin.md
        ).tokens
    )
    rid = f"valid-{kind}-{serial}"
    if kind == "Mint":
        amount = data.draw(st.integers(1, 1_000), label="usdc") * USDC
        request: Message = token_pb2.MintRequest(
            product_id=product_id, holder_id=holder, collateral_amount=str(amount), request_id=rid
        )
    elif kind == "Redeem":
        tokens = max(1, balance // data.draw(st.integers(2, 20), label="share"))
        request = token_pb2.RedeemRequest(
            product_id=product_id, holder_id=holder, token_amount=str(tokens), request_id=rid
        )
    else:
        request = token_pb2.TransferRequest(
            product_id=product_id,
            from_holder_id=holder,
            to_holder_id="bob" if holder == "alice" else "alice",
            token_amount=str(max(1, balance // 10)),
            request_id=rid,
        )
    code = _call(node, _method("TokenService", kind), holder, request)
    assert code in {grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION}, (kind, code)
    seen.setdefault(f"valid {kind}", set()).add(code.name)


def _method(service: str, name: str) -> MethodDescriptor:
    return next(m for m in METHODS if m.containing_service.name == service and m.name == name)


@pytest.fixture
def market(tmp_path) -> Harness:
    node = start(tmp_path)
    node.ready("P")
    node.admin.admin.LaunchProduct(
        admin_pb2.LaunchProductRequest(
            product_id="Q",
            components=[common_pb2.Component(symbol="ETH", quantity=str(WAD))],
            request_id="launch-Q",
        ),
        metadata=node.admin.md,
    )
    node.report(PRICES, rid="px-2")
    for holder in HOLDERS:
        for product_id in PRODUCTS:
            node.mint(holder, 5_000 * USDC, f"seed-{holder}-{product_id}", product_id)
    yield node
    node.close()


def test_no_request_however_malformed_gets_internal_or_writes_when_rejected(market):
    node = market
    seen: dict[str, set[str]] = {}

    @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        _valid_traffic(node, data, seen)
        for _ in range(data.draw(st.integers(1, 6), label="calls")):
            method = data.draw(st.sampled_from(METHODS), label="method")
            caller = data.draw(_caller_for(method), label="caller")
            request_class = message_factory.GetMessageClass(method.input_type)
            if data.draw(st.integers(0, 19), label="raw") == 0:
                payload: Message | bytes = data.draw(st.binary(max_size=64), label="bytes")
            else:
                values = data.draw(Fuzz(node, caller).fields(method.input_type), label="request")
                payload = _build(request_class, values)
            before = _stored(node)
            code = _call(node, method, caller, payload)
            name = f"{method.containing_service.name}/{method.name}"
            seen.setdefault(name, set()).add(code.name)
            assert code not in NEVER, (name, caller, payload)
            if method.server_streaming:
                assert code in {
                    grpc.StatusCode.OK,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.CANCELLED,
                } or (
                    code in {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
                    or code.name in {"PERMISSION_DENIED", "RESOURCE_EXHAUSTED"}
                ), (name, code)
            elif code != grpc.StatusCode.OK:
                assert _stored(node) == before, (name, code, payload)
        _balances_add_up(node)

    run()
    # Whatever the profile drew, every RPC also meets a fixed sweep of hostile requests.
    for method in METHODS:
        request_class = message_factory.GetMessageClass(method.input_type)
        for text in ("", "x" * 20_000, "١٢٣", " 1", "a\x00b", "#keeper:P:1:1", "-1"):
            for caller in ("admin", _fitting(method)[0]):
                before = _stored(node)
                code = _call(node, method, caller, _every_string(request_class(), text))
                seen.setdefault(f"{method.containing_service.name}/{method.name}", set()).add(code.name)
                assert code not in NEVER, (method.name, text[:20])
                if code != grpc.StatusCode.OK:
                    assert _stored(node) == before, (method.name, code)
        for raw in (b"\xff", b"\x0a\x02\xff\xfe", b"\x12\x05abc"):
            assert _call(node, method, "admin", raw) not in NEVER, (method.name, raw)
    _balances_add_up(node)
    assert {f"{m.containing_service.name}/{m.name}" for m in METHODS} <= set(seen), set(seen)
    assert "OK" in seen.get("valid Mint", set()), seen  # valid traffic went through meanwhile
    report = node.admin.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=node.admin.md)
    assert report.ok, report.violations[:3]
    audited = CliRunner().invoke(main, ["audit", "--store", node.store_url, "--processes", "1"])
    assert audited.exit_code == 0, audited.output
    assert "clean" in audited.output
