"""The servicers: proto -> command -> NodeApp -> proto, nothing more.

Each RPC names the roles that may call it (``rpc.unary``); the holder and reporter
bindings are checked before anything runs, and every field is parsed strictly
(``wire``) before a command reaches the node, so a rejected request writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from adapters.grpc import wire
from adapters.grpc.app import PriceResult, events_of
from adapters.grpc.audit import AuditServicer
from adapters.grpc.auth import Caller
from adapters.grpc.errors import message_of, status_of
from adapters.grpc.rpc import (
    ADMIN,
    ADMIN_OR_HOLDER,
    ANY_ACTOR,
    ANY_ROLE,
    HOLDER,
    ORACLE,
    Base,
    register,
    unary,
)
from adapters.grpc.stubs import (
    admin_pb2,
    admin_pb2_grpc,
    audit_pb2,
    common_pb2,
    keeper_pb2,
    keeper_pb2_grpc,
    oracle_pb2,
    oracle_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from adapters.store.activity import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from adapters.store.node import Outcome
from domain import commands as cmd
from domain import events as ev
from domain.errors import InvalidArgument, ProductNotFound
from domain.model import ProductState
from domain.validation import check_holder_id
from domain.valuation import nav_wad


def _product(outcome: Outcome) -> common_pb2.Product:
    """The product as the command left it (on a replay: as the first one did), never the
    product as stored now: a repeat answers the first reply whatever happened since."""
    assert outcome.state is not None
    return wire.product(outcome.state, outcome.version)


# The holder a quote is decided for: any valid id would do (a quote depends on no holder).
QUOTE_HOLDER = "quote:preview"


def _redemption(events: Sequence[ev.Event], state: ProductState) -> tuple[int, int, int]:
    """(collateral out, fee, NAV per token after) of a redemption's events."""
    redeemed = [e for e in events if isinstance(e, ev.Redeemed)]
    if redeemed:
        return redeemed[0].collateral_out, redeemed[0].fee, redeemed[0].nav_after_wad
    pro_rata = next(e for e in events if isinstance(e, ev.SettlementRedeemed))
    return pro_rata.collateral_out, 0, nav_wad(state)


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

    @unary(ADMIN)
    def ClaimFees(  # noqa: N802
        self, request: admin_pb2.ClaimFeesRequest, caller: Caller
    ) -> admin_pb2.ClaimFeesResponse:
        command = cmd.ClaimFees(request.to_holder_id, wire.amount(request.token_amount, "token_amount"))
        outcome = self.deps.app.execute(request.product_id, command, request.request_id)
        claimed = events_of(outcome, ev.FeesClaimed)[0]
        assert outcome.state is not None
        return admin_pb2.ClaimFeesResponse(
            tokens_claimed=str(claimed.tokens),
            treasury_tokens=str(claimed.treasury_after),
            position=wire.position(outcome.state, request.to_holder_id),
            product=_product(outcome),
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
        results = self.deps.app.report_prices(request.reporter_id, observed_at, prices, request.request_id)
        return oracle_pb2.ReportPricesResponse(outcomes=self._outcomes(results))

    def _outcomes(self, results: list[PriceResult]) -> list[oracle_pb2.PriceOutcome]:
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
        return outcomes

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
        out, fee, nav = _redemption(outcome.events, outcome.state)
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
        loaded, accrued, now = self.deps.app.accrued(request.product_id)
        return wire.product(accrued, loaded.version, as_of=now)

    @unary(ANY_ROLE)
    def QuoteMint(  # noqa: N802
        self, request: token_pb2.QuoteMintRequest, caller: Caller
    ) -> token_pb2.QuoteMintResponse:
        command = cmd.Mint(QUOTE_HOLDER, wire.amount(request.collateral_amount, "collateral_amount"), 0)
        draft, now = self.deps.app.quote(request.product_id, command)
        minted = next(e for e in draft.events if isinstance(e, ev.Minted))
        return token_pb2.QuoteMintResponse(
            tokens_out=str(minted.tokens_minted),
            fee=str(minted.fee),
            nav_per_token=str(minted.nav_after_wad),
            as_of=wire.timestamp(now),
        )

    @unary(ANY_ROLE)
    def QuoteRedeem(  # noqa: N802
        self, request: token_pb2.QuoteRedeemRequest, caller: Caller
    ) -> token_pb2.QuoteRedeemResponse:
        command = cmd.Redeem(QUOTE_HOLDER, wire.amount(request.token_amount, "token_amount"), 0)
        draft, now = self.deps.app.quote(request.product_id, command)
        out, fee, nav = _redemption(draft.events, draft.state)
        return token_pb2.QuoteRedeemResponse(
            collateral_out=str(out), fee=str(fee), nav_per_token=str(nav), as_of=wire.timestamp(now)
        )

    @unary(ADMIN_OR_HOLDER)
    def ListActivity(  # noqa: N802
        self, request: token_pb2.ListActivityRequest, caller: Caller
    ) -> token_pb2.ListActivityResponse:
        caller.require_holder(request.holder_id, "ListActivity")
        check_holder_id(request.holder_id)
        if request.product_id and request.product_id not in self.deps.app.product_ids():
            raise ProductNotFound(f"no product {request.product_id!r}")
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidArgument(
                f"page_size must be 0 (the default, {DEFAULT_PAGE_SIZE}) to {MAX_PAGE_SIZE}"
            )
        after = wire.page_position(request.page_token)
        entries, more = self.deps.app.activity.page(
            request.holder_id, request.product_id, after, size, request.newest_first
        )
        return token_pb2.ListActivityResponse(
            entries=[
                token_pb2.ActivityEntry(
                    position=e.position,
                    product_id=e.product_id,
                    holder_id=e.holder_id,
                    at=wire.timestamp(e.at),
                    kind=e.kind,
                    tokens=str(e.tokens),
                    collateral=str(e.collateral),
                    fee=str(e.fee),
                    nav_per_token=str(e.nav_per_token_wad),
                    counterparty=e.counterparty,
                    request_id=e.request_id,
                )
                for e in entries
            ],
            next_page_token="" if more is None else wire.page_token(more),
        )

    @unary(ADMIN_OR_HOLDER)
    def GetBalance(  # noqa: N802
        self, request: token_pb2.GetBalanceRequest, caller: Caller
    ) -> token_pb2.GetBalanceResponse:
        caller.require_holder(request.holder_id, "GetBalance")
        state = self.deps.app.load(request.product_id).state
        position = wire.position(state, request.holder_id)
        return token_pb2.GetBalanceResponse(tokens=position.tokens, value=position.value)


class KeeperServicer(Base, keeper_pb2_grpc.KeeperServiceServicer):
    @unary(ANY_ACTOR)
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
    """Serve each servicer's service (``rpc.register``: undecodable requests are
    INVALID_ARGUMENT, not gRPC's INTERNAL)."""
    for servicer in servicers:
        match servicer:
            case AdminServicer():
                service = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
            case OracleServicer():
                service = oracle_pb2.DESCRIPTOR.services_by_name["OracleService"]
            case TokenServicer():
                service = token_pb2.DESCRIPTOR.services_by_name["TokenService"]
            case KeeperServicer():
                service = keeper_pb2.DESCRIPTOR.services_by_name["KeeperService"]
            case AuditServicer():
                service = audit_pb2.DESCRIPTOR.services_by_name["AuditService"]
            case _:
                raise TypeError(f"not a servicer of iit.v1: {servicer!r}")
        register(server, servicer, service)
