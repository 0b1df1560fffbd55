"""KeeperService: a rebalance as a command, and Tick: ``service.keeper`` over every product."""

from __future__ import annotations

from adapters.grpc import wire
from adapters.grpc.auth import Caller
from adapters.grpc.errors import message_of
from adapters.grpc.replies import product_of
from adapters.grpc.rpc import ADMIN, ANY_ACTOR, Base, unary
from adapters.grpc.stubs import keeper_pb2, keeper_pb2_grpc
from adapters.service.commits import events_of
from domain import commands as cmd
from domain import events as ev


class KeeperServicer(Base, keeper_pb2_grpc.KeeperServiceServicer):
    @unary(ANY_ACTOR)
    def Rebalance(  # noqa: N802
        self, request: keeper_pb2.RebalanceRequest, caller: Caller
    ) -> keeper_pb2.RebalanceResponse:
        outcome = self.service.commands.execute(request.product_id, cmd.Rebalance(), request.request_id)
        trades = events_of(outcome, ev.Rebalanced)
        return keeper_pb2.RebalanceResponse(
            rebalanced=bool(trades),
            reason=str(trades[0].reason) if trades else "",
            leverage_before=str(trades[0].leverage_before_wad) if trades else "",
            leverage_after=str(trades[-1].leverage_after_wad) if trades else "",
            product=product_of(outcome),
            replayed=outcome.replayed,
        )

    @unary(ADMIN)
    def Tick(self, request: keeper_pb2.TickRequest, caller: Caller) -> keeper_pb2.TickResponse:  # noqa: N802
        now = wire.seconds(request.now, "now") if request.HasField("now") else None
        moment, results = self.service.keeper.tick(now)
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
