"""A verdict: whether one law holds, and if not, why, in words a reader can act on."""

from __future__ import annotations

from attrs import frozen


@frozen
class Verdict:
    invariant: str
    ok: bool
    detail: str = ""

    def __bool__(self) -> bool:
        return self.ok


def holds(invariant: str) -> Verdict:
    return Verdict(invariant, ok=True)


def violated(invariant: str, detail: str) -> Verdict:
    return Verdict(invariant, ok=False, detail=detail)
