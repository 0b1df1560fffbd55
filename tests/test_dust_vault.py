"""Regressions the state machine found at dust sizes: a vault left with a few base units of
equity (everyone redeemed; only the locked minimum supply remains). Each test replays the
program hypothesis printed; the machine's own checks (every invariant after every event,
the reference model, the log audit at teardown) are what must keep holding."""

from __future__ import annotations

from fractions import Fraction

from domain import commands as cmd
from domain.errors import MintTooSmall
from domain.valuation import current_equity
from tests.test_state_machine import ProductMachine


def _machine() -> ProductMachine:
    machine = ProductMachine()
    machine.seed_holders()
    return machine


def test_a_dust_mint_after_a_round_trip_buys_no_more_than_it_pays_for():
    machine = _machine()
    machine.launch(
        leverage=-1, fees=(0, 0, 0), cost_bps=0, cap_units=0, quorum=1, decimals=6,
        timing=(3600, 900), move_pct=5, index=[("BTC", 1, 1)],
    )  # fmt: skip
    machine.mint_then_redeem_at_once(holder="bob", units=10)
    assert 0 < current_equity(machine.product) < 5  # a dust vault
    # Priced off booked equity (debt valued up) this minted 10^9 tokens worth 1.5 base units.
    result = machine._run(cmd.Mint("bob", 1, 0), MintTooSmall)
    assert isinstance(result, MintTooSmall)
    machine.teardown()


def test_the_keeper_does_not_trade_away_a_dust_vaults_last_equity():
    machine = _machine()
    machine.launch(
        index=[("BTC", 356, 2014), ("ETH", 976, 10000), ("SOL", 552, 18060)], decimals=0, quorum=2,
        leverage=-3, fees=(88, 39, 95), cost_bps=200, timing=(21600, 3600), move_pct=16, cap_units=31,
    )  # fmt: skip
    machine.rebalance()
    machine.mint_then_redeem_at_once(holder="bob", units=14113)
    machine.report_funding_rate(percent=6)
    machine.tick()  # a rebalance here once left equity at -1 without settling
    assert current_equity(machine.product) > 0
    machine.teardown()


def test_a_band_rebalance_of_a_dust_vault_does_not_overshoot_past_the_ripcord():
    machine = _machine()
    machine.launch(
        index=[("BTC", 49, 375)], move_pct=5, timing=(86400, 86400), cap_units=41, cost_bps=50,
        fees=(56, 66, 0), quorum=1, leverage=-2, decimals=6,
    )  # fmt: skip
    machine.mint_then_redeem_at_once(holder="alice", units=24324)
    machine.mint_then_redeem_at_once(holder="bob", units=13528)
    machine.reconstitute_index(index=[("BTC", 487, 10000000), ("SOL", 365, 10000000), ("ETH", 74, 13800)])
    machine.transfer(destination="bob", fraction=Fraction(1, 2), source="bob")
    machine.mint_then_redeem_at_once(holder="alice", units=4103)
    machine.manipulated_spike(percent=200, reporter="r2", which=0)
    # A band trade once took |leverage| from 0.2 to 3.33, past the ripcord of 3.
    machine.steer_leverage(goal="past ripcord", ticks=0)
    machine.teardown()
