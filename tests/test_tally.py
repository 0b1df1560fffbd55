"""The audit's tallies of Σ balances and Σ ledger (``invariants.tally``) agree with a scan of
the mapping after every step of a replay, whatever the step does to it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from invariants.tally import MappingTally

HOLDERS = st.sampled_from(["alice", "bob", "carol", "locked", "treasury"])
# 18-decimal balances: big integers, and now and then a negative one (a broken state).
AMOUNTS = st.integers(min_value=-(10**25), max_value=10**25)

STEPS = st.one_of(
    st.tuples(st.just("same")),
    st.tuples(st.just("set"), HOLDERS, AMOUNTS),
    st.tuples(st.just("equal copy")),
    st.tuples(st.just("pop"), HOLDERS),
    st.tuples(st.just("reorder")),
)


def _next(mapping: dict[str, int], step: tuple) -> dict[str, int]:
    """The next state's mapping: the same object, or a new one as ``evolve`` builds it."""
    kind = step[0]
    if kind == "same":
        return mapping
    if kind == "set":
        return {**mapping, step[1]: step[2]}
    if kind == "equal copy":
        return {k: int(str(v)) for k, v in mapping.items()}  # equal values, other objects
    if kind == "pop":
        return {k: v for k, v in mapping.items() if k != step[1]}
    return dict(reversed(mapping.items()))


@given(st.dictionaries(HOLDERS, AMOUNTS), st.lists(STEPS, max_size=40))
def test_a_tally_equals_the_scan_of_the_mapping_after_every_step(start, steps):
    tally = MappingTally()
    mapping = start
    tally.update(mapping)
    for step in steps:
        mapping = _next(mapping, step)
        tally.update(mapping)
        assert tally.total == sum(mapping.values())
        assert tally.any_negative == any(v < 0 for v in mapping.values())


def test_a_tally_follows_mappings_that_differ_only_in_content():
    """Two distinct mappings with the same keys in the same order, one value apart."""
    tally = MappingTally()
    tally.update({"alice": 5, "bob": 7})
    tally.update({"alice": 5, "bob": -8})
    assert (tally.total, tally.any_negative) == (-3, True)
