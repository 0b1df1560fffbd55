"""A hypothesis state machine driving a real node through a real client, beside a plain
reference model of the balances, checking SPEC §4 through GetProduct, GetBalance and
CheckInvariants after every step. Rules that clamp to valid ranges sit beside raw rules
that send anything, to exercise rejections (which must write nothing)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, keeper_pb2, oracle_pb2, token_pb2
from tests.grpc.conftest import PRICES, USDC, WAD, Harness, start

HOLDERS = ("alice", "bob")
ALL_HOLDERS = (*HOLDERS, "treasury", "locked:minimum-supply")
DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
EXPECTED_REJECTIONS = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT}


class ServedNode(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="iit-sm-"))
        self.node: Harness = start(self.dir)
        self.node.ready()
        self.balances = dict.fromkeys(HOLDERS, 0)
        self.prices = dict(PRICES)
        self.paused = False
        self.requests = 0

    def teardown(self) -> None:
        self.node.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _rid(self) -> str:
        self.requests += 1
        return f"sm-{self.requests}"

    def _attempt(self, call):
        """Run ``call``; a rejection must be an expected code and write nothing."""
        before = self.node.stored_count()
        try:
            return call()
        except grpc.RpcError as error:
            rejection = error
        code, details = rejection.code(), rejection.details()
        assert code in EXPECTED_REJECTIONS, f"{code}: {details}"
        assert details, "a rejection says what was wrong"
        assert self.node.stored_count() == before, "a rejected command wrote something"
        return None

    def _product(self) -> common_pb2.Product:
        return self.node.admin.token.GetProduct(
            token_pb2.GetProductRequest(product_id="P"), metadata=self.node.admin.md
        )

    @rule(holder=st.sampled_from(HOLDERS), amount=st.integers(1, 10**12))
    def mint(self, holder: str, amount: int) -> None:
        client = getattr(self.node, holder)
        request = token_pb2.MintRequest(
            product_id="P", holder_id=holder, collateral_amount=str(amount), request_id=self._rid()
        )
        response = self._attempt(lambda: client.token.Mint(request, metadata=client.md))
        if response is not None:
            self.balances[holder] += int(response.tokens_minted)
            assert response.position.tokens == str(self.balances[holder])

    @rule(holder=st.sampled_from(HOLDERS), share=st.integers(1, 100))
    def redeem(self, holder: str, share: int) -> None:
        tokens = self.balances[holder] * share // 100
        client = getattr(self.node, holder)
        request = token_pb2.RedeemRequest(
            product_id="P", holder_id=holder, token_amount=str(tokens), request_id=self._rid()
        )
        response = self._attempt(lambda: client.token.Redeem(request, metadata=client.md))
        if response is not None:
            self.balances[holder] -= tokens

    @rule(share=st.integers(1, 100), forward=st.booleans())
    def transfer(self, share: int, forward: bool) -> None:
        source, target = HOLDERS if forward else HOLDERS[::-1]
        tokens = self.balances[source] * share // 100
        client = getattr(self.node, source)
        request = token_pb2.TransferRequest(
            product_id="P",
            from_holder_id=source,
            to_holder_id=target,
            token_amount=str(tokens),
            request_id=self._rid(),
        )
        if self._attempt(lambda: client.token.Transfer(request, metadata=client.md)) is not None:
            self.balances[source] -= tokens
            self.balances[target] += tokens

    @rule(move_pct=st.integers(-25, 25), seconds=st.integers(1, 6 * 3_600))
    def market_moves(self, move_pct: int, seconds: int) -> None:
        self.node.advance(seconds)
        for symbol in self.prices:
            self.prices[symbol] = max(1, self.prices[symbol] * (100 + move_pct) // 100)
        for symbol, price in self.prices.items():
            request = oracle_pb2.ReportPriceRequest(
                symbol=symbol,
                price=str(price),
                observed_at=Timestamp(seconds=self.node.now),
                reporter_id="r1",
                request_id=self._rid(),
            )
            self._attempt(lambda r=request: self.node.r1.oracle.ReportPrice(r, metadata=self.node.r1.md))

    @precondition(lambda self: self._product().status == common_pb2.PRODUCT_STATUS_HALTED)
    @rule(accept=st.booleans())
    def admin_resolves_the_halt(self, accept: bool) -> None:
        request = admin_pb2.ResolveHaltRequest(product_id="P", accept=accept, request_id=self._rid())
        self._attempt(lambda: self.node.admin.admin.ResolveHalt(request, metadata=self.node.admin.md))

    @rule(pause=st.booleans())
    def admin_pauses_or_resumes(self, pause: bool) -> None:
        if pause:
            request = admin_pb2.PauseRequest(product_id="P", request_id=self._rid())
            self._attempt(lambda: self.node.admin.admin.Pause(request, metadata=self.node.admin.md))
        else:
            request = admin_pb2.ResumeRequest(product_id="P", request_id=self._rid())
            self._attempt(lambda: self.node.admin.admin.Resume(request, metadata=self.node.admin.md))

    @rule()
    def anyone_asks_for_a_rebalance(self) -> None:
        request = keeper_pb2.RebalanceRequest(product_id="P", request_id=self._rid())
        self._attempt(lambda: self.node.alice.keeper.Rebalance(request, metadata=self.node.alice.md))

    @rule(text=st.text(max_size=12) | st.integers(-(10**40), 10**40).map(str))
    def raw_mint_of_anything(self, text: str) -> None:
        request = token_pb2.MintRequest(
            product_id="P", holder_id="alice", collateral_amount=text, request_id=self._rid()
        )
        response = self._attempt(lambda: self.node.alice.token.Mint(request, metadata=self.node.alice.md))
        if response is not None:
            self.balances["alice"] += int(response.tokens_minted)

    @invariant()
    def balances_match_the_model_and_sum_to_supply(self) -> None:
        held = {}
        for holder in ALL_HOLDERS:
            held[holder] = int(
                self.node.admin.token.GetBalance(
                    token_pb2.GetBalanceRequest(product_id="P", holder_id=holder), metadata=self.node.admin.md
                ).tokens
            )
        for holder in HOLDERS:
            assert held[holder] == self.balances[holder], holder
        assert sum(held.values()) == int(self._product().supply)

    @invariant()
    def solvent_and_within_the_ripcord(self) -> None:
        product = self._product()
        if product.status == common_pb2.PRODUCT_STATUS_SETTLED:
            return
        if product.leverage:
            assert -int(product.leverage) < int(product.params.ripcord_leverage)
        debt_value = int(product.debt_units) * int(product.index_price) // WAD // (10**18 // USDC)
        assert int(product.cash) >= debt_value  # equity >= 0 (to rounding in the vault's favour)

    @invariant()
    def the_audit_is_clean(self) -> None:
        report = self.node.admin.audit.CheckInvariants(
            audit_pb2.CheckInvariantsRequest(), metadata=self.node.admin.md
        )
        assert report.ok, [(v.position, v.invariant, v.detail) for v in report.violations]


ServedNode.TestCase.settings = settings(
    settings.default,
    max_examples=200 if DEEP else 8,
    stateful_step_count=30 if DEEP else 10,
)
test_served_node = ServedNode.TestCase
