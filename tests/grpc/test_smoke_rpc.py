from __future__ import annotations

from adapters.grpc.stubs import token_pb2
from tests.grpc.conftest import USDC


def test_a_holder_mints_through_a_real_channel(ready):
    response = ready.mint("alice", 1_000 * USDC, "m1")
    assert int(response.tokens_minted) > 0
    balance = ready.alice.token.GetBalance(
        token_pb2.GetBalanceRequest(product_id="P", holder_id="alice"), metadata=ready.alice.md
    )
    assert balance.tokens == response.tokens_minted == response.position.tokens
