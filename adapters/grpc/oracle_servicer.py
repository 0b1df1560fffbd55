"""OracleService: price reports fanned out by ``service.prices`` (each product's outcome or
rejection in the reply), funding rates as commands."""

from __future__ import annotations

from adapters.grpc import wire
from adapters.grpc.auth import Caller
from adapters.grpc.errors import message_of, status_of
from adapters.grpc.replies import product_of
from adapters.grpc.rpc import ORACLE, Base, unary
from adapters.grpc.stubs import oracle_pb2, oracle_pb2_grpc
from adapters.service.commits import ProductResult, events_of
from domain import commands as cmd
from domain import events as ev
from domain.errors import InvalidArgument


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
        results = self.service.prices.report_price(
            request.symbol, price, observed_at, request.reporter_id, request.request_id
        )
        return oracle_pb2.ReportPriceResponse(outcomes=self._outcomes(results))

    @unary(ORACLE)
    def ReportPrices(  # noqa: N802
        self, request: oracle_pb2.ReportPricesRequest, caller: Caller
    ) -> oracle_pb2.ReportPricesResponse:
        caller.require_reporter(request.reporter_id, "ReportPrices")
        if not request.HasField("observed_at"):
            raise InvalidArgument("observed_at is required: when the reporter observed the prices")
        observed_at = wire.seconds(request.observed_at, "observed_at")
        prices = tuple(
            (p.symbol, wire.amount(p.price, f"prices[{i}].price")) for i, p in enumerate(request.prices)
        )
        results = self.service.prices.report_prices(
            request.reporter_id, observed_at, prices, request.request_id
        )
        return oracle_pb2.ReportPricesResponse(outcomes=self._outcomes(results))

    def _outcomes(self, results: list[ProductResult]) -> list[oracle_pb2.PriceOutcome]:
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
                    product=product_of(result.outcome),
                    price_accepted=bool(events_of(result.outcome, ev.PriceAccepted)),
                    halted=bool(events_of(result.outcome, ev.CircuitBreakerTripped)),
                    ripcord=any(r.reason == "ripcord" for r in rebalances),
                )
            )
        return outcomes

    @unary(ORACLE)
    def ReportFundingRate(  # noqa: N802
        self, request: oracle_pb2.ReportFundingRateRequest, caller: Caller
    ) -> oracle_pb2.ReportFundingRateResponse:
        caller.require_reporter(request.reporter_id, "ReportFundingRate")
        rate = wire.signed(request.funding_rate, "funding_rate")
        outcome = self.service.commands.execute(
            request.product_id, cmd.ReportFundingRate(rate), request.request_id
        )
        return oracle_pb2.ReportFundingRateResponse(product=product_of(outcome), replayed=outcome.replayed)
