"""The servicers: proto -> command -> NodeApp -> proto, nothing more.

Each RPC names the roles that may call it (``rpc.unary``); the holder and reporter
bindings are checked before anything runs, and every field is parsed strictly
(``wire``) before a command reaches the node, so a rejected request writes nothing.
"""

from __future__ import annotations

import grpc

from adapters.grpc import wire
from adapters.grpc.app import events_of
from adapters.grpc.auth import Caller
from adapters.grpc.errors import message_of, status_of
from adapters.grpc.rpc import ADMIN, ADMIN_OR_HOLDER, ANY_ROLE, HOLDER, ORACLE, Base, unary
from adapters.grpc.stubs import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    keeper_pb2,
    keeper_pb2_grpc,
    oracle_pb2,
    oracle_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from adapters.store.node import Outcome
from domain import commands as cmd
from domain import events as ev
from domain.draft import nav_wad
from domain.errors import InvalidArgument


def _product(outcome: Outcome) -> common_pb2.Product:
    """The product as the command left it (on a replay: as the first one did), never the
    product as stored now: a repeat answers the first reply whatever happened since."""
    assert outcome.state is not None
    return wire.product(outcome.state, outcome.version)


class AdminServicer(Base, admin_pb2_grpc.AdminServiceServicer):
    @unary(ADMIN)
    def LaunchProduct(  # noqa: N802 - gRPC method names are the contract's
        self, request: admin_pb2.LaunchProductRequest, caller: Caller
    ) -> admin_pb2.LaunchProductResponse:
        command = cmd.LaunchProduct(
            request.product_id, wire.components(list(request.components)), wire.params(request.params, None)
        )
        outcome = self.deps.app.execute(request.product_id, command, request.request_id)
        return admin_pb2.LaunchProductResponse(product=_product(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def Pause(self, request: admin_pb2.PauseRequest, caller: Caller) -> admin_pb2.PauseResponse:  # noqa: N802
        outcome = self.deps.app.execute(request.product_id, cmd.Pause(), request.request_id)
        return admin_pb2.PauseResponse(product=_product(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def Resume(self, request: admin_pb2.ResumeRequest, caller: Caller) -> admin_pb2.ResumeResponse:  # noqa: N802
        outcome = self.deps.app.execute(request.product_id, cmd.Resume(), request.request_id)
        return admin_pb2.ResumeResponse(product=_product(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def UpdateParameters(  # noqa: N802
        self, request: admin_pb2.UpdateParametersRequest, caller: Caller
    ) -> admin_pb2.UpdateParametersResponse:
        command = cmd.UpdateParameters(wire.params_changes(request.params))
        outcome = self.deps.app.execute(request.product_id, command, request.request_id)
        return admin_pb2.UpdateParametersResponse(product=_product(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def ResolveHalt(  # noqa: N802
        self, request: admin_pb2.ResolveHaltRequest, caller: Caller
    ) -> admin_pb2.ResolveHaltResponse:
        outcome = self.deps.app.execute(
            request.product_id, cmd.ResolveHalt(request.accept), request.request_id
        )
        return admin_pb2.ResolveHaltResponse(product=_product(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def Reconstitute(  # noqa: N802
        self, request: admin_pb2.ReconstituteRequest, caller: Caller
    ) -> admin_pb2.ReconstituteResponse:
        prices = tuple(
            (p.symbol, wire.amount(p.price, f"new_symbol_prices[{p.symbol}].price"))
            for p in request.new_symbol_prices
        )
        command = cmd.ReconstituteIndex(wire.components(list(request.components)), prices)
        outcome = self.deps.app.execute(request.product_id, command, request.request_id)
        return admin_pb2.ReconstituteResponse(product=_product(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def Settle(self, request: admin_pb2.SettleRequest, caller: Caller) -> admin_pb2.SettleResponse:  # noqa: N802
        outcome = self.deps.app.execute(request.product_id, cmd.SettleProduct(), request.request_id)
        settled = events_of(outcome, ev.Settled)
        return admin_pb2.SettleResponse(
            product=_product(outcome),
            bad_debt=str(settled[0].bad_debt if settled else 0),
            replayed=outcome.replayed,
        )


class OracleServicer(Base, oracle_pb2_grpc.OracleServiceServicer):
    @unary(ORACLE)
    def ReportPrice(  # noqa: N802
        self, request: oracle_pb2.ReportPriceRequest, caller: Caller
    ) -> oracle_pb2.ReportPriceResponse:
        caller.require_reporter(request.reporter_id, "ReportPrice")
        if not request.HasField("observed_at"):
            raise InvalidArgument("observed_at is required: when the reporter observed the price")
        price = wire.amount(request.price, "price")
        observed_at = wire.seconds(request.observed_at, "observed_at")
        results = self.deps.app.report_price(
            request.symbol, price, observed_at, request.reporter_id, request.request_id
        )
        outcomes = []
        for result in results:
            if result.error is not None:
                status = status_of(result.error)
                outcomes.append(
                    oracle_pb2.PriceOutcome(
                        product_id=result.product_id,
                        applied=False,
                        error_code=status.name if status else "INTERNAL",
                        error=message_of(result.error),
                    )
                )
                continue
            assert result.outcome is not None
            rebalances = events_of(result.outcome, ev.Rebalanced)
            outcomes.append(
                oracle_pb2.PriceOutcome(
                    product_id=result.product_id,
                    applied=True,
                    product=_product(result.outcome),
                    price_accepted=bool(events_of(result.outcome, ev.PriceAccepted)),
                    halted=bool(events_of(result.outcome, ev.CircuitBreakerTripped)),
                    ripcord=any(r.reason == "ripcord" for r in rebalances),
                )
            )
        return oracle_pb2.ReportPriceResponse(outcomes=outcomes)

    @unary(ORACLE)
    def ReportFundingRate(  # noqa: N802
        self, request: oracle_pb2.ReportFundingRateRequest, caller: Caller
    ) -> oracle_pb2.ReportFundingRateResponse:
        caller.require_reporter(request.reporter_id, "ReportFundingRate")
        rate = wire.signed(request.funding_rate, "funding_rate")
        outcome = self.deps.app.execute(request.product_id, cmd.ReportFundingRate(rate), request.request_id)
        return oracle_pb2.ReportFundingRateResponse(product=_product(outcome), replayed=outcome.replayed)


class TokenServicer(Base, token_pb2_grpc.TokenServiceServicer):
    @unary(HOLDER)
    def Mint(self, request: token_pb2.MintRequest, caller: Caller) -> token_pb2.MintResponse:  # noqa: N802
        caller.require_holder(request.holder_id, "Mint")
        command = cmd.Mint(
            request.holder_id,
            wire.amount(request.collateral_amount, "collateral_amount"),
            wire.optional_amount(request.min_tokens_out, "min_tokens_out"),
        )
        outcome = self.deps.app.execute(request.product_id, command, request.request_id)
        minted = events_of(outcome, ev.Minted)[0]
        assert outcome.state is not None
        return token_pb2.MintResponse(
            tokens_minted=str(minted.tokens_minted),
            fee=str(minted.fee),
            nav_per_token=str(minted.nav_after_wad),
            position=wire.position(outcome.state, request.holder_id),
            replayed=outcome.replayed,
        )

    @unary(HOLDER)
    def Redeem(self, request: token_pb2.RedeemRequest, caller: Caller) -> token_pb2.RedeemResponse:  # noqa: N802
        caller.require_holder(request.holder_id, "Redeem")
        command = cmd.Redeem(
            request.holder_id,
            wire.amount(request.token_amount, "token_amount"),
            wire.optional_amount(request.min_collateral_out, "min_collateral_out"),
        )
        outcome = self.deps.app.execute(request.product_id, command, request.request_id)
        assert outcome.state is not None
        redeemed = events_of(outcome, ev.Redeemed)
        if redeemed:
            out, fee, nav = redeemed[0].collateral_out, redeemed[0].fee, redeemed[0].nav_after_wad
        else:
            pro_rata = events_of(outcome, ev.SettlementRedeemed)[0]
            out, fee, nav = pro_rata.collateral_out, 0, nav_wad(outcome.state)
        return token_pb2.RedeemResponse(
            collateral_out=str(out),
            fee=str(fee),
            nav_per_token=str(nav),
            position=wire.position(outcome.state, request.holder_id),
            replayed=outcome.replayed,
        )

    @unary(HOLDER)
    def Transfer(  # noqa: N802
        self, request: token_pb2.TransferRequest, caller: Caller
    ) -> token_pb2.TransferResponse:
        caller.require_holder(request.from_holder_id, "Transfer")
        command = cmd.Transfer(
            request.from_holder_id, request.to_holder_id, wire.amount(request.token_amount, "token_amount")
        )
        outcome = self.deps.app.execute(request.product_id, command, request.request_id)
        assert outcome.state is not None
        return token_pb2.TransferResponse(
            from_position=wire.position(outcome.state, request.from_holder_id),
            to_position=wire.position(outcome.state, request.to_holder_id),
            replayed=outcome.replayed,
        )

    @unary(ANY_ROLE)
    def GetProduct(self, request: token_pb2.GetProductRequest, caller: Caller) -> common_pb2.Product:  # noqa: N802
        loaded = self.deps.app.load(request.product_id)
        return wire.product(loaded.state, loaded.version)

    @unary(ADMIN_OR_HOLDER)
    def GetBalance(  # noqa: N802
        self, request: token_pb2.GetBalanceRequest, caller: Caller
    ) -> token_pb2.GetBalanceResponse:
        caller.require_holder(request.holder_id, "GetBalance")
        state = self.deps.app.load(request.product_id).state
        position = wire.position(state, request.holder_id)
        return token_pb2.GetBalanceResponse(tokens=position.tokens, value=position.value)


class KeeperServicer(Base, keeper_pb2_grpc.KeeperServiceServicer):
    @unary(ANY_ROLE)
    def Rebalance(  # noqa: N802
        self, request: keeper_pb2.RebalanceRequest, caller: Caller
    ) -> keeper_pb2.RebalanceResponse:
        outcome = self.deps.app.execute(request.product_id, cmd.Rebalance(), request.request_id)
        trades = events_of(outcome, ev.Rebalanced)
        return keeper_pb2.RebalanceResponse(
            rebalanced=bool(trades),
            reason=str(trades[0].reason) if trades else "",
            leverage_before=str(trades[0].leverage_before_wad) if trades else "",
            leverage_after=str(trades[-1].leverage_after_wad) if trades else "",
            product=_product(outcome),
            replayed=outcome.replayed,
        )

    @unary(ADMIN)
    def Tick(self, request: keeper_pb2.TickRequest, caller: Caller) -> keeper_pb2.TickResponse:  # noqa: N802
        now = wire.seconds(request.now, "now") if request.HasField("now") else None
        moment, results = self.deps.app.tick(now)
        outcomes = []
        for result in results:
            if result.error is not None:
                outcomes.append(
                    keeper_pb2.TickOutcome(product_id=result.product_id, error=message_of(result.error))
                )
                continue
            assert result.outcome is not None
            trades = events_of(result.outcome, ev.Rebalanced)
            outcomes.append(
                keeper_pb2.TickOutcome(
                    product_id=result.product_id,
                    rebalanced=bool(trades),
                    reason=str(trades[0].reason) if trades else "",
                    settled=bool(events_of(result.outcome, ev.Settled)),
                    events=len(result.outcome.events),
                )
            )
        return keeper_pb2.TickResponse(now=wire.timestamp(moment), outcomes=outcomes)


def add_all(server: grpc.Server, servicers: tuple[Base, ...]) -> None:
    for servicer in servicers:
        match servicer:
            case AdminServicer():
                admin_pb2_grpc.add_AdminServiceServicer_to_server(servicer, server)
            case OracleServicer():
                oracle_pb2_grpc.add_OracleServiceServicer_to_server(servicer, server)
            case TokenServicer():
                token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)
            case KeeperServicer():
                keeper_pb2_grpc.add_KeeperServiceServicer_to_server(servicer, server)
