from __future__ import annotations

from domain import commands as cmd
from tests.support import USDC, minted


def test_a_mint_then_a_full_redemption_leaves_only_the_locked_supply_and_a_clean_log():
    scenario = minted(1_000 * USDC)
    balance = scenario.product.balance_of("alice")
    scenario.advance(60)
    scenario.run(cmd.Redeem("alice", balance, 0))
    assert scenario.product.balance_of("alice") == 0
    assert scenario.audit().ok
