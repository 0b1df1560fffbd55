"""Malformed input: each gets the right code and a message naming what was wrong, and the
store holds exactly what it held before."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from adapters.grpc.stubs import admin_pb2, common_pb2, oracle_pb2, token_pb2
from tests.grpc.conftest import T0, WAD
from tests.grpc.helpers import rejected

INVALID = grpc.StatusCode.INVALID_ARGUMENT

BAD_AMOUNTS = [
    ("-5", "must not be negative"),
    ("0", "must be a positive integer"),
    ("1.5", "no sign, decimal point"),
    ("1e3", "no sign, decimal point"),
    ("abc", "no sign, decimal point"),
    ("", "is required"),
    (" 1", "no sign, decimal point"),
    ("+1", "no sign, decimal point"),
    ("１２", "no sign, decimal point"),  # full-width digits are not ASCII digits
    (str(2**128), "out of range"),
    ("9" * 5000, "out of range"),
]


def _same_count(node, call, code, *fragments):
    before = node.stored_count()
    rejected(call, code, *fragments)
    assert node.stored_count() == before


@pytest.mark.parametrize(("text", "why"), BAD_AMOUNTS)
def test_a_malformed_mint_amount_is_rejected(ready, text, why):
    call = lambda: ready.alice.token.Mint(  # noqa: E731
        token_pb2.MintRequest(product_id="P", holder_id="alice", collateral_amount=text, request_id="m"),
        metadata=ready.alice.md,
    )
    _same_count(ready, call, INVALID, "collateral_amount", why)


@pytest.mark.parametrize(("text", "why"), BAD_AMOUNTS)
def test_a_malformed_redeem_amount_is_rejected(ready, text, why):
    ready.mint("alice", 10**9, "m0")
    call = lambda: ready.alice.token.Redeem(  # noqa: E731
        token_pb2.RedeemRequest(product_id="P", holder_id="alice", token_amount=text, request_id="r"),
        metadata=ready.alice.md,
    )
    _same_count(ready, call, INVALID, "token_amount", why)


@pytest.mark.parametrize(("text", "why"), [t for t in BAD_AMOUNTS if t[0] not in {"0", ""}])
def test_a_malformed_slippage_bound_is_rejected(ready, text, why):
    call = lambda: ready.alice.token.Mint(  # noqa: E731
        token_pb2.MintRequest(
            product_id="P",
            holder_id="alice",
            collateral_amount="1000000",
            min_tokens_out=text,
            request_id="m",
        ),
        metadata=ready.alice.md,
    )
    _same_count(ready, call, INVALID, "min_tokens_out", why)


@pytest.mark.parametrize(
    ("text", "why"), [("0", "positive"), ("-1", "negative"), ("1.5", "decimal point"), ("", "required")]
)
def test_a_malformed_price_is_rejected(ready, text, why):
    call = lambda: ready.r1.oracle.ReportPrice(  # noqa: E731
        oracle_pb2.ReportPriceRequest(
            symbol="BTC", price=text, observed_at=Timestamp(seconds=T0), reporter_id="r1", request_id="x"
        ),
        metadata=ready.r1.md,
    )
    _same_count(ready, call, INVALID, why)


def test_a_price_without_observed_at_is_rejected(ready):
    call = lambda: ready.r1.oracle.ReportPrice(  # noqa: E731
        oracle_pb2.ReportPriceRequest(symbol="BTC", price=str(WAD), reporter_id="r1", request_id="x"),
        metadata=ready.r1.md,
    )
    _same_count(ready, call, INVALID, "observed_at is required")


def test_a_price_from_the_future_is_rejected(ready):
    call = lambda: ready.r1.oracle.ReportPrice(  # noqa: E731
        oracle_pb2.ReportPriceRequest(
            symbol="BTC",
            price=str(WAD),
            observed_at=Timestamp(seconds=T0 + 60),
            reporter_id="r1",
            request_id="x",
        ),
        metadata=ready.r1.md,
    )
    _same_count(ready, call, INVALID, "in the future")


@pytest.mark.parametrize("rpc", ["Mint", "ReportPrice", "Pause"])
def test_a_missing_request_id_is_rejected(ready, rpc):
    calls = {
        "Mint": lambda: ready.alice.token.Mint(
            token_pb2.MintRequest(product_id="P", holder_id="alice", collateral_amount="1000000"),
            metadata=ready.alice.md,
        ),
        "ReportPrice": lambda: ready.r1.oracle.ReportPrice(
            oracle_pb2.ReportPriceRequest(
                symbol="BTC", price=str(WAD), observed_at=Timestamp(seconds=T0), reporter_id="r1"
            ),
            metadata=ready.r1.md,
        ),
        "Pause": lambda: ready.admin.admin.Pause(
            admin_pb2.PauseRequest(product_id="P"), metadata=ready.admin.md
        ),
    }
    _same_count(ready, calls[rpc], INVALID, "request_id")


def test_a_malformed_holder_id_is_rejected_in_development_mode_too(tmp_path):
    from tests.grpc.conftest import start  # noqa: PLC0415

    node = start(tmp_path, entries=[])
    try:
        node.ready()
        call = lambda: node.anon.token.Mint(  # noqa: E731
            token_pb2.MintRequest(
                product_id="P", holder_id="has space", collateral_amount="1000000", request_id="m"
            ),
            metadata=node.anon.md,
        )
        _same_count(node, call, INVALID, "holder_id")
    finally:
        node.close()


OUT_OF_RANGE = [
    ({"target_leverage": str(-5 * WAD)}, "target_leverage must be between -3 and -1"),
    ({"target_leverage": str(WAD)}, "target_leverage must be between -3 and -1"),
    ({"mint_fee_bps": 5_000}, "mint_fee_bps must be in [0, 1000]"),
    ({"mint_fee_bps": -1}, "mint_fee_bps must be in [0, 1000]"),
    ({"max_price_move": str(2 * WAD)}, "max_price_move must be in (0, 1)"),
    ({"oracle_quorum": 0}, "oracle_quorum must be in [1, 64]"),
    ({"rebalance_interval_s": 0}, "rebalance_interval_s must be in [1, 3153600000]"),
    # SPEC §7: intervals and ages have sane maxima (the poison: 2^63-ish intervals).
    ({"rebalance_interval_s": 9223372036854689407}, "rebalance_interval_s must be in [1, 3153600000]"),
    ({"rebalance_interval_s": 2**62}, "rebalance_interval_s must be in [1, 3153600000]"),
    ({"max_oracle_age_s": 2**63 - 1}, "max_oracle_age_s must be in [1, 31622400]"),
    ({"max_oracle_age_s": 0}, "max_oracle_age_s must be in [1, 31622400]"),
    ({"band_low": "0"}, "band_low must be in (0, |target_leverage|)"),
    ({"collateral_decimals": 40}, "collateral_decimals must be in [0, 18]"),
    ({"supply_cap": "-1"}, "supply_cap must be in [0, 340282366920938463463374607431768211455]"),
    ({"max_trade_notional": str(2**128)}, "params.max_trade_notional is out of range"),
    (
        {"target_leverage": str(-2 * WAD), "max_price_move": str(4 * WAD // 10)},
        "must be < 1 so that an accepted move cannot wipe out equity",
    ),
    ({"band_high": "1.2"}, "params.band_high must be"),
]


@pytest.mark.parametrize(("params", "why"), OUT_OF_RANGE)
def test_out_of_range_parameters_are_rejected_at_launch(node, params, why):
    call = lambda: node.admin.admin.LaunchProduct(  # noqa: E731
        admin_pb2.LaunchProductRequest(
            product_id="P",
            components=[common_pb2.Component(symbol="BTC", quantity=str(WAD))],
            params=common_pb2.Params(**params),
            request_id="launch",
        ),
        metadata=node.admin.md,
    )
    _same_count(node, call, INVALID, why)


def test_out_of_range_parameters_are_rejected_on_update(ready):
    call = lambda: ready.admin.admin.UpdateParameters(  # noqa: E731
        admin_pb2.UpdateParametersRequest(
            product_id="P", params=common_pb2.Params(redeem_fee_bps=2_000), request_id="u"
        ),
        metadata=ready.admin.md,
    )
    _same_count(ready, call, INVALID, "redeem_fee_bps must be in [0, 1000]")


@pytest.mark.parametrize(
    ("components", "why"),
    [
        ([], "at least one component"),
        ([("BTC", "1"), ("BTC", "2")], "appears twice"),
        ([("BTC", "-1")], "must be positive"),
        ([("BTC", "0.5")], "quantity"),
        ([("bad symbol", "1")], "symbol must be"),
    ],
)
def test_a_malformed_index_is_rejected(node, components, why):
    call = lambda: node.admin.admin.LaunchProduct(  # noqa: E731
        admin_pb2.LaunchProductRequest(
            product_id="P",
            components=[common_pb2.Component(symbol=s, quantity=q) for s, q in components],
            request_id="launch",
        ),
        metadata=node.admin.md,
    )
    _same_count(node, call, INVALID, why)


def test_a_malformed_product_id_is_rejected(node):
    call = lambda: node.admin.admin.LaunchProduct(  # noqa: E731
        admin_pb2.LaunchProductRequest(
            product_id="",
            components=[common_pb2.Component(symbol="BTC", quantity="1")],
            request_id="launch",
        ),
        metadata=node.admin.md,
    )
    _same_count(node, call, INVALID, "product_id must be")


# Bytes that do not decode: a truncated tag (as any request), and field 1 as a string of
# invalid UTF-8 (field 1 is a string in most requests, health's and reflection's included).
UNDECODABLE = (b"\xff", b"\x0a\x02\xff\xfe")


def exposed_methods(channel: grpc.Channel) -> list[MethodDescriptor]:
    """Every method of every service the server lists through reflection (ours, health
    checking, reflection itself), as a client that knows nothing but the server finds them."""
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    database = ProtoReflectionDescriptorDatabase(channel)
    methods = []
    for name in database.get_services():
        methods.extend(pool.FindServiceByName(name).methods)
    return methods


def _decodes(method: MethodDescriptor, payload: bytes) -> bool:
    try:
        message_factory.GetMessageClass(method.input_type).FromString(payload)
    except DecodeError:
        return False
    return True


def raw_call(channel: grpc.Channel, method: MethodDescriptor, payload: bytes, token: str) -> grpc.StatusCode:
    """``payload`` sent as is (identity serializers) to ``method``, whatever its kind; the
    status it ends with."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = (("authorization", f"Bearer {token}"),)
    try:
        if method.client_streaming:
            call = channel.stream_stream(path, request_serializer=None, response_deserializer=None)
            list(call(iter([payload]), metadata=metadata, timeout=10))
        elif method.server_streaming:
            stream = channel.unary_stream(path, request_serializer=None, response_deserializer=None)
            list(stream(payload, metadata=metadata, timeout=10))
        else:
            unary = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
            unary(payload, metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def test_undecodable_bytes_are_invalid_argument_on_every_method_the_server_exposes(ready):
    """SPEC §7, never INTERNAL: bytes that do not decode, sent to every method of every
    service reflection lists (health's Check, List and Watch and reflection's stream
    included, which gRPC's own deserializers would answer INTERNAL), are INVALID_ARGUMENT
    for a caller whose role may call the method, and never INTERNAL or UNKNOWN for any."""
    from tests.grpc.conftest import TOKENS  # noqa: PLC0415

    methods = exposed_methods(ready.channel)
    services = {m.containing_service.full_name for m in methods}
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services, services
    assert {f"iit.v1.{s}Service" for s in ("Admin", "Oracle", "Token", "Keeper", "Audit")} <= services
    before = ready.stored_count()
    for method in methods:
        for payload in UNDECODABLE:
            codes = {
                raw_call(ready.channel, method, payload, TOKENS[who]) for who in ("admin", "r1", "alice")
            }
            name = f"{method.containing_service.full_name}/{method.name}"
            assert not codes & {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, (name, payload, codes)
            if not _decodes(method, payload):  # an empty message takes field 1 as unknown
                assert INVALID in codes, (name, payload, codes)
    assert ready.stored_count() == before


def test_health_and_reflection_still_answer_valid_requests(ready):
    """Served through the lenient deserializers, health checking and reflection behave as
    gRPC's own: Check, an unknown service, List (unimplemented by grpcio's servicer), Watch's
    first answer, reflection's stream."""
    health = health_pb2_grpc.HealthStub(ready.channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(service="iit.v1.TokenService")).status == serving
    rejected(
        lambda: health.Check(health_pb2.HealthCheckRequest(service="no.Such")), grpc.StatusCode.NOT_FOUND
    )
    # grpcio-health-checking's servicer does not implement List: still so.
    rejected(lambda: health.List(health_pb2.HealthListRequest()), grpc.StatusCode.UNIMPLEMENTED)
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert next(watch).status == serving
    watch.cancel()
    methods = exposed_methods(ready.channel)
    assert any(m.full_name == "iit.v1.TokenService.Mint" for m in methods)
