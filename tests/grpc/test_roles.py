"""Roles (SPEC §5): every RPC with no token, an unknown token and each wrong role; a
holder on another holder's id; an oracle on another reporter's id. Nothing is written."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.grpc.client import Client
from adapters.grpc.server import ConfigError, NodeConfig, start_node
from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, keeper_pb2, oracle_pb2, token_pb2
from tests.grpc.conftest import T0, WAD
from tests.grpc.helpers import rejected

Call = Callable[[Client], object]

# Every RPC, a request it would accept from the right caller, and who may call it.
RPCS: dict[str, tuple[Call, set[str]]] = {
    "LaunchProduct": (
        lambda c: c.admin.LaunchProduct(
            admin_pb2.LaunchProductRequest(
                product_id="Q",
                components=[common_pb2.Component(symbol="BTC", quantity=str(WAD))],
                request_id="l",
            ),
            metadata=c.md,
        ),
        {"admin"},
    ),
    "Pause": (
        lambda c: c.admin.Pause(admin_pb2.PauseRequest(product_id="P", request_id="p"), metadata=c.md),
        {"admin"},
    ),
    "Resume": (
        lambda c: c.admin.Resume(admin_pb2.ResumeRequest(product_id="P", request_id="r"), metadata=c.md),
        {"admin"},
    ),
    "UpdateParameters": (
        lambda c: c.admin.UpdateParameters(
            admin_pb2.UpdateParametersRequest(
                product_id="P", params=common_pb2.Params(mint_fee_bps=5), request_id="u"
            ),
            metadata=c.md,
        ),
        {"admin"},
    ),
    "ResolveHalt": (
        lambda c: c.admin.ResolveHalt(
            admin_pb2.ResolveHaltRequest(product_id="P", request_id="h"), metadata=c.md
        ),
        {"admin"},
    ),
    "Reconstitute": (
        lambda c: c.admin.Reconstitute(
            admin_pb2.ReconstituteRequest(
                product_id="P",
                components=[common_pb2.Component(symbol="BTC", quantity=str(WAD))],
                request_id="x",
            ),
            metadata=c.md,
        ),
        {"admin"},
    ),
    "Settle": (
        lambda c: c.admin.Settle(admin_pb2.SettleRequest(product_id="P", request_id="s"), metadata=c.md),
        {"admin"},
    ),
    "ReportPrice": (
        lambda c: c.oracle.ReportPrice(
            oracle_pb2.ReportPriceRequest(
                symbol="BTC",
                price=str(WAD),
                observed_at=Timestamp(seconds=T0),
                reporter_id="r1",
                request_id="rp",
            ),
            metadata=c.md,
        ),
        {"r1"},
    ),
    "ReportPrices": (
        lambda c: c.oracle.ReportPrices(
            oracle_pb2.ReportPricesRequest(
                reporter_id="r1",
                observed_at=Timestamp(seconds=T0),
                prices=[oracle_pb2.RoundPrice(symbol="BTC", price=str(WAD))],
                request_id="rps",
            ),
            metadata=c.md,
        ),
        {"r1"},
    ),
    "ReportFundingRate": (
        lambda c: c.oracle.ReportFundingRate(
            oracle_pb2.ReportFundingRateRequest(
                product_id="P", funding_rate="1", reporter_id="r1", request_id="f"
            ),
            metadata=c.md,
        ),
        {"r1"},
    ),
    "Mint": (
        lambda c: c.token.Mint(
            token_pb2.MintRequest(
                product_id="P", holder_id="alice", collateral_amount="1000000", request_id="m"
            ),
            metadata=c.md,
        ),
        {"alice"},
    ),
    "Redeem": (
        lambda c: c.token.Redeem(
            token_pb2.RedeemRequest(product_id="P", holder_id="alice", token_amount="1", request_id="rd"),  # noqa: S106
            metadata=c.md,
        ),
        {"alice"},
    ),
    "Transfer": (
        lambda c: c.token.Transfer(
            token_pb2.TransferRequest(
                product_id="P",
                from_holder_id="alice",
                to_holder_id="bob",
                token_amount="1",  # noqa: S106
                request_id="t",
            ),
            metadata=c.md,
        ),
        {"alice"},
    ),
    "GetProduct": (
        lambda c: c.token.GetProduct(token_pb2.GetProductRequest(product_id="P"), metadata=c.md),
        {"admin", "r1", "alice", "viewer"},
    ),
    "QuoteMint": (
        lambda c: c.token.QuoteMint(
            token_pb2.QuoteMintRequest(product_id="P", collateral_amount="1000000"), metadata=c.md
        ),
        {"admin", "r1", "alice", "viewer"},
    ),
    "QuoteRedeem": (
        lambda c: c.token.QuoteRedeem(
            token_pb2.QuoteRedeemRequest(product_id="P", token_amount="1"),  # noqa: S106
            metadata=c.md,
        ),
        {"admin", "r1", "alice", "viewer"},
    ),
    "ListActivity": (
        lambda c: c.token.ListActivity(token_pb2.ListActivityRequest(holder_id="alice"), metadata=c.md),
        {"admin", "alice"},
    ),
    "GetBalance": (
        lambda c: c.token.GetBalance(
            token_pb2.GetBalanceRequest(product_id="P", holder_id="alice"), metadata=c.md
        ),
        {"admin", "alice"},
    ),
    "Rebalance": (
        lambda c: c.keeper.Rebalance(
            keeper_pb2.RebalanceRequest(product_id="P", request_id="rb"), metadata=c.md
        ),
        {"admin", "r1", "alice"},
    ),
    "Tick": (
        lambda c: c.keeper.Tick(keeper_pb2.TickRequest(now=Timestamp(seconds=T0)), metadata=c.md),
        {"admin"},
    ),
    "StreamEvents": (
        lambda c: c.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=c.md),
        {"admin", "viewer"},
    ),
    "CheckInvariants": (
        lambda c: c.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=c.md),
        {"admin", "viewer"},
    ),
    "GetNavHistory": (
        lambda c: c.audit.GetNavHistory(audit_pb2.GetNavHistoryRequest(product_id="P"), metadata=c.md),
        {"admin", "viewer"},
    ),
}
# The viewer (a dashboard's token) is refused every RPC that writes and every holder's
# balance: WRONG holds each of them for it.
CALLERS = ("admin", "r1", "alice", "viewer")
WRONG = [(rpc, who) for rpc, (_, allowed) in RPCS.items() for who in CALLERS if who not in allowed]


def _unchanged(node, call, code, *fragments):
    before = node.stored_count()
    rejected(call, code, *fragments)
    assert node.stored_count() == before


@pytest.mark.parametrize("rpc", RPCS)
def test_every_rpc_without_a_token_is_unauthenticated(ready, rpc):
    call, _ = RPCS[rpc]
    _unchanged(ready, lambda: call(ready.anon), grpc.StatusCode.UNAUTHENTICATED, "no credentials")


@pytest.mark.parametrize("rpc", RPCS)
def test_every_rpc_with_an_unknown_token_is_unauthenticated(ready, rpc):
    call, _ = RPCS[rpc]
    _unchanged(
        ready,
        lambda: call(ready.anon.as_("not-a-token-anyone-has")),
        grpc.StatusCode.UNAUTHENTICATED,
        "unknown",
    )


@pytest.mark.parametrize(("rpc", "who"), WRONG)
def test_every_rpc_refuses_a_wrong_role(ready, rpc, who):
    call, _ = RPCS[rpc]
    _unchanged(
        ready, lambda: call(getattr(ready, who)), grpc.StatusCode.PERMISSION_DENIED, f"{rpc} needs the"
    )


@pytest.mark.parametrize(
    "rpc",
    [
        rpc
        for rpc, (_, allowed) in RPCS.items()
        if "alice" in allowed and rpc not in {"GetProduct", "Rebalance", "QuoteMint", "QuoteRedeem"}
    ],
)
def test_a_holder_may_not_act_on_another_holders_id(ready, rpc):
    call, _ = RPCS[rpc]
    _unchanged(
        ready,
        lambda: call(ready.bob),
        grpc.StatusCode.PERMISSION_DENIED,
        "bound to holder 'bob', not 'alice'",
    )


@pytest.mark.parametrize("rpc", ["ReportPrice", "ReportFundingRate"])
def test_an_oracle_may_not_report_as_another_reporter(ready, rpc):
    call, _ = RPCS[rpc]
    _unchanged(
        ready, lambda: call(ready.r2), grpc.StatusCode.PERMISSION_DENIED, "bound to reporter 'r2', not 'r1'"
    )


def test_a_malformed_authorization_header_is_unauthenticated(ready):
    call, _ = RPCS["GetProduct"]
    bad = ready.anon.as_(None)
    bad.md = [("authorization", "Basic dXNlcjpwYXNz")]
    rejected(lambda: call(bad), grpc.StatusCode.UNAUTHENTICATED, "Bearer")


def test_the_viewer_reads_and_writes_nothing(ready):
    """The read-only role: the four reads a dashboard makes, and the previews that SPEC §5
    opens to every role (they write nothing and read no holder's data)."""
    readable = {rpc for rpc, (_, allowed) in RPCS.items() if "viewer" in allowed}
    assert readable == {
        "GetProduct",
        "GetNavHistory",
        "StreamEvents",
        "CheckInvariants",
        "QuoteMint",
        "QuoteRedeem",
    }
    before = ready.stored_count()
    for rpc in sorted(readable - {"QuoteRedeem"}):
        RPCS[rpc][0](ready.viewer)  # raises if refused
    # A redemption quote of a product with no tokens out is refused on its merits, not for
    # the role.
    rejected(lambda: RPCS["QuoteRedeem"][0](ready.viewer), grpc.StatusCode.FAILED_PRECONDITION, "circulate")
    assert ready.stored_count() == before
    assert {rpc for rpc, who in WRONG if who == "viewer"} == set(RPCS) - readable


def test_the_right_role_is_let_through(ready):
    for rpc in ("GetProduct", "GetBalance", "Rebalance", "CheckInvariants", "Mint", "GetNavHistory"):
        call, allowed = RPCS[rpc]
        for who in allowed:
            call(getattr(ready, who))  # raises if refused


def test_development_mode_refuses_a_non_loopback_address(tmp_path):
    with pytest.raises(ConfigError, match="development mode"):
        start_node(
            NodeConfig(store_url=f"sqlite:///{tmp_path}/iit.db", listen="0.0.0.0:0", clock="simulated")
        )


def test_development_mode_trusts_every_caller_on_loopback(tmp_path):
    from tests.grpc.conftest import start  # noqa: PLC0415

    node = start(tmp_path, entries=[])
    try:
        node.launch("P")
        product = node.anon.token.GetProduct(token_pb2.GetProductRequest(product_id="P"))
        assert product.product_id == "P"
    finally:
        node.close()
