"""SPEC §2, fees to the treasury: the treasury is a reserved holder no credential acts for;
its tokens move only by AdminService.ClaimFees, recorded as FeesClaimed and audited."""

from __future__ import annotations

import grpc
import pytest

from adapters.grpc import auth
from adapters.grpc.stubs import admin_pb2, audit_pb2, token_pb2
from tests.grpc.conftest import PRICES, USDC, WAD, Harness, start
from tests.grpc.helpers import rejected

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _balance(node: Harness, holder_id: str) -> int:
    response = node.admin.token.GetBalance(
        token_pb2.GetBalanceRequest(product_id="P", holder_id=holder_id), metadata=node.admin.md
    )
    return int(response.tokens)


def _claim(node: Harness, to: str, amount: int, rid: str, client=None) -> admin_pb2.ClaimFeesResponse:
    client = client or node.admin
    return client.admin.ClaimFees(
        admin_pb2.ClaimFeesRequest(product_id="P", to_holder_id=to, token_amount=str(amount), request_id=rid),
        metadata=client.md,
    )


def _fees_accrued(node: Harness) -> int:
    node.mint("alice", 10_000 * USDC, "m1")
    node.advance(86_400)
    node.report(PRICES)
    treasury = _balance(node, "treasury")
    assert treasury > 0
    return treasury


def test_a_holder_credential_cannot_be_bound_to_the_treasury_or_the_locked_holder():
    for reserved in ("treasury", "locked:minimum-supply", "locked:x"):
        with pytest.raises(auth.AuthConfigError, match="reserved"):
            auth.entry("holder", reserved, "a-token-of-enough-length", "test")


def test_in_development_mode_no_caller_can_act_for_the_treasury(tmp_path):
    node = start(tmp_path, entries=[])  # development mode: every caller has every role
    try:
        node.ready()
        treasury = _fees_accrued(node)
        for call in (
            lambda: node.anon.token.Redeem(
                token_pb2.RedeemRequest(
                    product_id="P", holder_id="treasury", token_amount=str(1), request_id="r1"
                )
            ),
            lambda: node.anon.token.Transfer(
                token_pb2.TransferRequest(
                    product_id="P",
                    from_holder_id="treasury",
                    to_holder_id="eve",
                    token_amount=str(1),
                    request_id="t1",
                )
            ),
            lambda: node.anon.token.Transfer(
                token_pb2.TransferRequest(
                    product_id="P",
                    from_holder_id="alice",
                    to_holder_id="treasury",
                    token_amount=str(1),
                    request_id="t2",
                )
            ),
            lambda: node.anon.token.Mint(
                token_pb2.MintRequest(
                    product_id="P", holder_id="treasury", collateral_amount=str(USDC), request_id="m-t"
                )
            ),
        ):
            before = node.stored_count()
            rejected(call, INVALID, "reserved")
            assert node.stored_count() == before
        assert _balance(node, "treasury") == treasury
    finally:
        node.close()


def test_claim_fees_moves_treasury_tokens_to_a_named_holder_once_and_is_audited(ready):
    treasury = _fees_accrued(ready)
    half = treasury // 2
    first = _claim(ready, "bob", half, "claim-1")
    assert int(first.tokens_claimed) == half
    assert not first.replayed
    assert _balance(ready, "bob") == half
    # The claim accrues first, so the treasury after it holds at least what was left.
    assert int(first.treasury_tokens) == _balance(ready, "treasury") >= treasury - half
    again = _claim(ready, "bob", half, "claim-1")
    assert again.replayed
    assert again.tokens_claimed == first.tokens_claimed
    assert _balance(ready, "bob") == half
    product = token_pb2.GetProductRequest(product_id="P")
    supply = int(ready.admin.token.GetProduct(product, metadata=ready.admin.md).supply)
    holders = ("alice", "bob", "treasury", "locked:minimum-supply")
    assert sum(_balance(ready, h) for h in holders) == supply
    events = ready.admin.audit.StreamEvents(
        audit_pb2.StreamEventsRequest(product_id="P"), metadata=ready.admin.md
    )
    assert "FeesClaimed" in [e.type for e in events]
    report = ready.admin.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=ready.admin.md)
    assert report.ok, report.violations


def test_claim_fees_is_refused_beyond_the_treasury_to_reserved_holders_and_to_non_admins(ready):
    treasury = _fees_accrued(ready)
    for call, code, why in (
        (
            lambda: _claim(ready, "bob", treasury * 2 + WAD, "c1"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "treasury",
        ),
        (lambda: _claim(ready, "treasury", 1, "c2"), INVALID, "reserved"),
        (lambda: _claim(ready, "locked:minimum-supply", 1, "c3"), INVALID, "reserved"),
        (lambda: _claim(ready, "bob", 0, "c4"), INVALID, "token_amount"),
        (
            lambda: _claim(ready, "bob", 1, "c5", client=ready.alice),
            grpc.StatusCode.PERMISSION_DENIED,
            "admin",
        ),
    ):
        before = ready.stored_count()
        rejected(call, code, why)
        assert ready.stored_count() == before
