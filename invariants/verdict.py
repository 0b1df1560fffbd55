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


# The audit checks some thirteen laws after every event of a log, and they nearly always
# hold: one shared, immutable verdict per law instead of a new object per check.
_HOLDING: dict[str, Verdict] = {}


def holds(invariant: str) -> Verdict:
    verdict = _HOLDING.get(invariant)
    if verdict is None:
        verdict = _HOLDING[invariant] = Verdict(invariant, ok=True)
    return verdict


def violated(invariant: str, detail: str) -> Verdict:
    return Verdict(invariant, ok=False, detail=detail)
