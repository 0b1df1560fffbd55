"""QuoteMint / QuoteRedeem (ERC-4626's previews) and GetProduct accrued to now, over a
real server: a quote is exactly what the command then gives at the same instant, and
neither a quote nor a read writes anything."""

from __future__ import annotations

import functools

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.clock import SimulatedClock
from adapters.grpc.stubs import admin_pb2, token_pb2
from tests.grpc.conftest import PRICES, T0, USDC, WAD, Harness
from tests.grpc.helpers import rejected


def _move_clock(node: Harness, seconds: int) -> None:
    """Advance the node's simulated clock WITHOUT running the keeper (as time passes on
    a wall clock between two commands): nothing accrues in the store."""
    clock = node.running.service.clock
    assert isinstance(clock, SimulatedClock)
    node.now += seconds
    clock.advance_to(node.now)


def quote_mint(node: Harness, amount: int, product_id: str = "P") -> token_pb2.QuoteMintResponse:
    return node.r1.token.QuoteMint(
        token_pb2.QuoteMintRequest(product_id=product_id, collateral_amount=str(amount)),
        metadata=node.r1.md,
    )


def quote_redeem(node: Harness, tokens: int, product_id: str = "P") -> token_pb2.QuoteRedeemResponse:
    return node.r1.token.QuoteRedeem(
        token_pb2.QuoteRedeemRequest(product_id=product_id, token_amount=str(tokens)), metadata=node.r1.md
    )


def redeem(node: Harness, holder: str, tokens: int, rid: str) -> token_pb2.RedeemResponse:
    client = getattr(node, holder)
    return client.token.Redeem(
        token_pb2.RedeemRequest(product_id="P", holder_id=holder, token_amount=str(tokens), request_id=rid),
        metadata=client.md,
    )


def balance(node: Harness, holder: str) -> int:
    return int(
        node.admin.token.GetBalance(
            token_pb2.GetBalanceRequest(product_id="P", holder_id=holder), metadata=node.admin.md
        ).tokens
    )


STEP = st.tuples(
    st.sampled_from(["mint", "redeem"]),
    st.integers(1, 10**6),  # collateral in whole units, or a fraction (ppm) of a balance to redeem
    st.integers(0, 3_000),  # seconds since the last command, accrued by the command itself
    st.sampled_from([1.0, 0.97, 1.03]),  # a price move reported before the step
)


def _outcome(call):
    """(figures, None) or (None, (status, message)) of a call."""
    try:
        return call(), None
    except grpc.RpcError as error:
        return None, (error.code(), error.details())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=20)
@given(steps=st.lists(STEP, min_size=1, max_size=6))
def test_a_quote_is_exactly_what_the_command_then_gives(ready: Harness, steps) -> None:
    """Property: at the same instant, QuoteMint's figures are Mint's and QuoteRedeem's are
    Redeem's (or both fail with the same error), whatever came before: mints,
    redemptions, accrual over idle time, price moves."""
    for kind, size, idle, move in steps:
        if move != 1.0:
            ready.report({s: int(p * move) for s, p in PRICES.items()}, rid=f"mv{ready.now}")
        else:
            ready.report(PRICES, rid=f"fresh{ready.now}")  # a fresh price (at most 3000 s old below)
        _move_clock(ready, idle)  # idle time: funding and fee accrue in the quote and the command
        held = balance(ready, "alice")
        before = ready.stored_count()
        rid = f"step-{before}"
        if kind == "redeem" and held > 0:
            tokens = max(1, held * size // 10**6)
            quote, quote_error = _outcome(functools.partial(quote_redeem, ready, tokens))
            assert ready.stored_count() == before
            done, error = _outcome(functools.partial(redeem, ready, "alice", tokens, rid))
            assert quote_error == error
            if quote is not None:
                assert done is not None
                assert (quote.collateral_out, quote.fee, quote.nav_per_token) == (
                    done.collateral_out,
                    done.fee,
                    done.nav_per_token,
                )
                assert quote.as_of.seconds == ready.now
        else:
            quote, quote_error = _outcome(functools.partial(quote_mint, ready, size * USDC))
            assert ready.stored_count() == before
            done, error = _outcome(functools.partial(ready.mint, "alice", size * USDC, rid))
            assert quote_error == error
            if quote is not None:
                assert done is not None
                assert (quote.tokens_out, quote.fee, quote.nav_per_token) == (
                    done.tokens_minted,
                    done.fee,
                    done.nav_per_token,
                )
                assert quote.as_of.seconds == ready.now


def test_quotes_fail_as_the_command_would_and_write_nothing(ready: Harness) -> None:
    ready.mint("alice", 1_000 * USDC, "m1")
    ready.admin.admin.Pause(
        admin_pb2.PauseRequest(product_id="P", request_id="pause"), metadata=ready.admin.md
    )
    before = ready.stored_count()
    rejected(lambda: quote_mint(ready, 10 * USDC), grpc.StatusCode.FAILED_PRECONDITION, "ProductPaused")
    rejected(lambda: quote_mint(ready, 0), grpc.StatusCode.INVALID_ARGUMENT, "collateral_amount")
    rejected(lambda: quote_mint(ready, 1, "NOPE"), grpc.StatusCode.NOT_FOUND)
    # Redemption stays open while paused; no more than circulates can be quoted.
    assert int(quote_redeem(ready, balance(ready, "alice")).collateral_out) > 0
    rejected(
        lambda: quote_redeem(ready, balance(ready, "alice") + 1),
        grpc.StatusCode.FAILED_PRECONDITION,
        "InsufficientBalance",
        "circulate",
    )
    assert ready.stored_count() == before


def test_a_stale_price_fails_a_quote(ready: Harness) -> None:
    ready.mint("alice", 1_000 * USDC, "m1")
    _move_clock(ready, 2 * 3600)
    rejected(lambda: quote_mint(ready, 10 * USDC), grpc.StatusCode.FAILED_PRECONDITION, "OracleStale")


def test_get_product_is_accrued_to_now_and_writes_nothing(ready: Harness) -> None:
    ready.mint("alice", 10_000 * USDC, "m1")
    first = ready.admin.token.GetProduct(token_pb2.GetProductRequest(product_id="P"), metadata=ready.admin.md)
    assert first.as_of.seconds == T0
    _move_clock(ready, 86_400)  # a day passes, no command: nothing stored
    before = ready.stored_count()
    accrued = ready.admin.token.GetProduct(
        token_pb2.GetProductRequest(product_id="P"), metadata=ready.admin.md
    )
    assert ready.stored_count() == before
    assert accrued.as_of.seconds == T0 + 86_400
    assert accrued.version == first.version  # nothing was written
    # A day's streaming fee: new tokens to the treasury, so the NAV per token falls.
    assert int(accrued.supply) > int(first.supply)
    assert int(accrued.nav_per_token) < int(first.nav_per_token)
    # The keeper now stores exactly that accrual: the stored figures equal the preview.
    ready.advance(0)
    after = ready.admin.token.GetProduct(token_pb2.GetProductRequest(product_id="P"), metadata=ready.admin.md)
    assert (after.supply, after.cash, after.nav_per_token, after.leverage) == (
        accrued.supply,
        accrued.cash,
        accrued.nav_per_token,
        accrued.leverage,
    )
    assert int(accrued.supply) - int(first.supply) < WAD * 10_000  # sanity: a fee, not a mint


def test_a_redemption_quote_after_settlement_is_the_pro_rata_payout(ready: Harness) -> None:
    ready.mint("alice", 1_000 * USDC, "m1")
    ready.admin.admin.Settle(admin_pb2.SettleRequest(product_id="P", request_id="s"), metadata=ready.admin.md)
    tokens = balance(ready, "alice") // 3
    quote = quote_redeem(ready, tokens)
    done = redeem(ready, "alice", tokens, "r1")
    assert (quote.collateral_out, quote.fee, quote.nav_per_token) == (
        done.collateral_out,
        "0",
        done.nav_per_token,
    )
    assert int(quote.collateral_out) > 0
    rejected(lambda: quote_mint(ready, USDC), grpc.StatusCode.FAILED_PRECONDITION, "ProductSettled")
