"""TokenService: a holder's mints, redemptions and transfers (replies from the command's own
outcome), and the reads: the product, quotes, balances, the activity."""

from __future__ import annotations

from adapters.grpc import wire
from adapters.grpc.auth import Caller
from adapters.grpc.replies import redemption
from adapters.grpc.rpc import ADMIN_OR_HOLDER, ANY_ROLE, HOLDER, Base, unary
from adapters.grpc.stubs import common_pb2, token_pb2, token_pb2_grpc
from adapters.service.commits import events_of
from adapters.store.activity import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from domain import commands as cmd
from domain import events as ev
from domain.errors import InvalidArgument, ProductNotFound
from domain.validation import check_holder_id

# The holder a quote is decided for: any valid id would do (a quote depends on no holder).
QUOTE_HOLDER = "quote:preview"


class TokenServicer(Base, token_pb2_grpc.TokenServiceServicer):
    @unary(HOLDER)
    def Mint(self, request: token_pb2.MintRequest, caller: Caller) -> token_pb2.MintResponse:  # noqa: N802
        caller.require_holder(request.holder_id, "Mint")
        command = cmd.Mint(
            request.holder_id,
            wire.amount(request.collateral_amount, "collateral_amount"),
            wire.optional_amount(request.min_tokens_out, "min_tokens_out"),
        )
        outcome = self.service.commands.execute(request.product_id, command, request.request_id)
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
        outcome = self.service.commands.execute(request.product_id, command, request.request_id)
        assert outcome.state is not None
        out, fee, nav = redemption(outcome.events, outcome.state)
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
        outcome = self.service.commands.execute(request.product_id, command, request.request_id)
        assert outcome.state is not None
        return token_pb2.TransferResponse(
            from_position=wire.position(outcome.state, request.from_holder_id),
            to_position=wire.position(outcome.state, request.to_holder_id),
            replayed=outcome.replayed,
        )

    @unary(ANY_ROLE)
    def GetProduct(self, request: token_pb2.GetProductRequest, caller: Caller) -> common_pb2.Product:  # noqa: N802
        loaded, accrued, now = self.service.reads.accrued(request.product_id)
        return wire.product(accrued, loaded.version, as_of=now)

    @unary(ANY_ROLE)
    def QuoteMint(  # noqa: N802
        self, request: token_pb2.QuoteMintRequest, caller: Caller
    ) -> token_pb2.QuoteMintResponse:
        command = cmd.Mint(QUOTE_HOLDER, wire.amount(request.collateral_amount, "collateral_amount"), 0)
        draft, now = self.service.reads.quote(request.product_id, command)
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
        draft, now = self.service.reads.quote(request.product_id, command)
        out, fee, nav = redemption(draft.events, draft.state)
        return token_pb2.QuoteRedeemResponse(
            collateral_out=str(out), fee=str(fee), nav_per_token=str(nav), as_of=wire.timestamp(now)
        )

    @unary(ADMIN_OR_HOLDER)
    def ListActivity(  # noqa: N802
        self, request: token_pb2.ListActivityRequest, caller: Caller
    ) -> token_pb2.ListActivityResponse:
        caller.require_holder(request.holder_id, "ListActivity")
        check_holder_id(request.holder_id)
        if request.product_id and request.product_id not in self.service.reads.product_ids():
            raise ProductNotFound(f"no product {request.product_id!r}")
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidArgument(
                f"page_size must be 0 (the default, {DEFAULT_PAGE_SIZE}) to {MAX_PAGE_SIZE}"
            )
        after = wire.page_position(request.page_token)
        entries, more = self.service.reads.activity.page(
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
        state = self.service.reads.load(request.product_id).state
        position = wire.position(state, request.holder_id)
        return token_pb2.GetBalanceResponse(tokens=position.tokens, value=position.value)
