"""Σ of a mapping's values, kept from one state of a replay to the next instead of summed
afresh after every event.

Two laws sum a whole mapping: ``supply_equals_balances`` over the token balances (one
entry per holder) and ``ledger_sums_to_zero`` over the collateral accounts, and the audit
checks both after every event. Most events leave a mapping alone: a price report, an
accepted price, a rebalance, a pause keep the very same balances object in the next state
(``attrs.evolve`` copies the reference; ``domain.evolve`` builds a new mapping only for
the events that move tokens or collateral). For those the tally answers in O(1) instead of
O(holders); for the others it sums the new mapping again, in C.

Exact because state mappings are read-only: typed ``Mapping`` (``mypy --strict`` rejects a
write through it) and never mutated after construction (``domain.model``), so the same
object has the same contents. The tally holds a reference to the mapping it summed, so that
object's identity cannot be reused by another.

Measured and rejected: re-adding only the entries whose value object changed (an exact
delta, trusting nothing) costs as much per holder as the sum itself in pure Python, and
adding only the holders an event names would trust ``evolve`` to touch no other holder,
which the full sum does not.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import define


@define
class MappingTally:
    summed: Mapping[str, int] | None = None
    total: int = 0
    any_negative: bool = False

    def update(self, mapping: Mapping[str, int]) -> None:
        """Make ``total`` and ``any_negative`` those of ``mapping``."""
        if mapping is self.summed:
            return
        values = mapping.values()
        self.total = sum(values)
        self.any_negative = min(values, default=0) < 0
        self.summed = mapping
