"""Clocks: the node reads time only through one of these, and passes it into the domain."""

from __future__ import annotations

import time
from typing import Protocol

from adapters.rejections import AdapterError


class Clock(Protocol):
    def now(self) -> int:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> int:
        return int(time.time())


class ClockWentBackwards(AdapterError, ValueError):
    """A simulated clock was asked to move back in time."""


class SimulatedClock:
    """Time that moves only when told, and never backwards (for tests and backtests)."""

    def __init__(self, start: int) -> None:
        self._now = start

    def now(self) -> int:
        return self._now

    def advance_to(self, moment: int) -> int:
        if moment < self._now:
            raise ClockWentBackwards(f"the simulated clock is at {self._now}; it cannot go back to {moment}")
        self._now = moment
        return self._now
