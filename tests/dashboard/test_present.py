"""What the dashboard says of each event: exact amounts in their units, the holder, the
reason; checked over every event the scripted market produces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.dashboard.present import exact, summary
from adapters.grpc.demo import run_demo
from adapters.store.codec import decode_event
from adapters.store.node import Node
from adapters.store.records import StoredProductEvent
from domain import events as ev


@given(st.integers(min_value=-(2**128), max_value=2**128), st.integers(min_value=0, max_value=18))
def test_exact_keeps_every_digit(value, decimals):
    text = exact(value, decimals)
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("-").replace(",", "").partition(".")
    assert len(fraction) <= decimals
    assert sign * int(whole + fraction.ljust(decimals, "0")) == value
    assert not ("." in text and text.endswith("0"))


def test_exact_groups_thousands_and_drops_only_trailing_zeros():
    assert exact(1_234_500_000, 6) == "1,234.5"
    assert exact(-(10**18), 18) == "-1"
    assert exact(1, 18) == "0.000000000000000001"
    assert exact(0, 6) == "0"


def _demo_events(directory) -> list[ev.Event]:
    """Every event the scripted market of `iit demo` stores, played against a real node."""
    _, clean = run_demo(directory)
    assert clean
    node = Node.open(f"sqlite:///{directory}/demo.db")
    try:
        records = node.recorder.select_notifications(1, 100_000)
        found = [node.mapper.to_domain_event(n) for n in records]
        return [decode_event(r.type, r.schema, r.payload) for r in found if isinstance(r, StoredProductEvent)]
    finally:
        node.close()


def test_every_event_of_the_scripted_market_is_described_with_its_holder_and_amounts(tmp_path):
    seen: set[str] = set()
    for event in _demo_events(tmp_path):
        holder, text = summary(event, 6)
        seen.add(type(event).__name__)
        assert text != type(event).__name__, text
        match event:
            case ev.Minted():
                assert holder == event.holder_id
                assert f"{exact(event.tokens_minted, 18)} tokens" in text
                assert f"for {exact(event.collateral_in, 6)} collateral" in text
            case ev.Redeemed():
                assert holder == event.holder_id
                assert f"for {exact(event.collateral_out, 6)} collateral" in text
            case ev.Rebalanced():
                assert f"({event.reason})" in text
                assert exact(event.leverage_after_wad, 18) in text
            case ev.CircuitBreakerTripped():
                assert text.startswith("HALTED")
    assert {"Minted", "Redeemed", "Rebalanced", "CircuitBreakerTripped", "Paused", "Resumed"} <= seen
