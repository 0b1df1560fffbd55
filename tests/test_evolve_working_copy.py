"""The working copy of ``domain.evolve`` (issue 16) gives, for every event, the state the
old ``attrs.evolve`` path gave (``benchmarks/reference_evolve.py``, kept verbatim): one
event at a time, folded over a decision, and inside a decision's ``Draft``; and a frozen
state never changes after a working copy it came from writes again."""

from __future__ import annotations

import copy

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import reference_evolve as old
from domain import commands as cmd
from domain.decide import decide_and_apply
from domain.errors import DomainError
from domain.events import Event
from domain.evolve import Working, evolve, evolve_all
from domain.fixedpoint import WAD
from domain.model import Component, ProductState
from domain.params import default_params
from tests.support import DEFAULT_COMPONENTS, DEFAULT_PRICES, USDC

T0 = 1_700_000_000
HOLDERS = ("alice", "bob", "carol")
REPORTERS = ("r1", "r2")


KINDS = st.sampled_from(
    ["mint"] * 5 + ["redeem"] * 3 + ["transfer"] * 2 + ["price"] * 6 + ["tick"] * 2 + ["resume"] * 2
    + ["claim", "funding", "halt", "rebalance", "pause", "params", "reconstitute", "settle"]
)  # fmt: skip
STEPS = st.lists(
    st.tuples(
        KINDS,
        st.sampled_from(HOLDERS + REPORTERS),
        st.sampled_from([-30, -15, -8, -3, 0, 1, 4, 9, 15, 25, 50]),
        st.sampled_from([0, 0, 1, 60, 600, 1_800, 86_400]),
    ),
    min_size=1,
    max_size=60,
)


def _command(state: ProductState, kind: str, who: str, percent: int, now: int) -> cmd.Command:
    """The command a step describes, its amounts scaled to the state (so most succeed)."""
    holder = who if who in HOLDERS else "alice"
    share = max(abs(percent), 1)
    held = state.balance_of(holder)
    if kind == "mint":
        return cmd.Mint(holder, share * 1_000 * USDC, 0)
    if kind == "redeem":
        return cmd.Redeem(holder, max(held * share // 100, 1), 0)
    if kind == "transfer":
        return cmd.Transfer(holder, HOLDERS[share % len(HOLDERS)], max(held * share // 100, 1))
    if kind == "price":
        symbol = state.symbols[share % len(state.symbols)]
        accepted = dict(state.component_prices).get(symbol, 100 * WAD)
        reporter = who if who in REPORTERS else "r1"
        return cmd.ReportPrice(symbol, accepted * (100 + percent) // 100, now, reporter)
    if kind == "claim":
        return cmd.ClaimFees(holder, max(state.balance_of("treasury") // 2, 1))
    if kind == "funding":
        return cmd.ReportFundingRate(percent * WAD // 100)
    if kind == "halt":
        return cmd.ResolveHalt(percent >= 0)
    if kind == "params":
        return cmd.UpdateParameters(attrs.evolve(state.params, mint_fee_bps=share))
    if kind == "reconstitute":
        extra = (Component("SOL", WAD),) if len(state.symbols) == 2 and percent > 0 else ()
        return cmd.ReconstituteIndex(DEFAULT_COMPONENTS + extra)
    simple = {"tick": cmd.Tick(), "rebalance": cmd.Rebalance(), "pause": cmd.Pause()}
    return simple.get(kind, cmd.Resume() if kind == "resume" else cmd.SettleProduct())


def _launched() -> tuple[ProductState, int]:
    now = T0
    state = decide_and_apply(None, cmd.LaunchProduct("P", DEFAULT_COMPONENTS, default_params()), now).state
    for symbol, price in DEFAULT_PRICES.items():
        state = decide_and_apply(state, cmd.ReportPrice(symbol, price, now, "r1"), now).state
    return state, now


def _old_fold(state: ProductState, events: list[Event]) -> ProductState:
    for event in events:
        state = old.evolve(state, event)
    return state


@settings(max_examples=150, deadline=None)
@given(STEPS)
def test_every_decision_leaves_the_state_the_old_evolve_gave(steps: list[tuple[str, str, int, int]]) -> None:
    state, now = _launched()
    for kind, who, percent, seconds in steps:
        now += seconds
        command = _command(state, kind, who, percent, now)
        before = copy.deepcopy(state)
        try:
            draft = decide_and_apply(state, command, now)
        except DomainError:
            continue
        assert state == before, "a decision changed the state it started from"
        assert draft.state == _old_fold(state, draft.events)
        assert evolve_all(state, draft.events) == draft.state
        one_by_one = state
        for event in draft.events:
            after = evolve(one_by_one, event)
            assert after == old.evolve(one_by_one, event)
            one_by_one = after
        state = draft.state


def test_a_frozen_state_keeps_its_mappings_when_its_working_copy_writes_again() -> None:
    state, now = _launched()
    minted = decide_and_apply(state, cmd.Mint("alice", 1_000 * USDC, 0), now).events
    transferred = decide_and_apply(_old_fold(state, minted), cmd.Transfer("alice", "bob", 10**18), now).events
    working = Working(state)
    for event in minted:
        working.apply(event)
    first = working.freeze()
    frozen_copy = copy.deepcopy(first)
    for event in transferred:
        working.apply(event)
    second = working.freeze()
    assert first == frozen_copy, "a write after freezing changed the frozen state"
    assert second == _old_fold(first, transferred)
    assert state == _launched()[0], "a working copy wrote into the state it came from"
