"""SPEC §7, the contract at its edges, on a served node: the cases of issue 12 as a hostile
caller sends them. Bounded parameters and times (no poison reaches the log), ids of a
documented length and alphabet, echoed values cut short, undecodable bytes
INVALID_ARGUMENT, and the node's own request ids out of every client's reach."""

from __future__ import annotations

import json
import logging

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.grpc.logs import JsonLines
from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, keeper_pb2, oracle_pb2, token_pb2
from domain.params import TIME_MAX_S
from tests.grpc.conftest import PRICES, T0, USDC, WAD, Harness
from tests.grpc.helpers import rejected

INVALID = grpc.StatusCode.INVALID_ARGUMENT
POISON_INTERVAL = 9223372036854689407  # the value: next_rebalance_at overflows int64


def _unchanged(node: Harness, call, code, *fragments) -> grpc.RpcError:
    before = node.stored_count()
    error = rejected(call, code, *fragments)
    assert node.stored_count() == before
    return error


def _get(node: Harness, product_id: str = "P") -> common_pb2.Product:
    return node.admin.token.GetProduct(
        token_pb2.GetProductRequest(product_id=product_id), metadata=node.admin.md
    )


def _report(node: Harness, symbol: str, rid: str, at: int | None = None) -> oracle_pb2.ReportPriceResponse:
    return node.r1.oracle.ReportPrice(
        oracle_pb2.ReportPriceRequest(
            symbol=symbol,
            price=str(PRICES[symbol]),
            observed_at=Timestamp(seconds=node.now if at is None else at),
            reporter_id="r1",
            request_id=rid,
        ),
        metadata=node.r1.md,
    )


def _tick(node: Harness, now: int) -> keeper_pb2.TickResponse:
    return node.admin.keeper.Tick(keeper_pb2.TickRequest(now=Timestamp(seconds=now)), metadata=node.admin.md)


# Poison in the log --------------------------------------------------------------------


def test_a_launch_with_a_poison_interval_is_rejected_and_every_product_stays_readable(ready):
    call = lambda: ready.admin.admin.LaunchProduct(  # noqa: E731
        admin_pb2.LaunchProductRequest(
            product_id="Q",
            components=[common_pb2.Component(symbol="BTC", quantity=str(WAD))],
            params=common_pb2.Params(rebalance_interval_s=POISON_INTERVAL),
            request_id="launch-q",
        ),
        metadata=ready.admin.md,
    )
    _unchanged(ready, call, INVALID, "rebalance_interval_s must be in [1, 3153600000]")
    rejected(lambda: _get(ready, "Q"), grpc.StatusCode.NOT_FOUND)
    response = _report(ready, "BTC", "btc-after")  # the oracle is not hurt
    assert [o.applied for o in response.outcomes] == [True]
    assert _get(ready).status == common_pb2.PRODUCT_STATUS_ACTIVE


def test_update_parameters_out_of_range_is_rejected_and_the_next_tick_runs(ready):
    for value in (2**63 - 1, 2**62, POISON_INTERVAL):
        call = lambda v=value: ready.admin.admin.UpdateParameters(  # noqa: E731
            admin_pb2.UpdateParametersRequest(
                product_id="P", params=common_pb2.Params(rebalance_interval_s=v), request_id=f"up-{v}"
            ),
            metadata=ready.admin.md,
        )
        _unchanged(ready, call, INVALID, "rebalance_interval_s")
    ready.advance(86_400)
    assert _get(ready).params.rebalance_interval_s == 86_400


def test_a_simulated_tick_beyond_the_time_limit_is_rejected_and_the_clock_can_go_on(ready):
    _unchanged(
        ready, lambda: _tick(ready, 2**63 - 1), INVALID, "now must be between 1970-01-01 and 9800-01-01"
    )
    _unchanged(ready, lambda: _tick(ready, TIME_MAX_S + 1), INVALID, "now")
    assert _tick(ready, T0 + 60).now.seconds == T0 + 60  # the clock did not move
    # The latest time accepted still leaves every derived time readable by JSON clients.
    assert _tick(ready, TIME_MAX_S).now.seconds == TIME_MAX_S
    shown = json.loads(json_format.MessageToJson(_get(ready)))
    assert shown["nextRebalanceAt"] < "9999"


def test_a_price_observed_beyond_the_time_limit_is_rejected_naming_observed_at(ready):
    _unchanged(ready, lambda: _report(ready, "BTC", "far", at=TIME_MAX_S + 1), INVALID, "observed_at")
    _unchanged(ready, lambda: _report(ready, "BTC", "farther", at=2**62), INVALID, "observed_at")


# Ids, echoes, undecodable bytes -------------------------------------------------------


def test_a_20_kb_id_is_invalid_argument_with_a_short_message(ready):
    big = "x" * 20_000
    for call in (
        lambda: _get(ready, big),
        lambda: ready.mint("alice", USDC, big),
        lambda: ready.admin.token.GetBalance(
            token_pb2.GetBalanceRequest(product_id="P", holder_id=big), metadata=ready.admin.md
        ),
        lambda: _report(ready, "BTC", big),
    ):
        error = _unchanged(ready, call, INVALID)
        assert len(error.details()) < 1_500, len(error.details())
        assert "20000 characters" in error.details()


def test_request_ids_have_a_documented_alphabet(ready):
    for request_id in ("clé", "with space", "tab\there", "nul\x00", "a#b", "x" * 129):
        _unchanged(ready, lambda r=request_id: ready.mint("alice", USDC, r), INVALID, "request_id")
    assert ready.mint("alice", USDC, "0190f3a4-7b1c-7cc3-9b1e-2f4d5c6b7a89").tokens_minted


def test_a_one_megabyte_field_makes_a_short_log_line(ready):
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonLines().format(record))

    handler = Capture()
    logger = logging.getLogger("iit")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        rejected(lambda: ready.mint("alice", USDC, "m-big", product_id="P" * 1_000_000), INVALID)
        rejected(
            lambda: ready.alice.token.Mint(
                token_pb2.MintRequest(
                    product_id="P", holder_id="alice", collateral_amount="9" * 1_000_000, request_id="m-big2"
                ),
                metadata=ready.alice.md,
            ),
            INVALID,
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    rpc_lines = [line for line in lines if '"rpc"' in line]
    assert len(rpc_lines) == 2
    assert all(len(line) < 2_000 for line in rpc_lines), [len(line) for line in rpc_lines]


def _raw(node: Harness, method: str, data: bytes, streaming: bool = False) -> None:
    md = node.alice.md if method.endswith("/Mint") else node.admin.md
    if streaming:
        call = node.channel.unary_stream(method, request_serializer=None, response_deserializer=None)
        list(call(data, metadata=md))
    else:
        node.channel.unary_unary(method, request_serializer=None, response_deserializer=None)(
            data, metadata=md
        )


def test_bytes_that_do_not_decode_are_invalid_argument_not_internal(ready):
    truncated = b"\x0a\x10ab"  # field 1, a length that runs past the end
    for method, string_tag, streaming in (
        ("/iit.v1.TokenService/GetProduct", b"\x0a", False),  # product_id = 1
        ("/iit.v1.TokenService/Mint", b"\x0a", False),
        ("/iit.v1.AdminService/LaunchProduct", b"\x0a", False),
        ("/iit.v1.KeeperService/Tick", b"\x0a", False),  # now = 1: a Timestamp of bad bytes
        ("/iit.v1.AuditService/StreamEvents", b"\x1a", True),  # product_id = 3
    ):
        bad_utf8 = string_tag + b"\x02\xff\xfe"  # 2 bytes that are not UTF-8
        for data in (bad_utf8, truncated):
            _unchanged(
                ready,
                lambda m=method, d=data, st=streaming: _raw(ready, m, d, st),
                INVALID,
                "does not decode as iit.v1.",
            )


# Namespaced ids -----------------------------------------------------------------------


def test_no_client_can_take_an_id_of_the_keeper_or_of_a_fanned_out_price(ready):
    version = _get(ready).version
    # Every form the node uses for its own ids, then the forms of earlier versions.
    forms = [f"#keeper:P:{T0 + 60}:{version}", "eth-1#P", "#P", "x#P"]
    for request_id in forms:
        _unchanged(
            ready,
            lambda r=request_id: ready.alice.keeper.Rebalance(
                keeper_pb2.RebalanceRequest(product_id="P", request_id=r), metadata=ready.alice.md
            ),
            INVALID,
            "request_id",
        )
    legacy = f"keeper:P:{T0 + 60}:{version}"
    ready.alice.keeper.Rebalance(
        keeper_pb2.RebalanceRequest(product_id="P", request_id=legacy), metadata=ready.alice.md
    )
    ready.alice.keeper.Rebalance(
        keeper_pb2.RebalanceRequest(product_id="P", request_id="eth-1"), metadata=ready.alice.md
    )
    tick = _tick(ready, T0 + 60)
    assert [o.error for o in tick.outcomes] == [""]
    # The oracle's report "eth-1" is recorded as "eth-1#P", in the node's namespace: the
    # holder's Rebalance("eth-1") cannot block it.
    response = _report(ready, "ETH", "eth-1", at=T0 + 60)
    assert [o.applied for o in response.outcomes] == [True]


def test_the_events_of_a_fanned_out_price_and_of_the_keeper_carry_the_node_s_ids(ready):
    # A vault with supply, so the keeper's accrual moves a base unit and writes an event
    # (an idle product's tick writes nothing).
    ready.mint("alice", USDC, "mint-before-the-tick")
    ready.advance(600)
    events = list(
        ready.admin.audit.StreamEvents(
            audit_pb2.StreamEventsRequest(from_position=0), metadata=ready.admin.md
        )
    )
    ids = {e.request_id for e in events}
    assert any(i.startswith("#keeper:P:") for i in ids), ids
    assert any(i.endswith("#P") and not i.startswith("#") for i in ids), ids
