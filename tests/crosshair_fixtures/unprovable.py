"""A true contract that CrossHair cannot confirm within a short timeout: the gate must
fail on it ("Not confirmed"), because CrossHair itself exits 0 on a timeout."""

from __future__ import annotations


def ledger_total(balances: dict[str, int], source: str, destination: str, amount: int) -> int:
    """The total after a movement (true for all inputs, but a dict of symbolic keys
    exhausts CrossHair's budget).

    pre: amount >= 0
    post: __return__ == sum(balances.values())
    """
    moved = dict(balances)
    moved[source] = moved.get(source, 0) - amount
    moved[destination] = moved.get(destination, 0) + amount
    return sum(moved.values())
