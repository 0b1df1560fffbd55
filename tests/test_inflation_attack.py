"""The first-mint (inflation) attack gains nothing: an attacker mints dust first, moves
value into the vault, waits for a victim's mint, then redeems everything."""

from __future__ import annotations

import contextlib

import attrs
from hypothesis import given
from hypothesis import strategies as st

from domain import commands as cmd
from domain import events as ev
from domain.errors import MintTooSmall, RedeemTooSmall
from domain.evolve import apply_movements
from domain.model import VAULT, Movement, holder_account
from domain.params import default_params
from tests.support import USDC, launched


def donate(scenario, holder_id: str, amount: int) -> None:
    """Move collateral straight into the vault, as a donation to it would."""
    state = scenario.product
    scenario.state = attrs.evolve(
        state,
        vault=attrs.evolve(state.vault, cash=state.vault.cash + amount),
        ledger=apply_movements(state.ledger, (Movement(holder_account(holder_id), VAULT, amount),)),
    )


@given(
    dust=st.integers(min_value=1, max_value=100),
    donation=st.integers(min_value=1, max_value=1_000_000 * USDC),
    victim_deposit=st.integers(min_value=1, max_value=100_000 * USDC),
)
def test_the_attacker_never_ends_with_more_than_it_put_in(dust, donation, victim_deposit):
    scenario = launched(params=attrs.evolve(default_params(), mint_fee_bps=0, redeem_fee_bps=0))
    scenario.run(cmd.Mint("attacker", dust, 0))
    donate(scenario, "attacker", donation)
    with contextlib.suppress(MintTooSmall):  # a victim's mint that yields no token is refused
        scenario.run(cmd.Mint("victim", victim_deposit, 0))
    paid_out = 0
    with contextlib.suppress(RedeemTooSmall):  # a redemption that cannot pay its own trade
        for event in scenario.run(cmd.Redeem("attacker", scenario.product.balance_of("attacker"), 0)):
            if isinstance(event, ev.Redeemed):
                paid_out += event.collateral_out
    assert paid_out <= dust + donation


@given(donation=st.integers(min_value=1, max_value=10_000 * USDC))
def test_a_victim_loses_at_most_rounding_to_a_donation_after_a_dust_first_mint(donation):
    scenario = launched(params=attrs.evolve(default_params(), mint_fee_bps=0, redeem_fee_bps=0))
    scenario.run(cmd.Mint("attacker", 1, 0))
    donate(scenario, "attacker", donation)
    minted = [e for e in scenario.run(cmd.Mint("victim", 1_000 * USDC, 0)) if isinstance(e, ev.Minted)]
    assert minted[0].tokens_minted > 0
    redeemed = [
        e
        for e in scenario.run(cmd.Redeem("victim", scenario.product.balance_of("victim"), 0))
        if isinstance(e, ev.Redeemed)
    ]
    # What the victim loses is the hedge's execution cost both ways, not the attacker's gain.
    costs = minted[0].execution_cost + redeemed[0].execution_cost
    assert 1_000 * USDC - redeemed[0].collateral_out <= costs + 2
