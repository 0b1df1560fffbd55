"""AdminService: proto -> command -> ``service.commands`` -> reply from the command's own outcome."""

from __future__ import annotations

from adapters.grpc import wire
from adapters.grpc.auth import Caller
from adapters.grpc.replies import product_of
from adapters.grpc.rpc import ADMIN, Base, unary
from adapters.grpc.stubs import admin_pb2, admin_pb2_grpc
from adapters.service.commits import events_of
from domain import commands as cmd
from domain import events as ev


class AdminServicer(Base, admin_pb2_grpc.AdminServiceServicer):
    @unary(ADMIN)
    def LaunchProduct(  # noqa: N802 - gRPC method names are the contract's
        self, request: admin_pb2.LaunchProductRequest, caller: Caller
    ) -> admin_pb2.LaunchProductResponse:
        command = cmd.LaunchProduct(
            request.product_id, wire.components(list(request.components)), wire.params(request.params, None)
        )
        outcome = self.service.commands.execute(request.product_id, command, request.request_id)
        return admin_pb2.LaunchProductResponse(product=product_of(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def Pause(self, request: admin_pb2.PauseRequest, caller: Caller) -> admin_pb2.PauseResponse:  # noqa: N802
        outcome = self.service.commands.execute(request.product_id, cmd.Pause(), request.request_id)
        return admin_pb2.PauseResponse(product=product_of(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def Resume(self, request: admin_pb2.ResumeRequest, caller: Caller) -> admin_pb2.ResumeResponse:  # noqa: N802
        outcome = self.service.commands.execute(request.product_id, cmd.Resume(), request.request_id)
        return admin_pb2.ResumeResponse(product=product_of(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def UpdateParameters(  # noqa: N802
        self, request: admin_pb2.UpdateParametersRequest, caller: Caller
    ) -> admin_pb2.UpdateParametersResponse:
        command = cmd.UpdateParameters(wire.params_changes(request.params))
        outcome = self.service.commands.execute(request.product_id, command, request.request_id)
        return admin_pb2.UpdateParametersResponse(product=product_of(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def ResolveHalt(  # noqa: N802
        self, request: admin_pb2.ResolveHaltRequest, caller: Caller
    ) -> admin_pb2.ResolveHaltResponse:
        outcome = self.service.commands.execute(
            request.product_id, cmd.ResolveHalt(request.accept), request.request_id
        )
        return admin_pb2.ResolveHaltResponse(product=product_of(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def Reconstitute(  # noqa: N802
        self, request: admin_pb2.ReconstituteRequest, caller: Caller
    ) -> admin_pb2.ReconstituteResponse:
        prices = tuple(
            (p.symbol, wire.amount(p.price, f"new_symbol_prices[{p.symbol}].price"))
            for p in request.new_symbol_prices
        )
        command = cmd.ReconstituteIndex(wire.components(list(request.components)), prices)
        outcome = self.service.commands.execute(request.product_id, command, request.request_id)
        return admin_pb2.ReconstituteResponse(product=product_of(outcome), replayed=outcome.replayed)

    @unary(ADMIN)
    def Settle(self, request: admin_pb2.SettleRequest, caller: Caller) -> admin_pb2.SettleResponse:  # noqa: N802
        outcome = self.service.commands.execute(request.product_id, cmd.SettleProduct(), request.request_id)
        settled = events_of(outcome, ev.Settled)
        return admin_pb2.SettleResponse(
            product=product_of(outcome),
            bad_debt=str(settled[0].bad_debt if settled else 0),
            replayed=outcome.replayed,
        )

    @unary(ADMIN)
    def ClaimFees(  # noqa: N802
        self, request: admin_pb2.ClaimFeesRequest, caller: Caller
    ) -> admin_pb2.ClaimFeesResponse:
        command = cmd.ClaimFees(request.to_holder_id, wire.amount(request.token_amount, "token_amount"))
        outcome = self.service.commands.execute(request.product_id, command, request.request_id)
        claimed = events_of(outcome, ev.FeesClaimed)[0]
        assert outcome.state is not None
        return admin_pb2.ClaimFeesResponse(
            tokens_claimed=str(claimed.tokens),
            treasury_tokens=str(claimed.treasury_after),
            position=wire.position(outcome.state, request.to_holder_id),
            product=product_of(outcome),
            replayed=outcome.replayed,
        )
