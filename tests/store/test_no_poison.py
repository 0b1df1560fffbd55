"""SPEC §7, no poison in the log: a command whose events cannot be encoded, stored and
loaded back is rejected before its commit; nothing is written and every product stays
loadable. Each failure mode is planted by a decision that returns a bad event (the domain
itself no longer produces one: its inputs are bounded), on both stores."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

import adapters.store.batch as batch_module
from adapters.audit.report import audit
from adapters.store.contract import Request, UnstorableCommand
from adapters.store.node import Node
from domain import commands as cmd
from domain import events as ev
from domain.draft import Draft
from domain.evolve import evolve
from domain.model import ProductState
from domain.params import default_params
from tests.store.test_node import T0, launched_node
from tests.support import DEFAULT_COMPONENTS, USDC

Plant = Callable[[ProductState | None, cmd.Command, int], Draft]


def _unencodable(state: ProductState | None, command: cmd.Command, now: int) -> Draft:
    assert state is not None
    return Draft(state, [ev.Paused(at=object())])  # type: ignore[arg-type]  # not JSON


def _undecodable(state: ProductState | None, command: cmd.Command, now: int) -> Draft:
    assert state is not None
    return Draft(state, [ev.Paused(at="soon")])  # type: ignore[arg-type]  # JSON, not an int


def _evolve_raises(state: ProductState | None, command: cmd.Command, now: int) -> Draft:
    assert state is not None  # a second launch of a launched product: evolve refuses it
    again = ev.ProductLaunched(at=now, product_id="P", components=DEFAULT_COMPONENTS, params=state.params)
    return Draft(state, [ev.Paused(at=now), again])


def _out_of_range(state: ProductState | None, command: cmd.Command, now: int) -> Draft:
    # The poison: an interval that puts next_rebalance_at past year 9999 (and a
    # Timestamp's range), planted past the parameter bounds that now stop it at the edge.
    assert state is not None
    params = attrs.evolve(state.params, rebalance_interval_s=9223372036854689407)
    updated = ev.ParametersUpdated(at=now, previous=state.params, params=params)
    later = attrs.evolve(state, params=params, next_rebalance_at=now + params.rebalance_interval_s)
    return Draft(later, [updated])


PLANTS = {
    "unencodable": _unencodable,
    "undecodable": _undecodable,
    "evolve-raises": _evolve_raises,
    "out-of-range": _out_of_range,
}


def _stored(node: Node) -> int:
    return node.recorder.max_notification_id() or 0


def _plant_for(monkeypatch: pytest.MonkeyPatch, plant: Plant, command_type: type[cmd.Command]) -> None:
    real = batch_module.decide_and_apply

    def deciding(state: ProductState | None, command: cmd.Command, now: int) -> Draft:
        if isinstance(command, command_type):
            return plant(state, command, now)
        return real(state, command, now)

    monkeypatch.setattr(batch_module, "decide_and_apply", deciding)


@pytest.mark.parametrize("mode", sorted(PLANTS))
def test_a_command_whose_events_would_not_load_back_is_rejected_and_writes_nothing(
    store_url, monkeypatch, mode
):
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1)
    before, state_before = _stored(node), node.load("P")
    _plant_for(monkeypatch, PLANTS[mode], cmd.Pause)
    with pytest.raises(UnstorableCommand, match=r"nothing was written|unreadable|out of range"):
        node.execute("P", cmd.Pause(), "pause-1", T0 + 2)
    assert _stored(node) == before
    assert node.load("P") == state_before
    fresh = Node.open(store_url)
    assert fresh.load("P") == state_before  # a cold load: snapshot and events as stored
    assert audit(fresh).ok
    # The request id was not spent: once the decision is sound, the same id applies.
    monkeypatch.undo()
    assert node.execute("P", cmd.Pause(), "pause-1", T0 + 2).events


def test_a_poisoned_request_in_a_batch_fails_alone(store_url, monkeypatch):
    """Group commit: the other requests of the batch commit; only the bad one is rejected."""
    node = launched_node(store_url)
    _plant_for(monkeypatch, _evolve_raises, cmd.Pause)
    results = node.execute_batch(
        [
            Request("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1),
            Request("P", cmd.Pause(), "pause-1", T0 + 1),
            Request("P", cmd.Mint("bob", 500 * USDC, 0), "m2", T0 + 1),
        ]
    )
    assert isinstance(results[1], UnstorableCommand)
    assert not isinstance(results[0], Exception)
    assert not isinstance(results[2], Exception)
    fresh = Node.open(store_url)
    loaded = fresh.load("P")
    assert loaded is not None
    assert loaded.state.balance_of("alice") > 0
    assert loaded.state.balance_of("bob") > 0
    assert not loaded.state.paused
    assert audit(fresh).ok


def test_a_launch_that_would_be_unreadable_is_not_stored(store_url, monkeypatch):
    """The issue's case: a launch whose next_rebalance_at is past year 9999 used to be
    stored, and every later read of the product failed."""
    node = launched_node(store_url)
    before = _stored(node)

    def launch(state: ProductState | None, command: cmd.Command, now: int) -> Draft:
        assert isinstance(command, cmd.LaunchProduct)
        params = attrs.evolve(default_params(), rebalance_interval_s=2**62)
        event = ev.ProductLaunched(at=now, product_id="Q", components=DEFAULT_COMPONENTS, params=params)
        return Draft(evolve(None, event), [event])

    _plant_for(monkeypatch, launch, cmd.LaunchProduct)
    with pytest.raises(UnstorableCommand, match="rebalance_interval_s"):
        node.execute("Q", cmd.LaunchProduct("Q", DEFAULT_COMPONENTS, default_params()), "launch-q", T0)
    assert _stored(node) == before
    assert Node.open(store_url).product_ids() == ("P",)
