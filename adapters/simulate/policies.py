"""Rebalancing policies to compare in one backtest, each a mapping onto the product's
``Params`` (the domain has one rebalancing engine; a policy only chooses its knobs).

- ``daily``: the daily reset (``rebalance_interval_s`` one day), the band opened wide
  so that only the schedule (and the ripcord, which every product has) trades;
- ``band``: no schedule to speak of (one rebalance a century), the band as given, and
  the ripcord pushed as far out as the launch rule allows (it cannot be switched off);
- ``band+ripcord``: no schedule, the band and the ripcord as given;
- ``every-Nh``: a reset every N hours, band opened wide, ripcord as given;
- ``daily+band``, ``every-Nh+band``: the schedule and the band together (FLI runs both);
- ``product``: the product's parameters exactly as launched, whatever they combine
  (schedule and its time of day, band, ripcord, recentering speed, TWAP cooldown);
- ``fli``, ``ftx``: the product's parameters with a preset's (``presets.py``) over them.

Every policy keeps the product's recentering speed, TWAP cooldown, trade cap and time of
day: a policy only chooses the knobs its name says.
"""

from __future__ import annotations

import re

import attrs
from attrs import frozen

from adapters.simulate.presets import PRESET_NAMES, preset_params
from domain.fixedpoint import BPS, WAD
from domain.params import Params

CENTURY_S = 100 * 365 * 86_400  # "never" for a schedule, still a valid positive interval
_EVERY = re.compile(r"every-(\d+)h")
_EVERY_BAND = re.compile(r"every-(\d+)h\+band")


class PolicyError(ValueError):
    """An unknown policy name."""


@frozen
class Policy:
    """A named way to rebalance: ``kind`` is daily, band, band+ripcord, every,
    schedule+band or product."""

    name: str
    kind: str
    interval_s: int = 86_400

    def params(self, base: Params) -> Params:
        """``base`` with this policy's rebalancing knobs."""
        wide_band = {"band_low_wad": 1, "band_high_wad": base.ripcord_leverage_wad - 1}
        match self.kind:
            case "daily" | "every":
                return attrs.evolve(base, rebalance_interval_s=self.interval_s, **wide_band)
            case "band":
                return attrs.evolve(
                    base, rebalance_interval_s=CENTURY_S, ripcord_leverage_wad=widest_ripcord_wad(base)
                )
            case "band+ripcord":
                return attrs.evolve(base, rebalance_interval_s=CENTURY_S)
            case "schedule+band":
                return attrs.evolve(base, rebalance_interval_s=self.interval_s)
            case "product":
                return preset_params(self.name, base) if self.name in PRESET_NAMES else base
        raise PolicyError(f"unknown policy kind {self.kind!r}")

    @property
    def description(self) -> str:
        return {
            "daily": "daily reset (schedule only, ripcord kept)",
            "band": "band only (ripcord at the launch rule's limit)",
            "band+ripcord": "band and ripcord, no schedule",
            "every": f"reset every {self.interval_s // 3600} h (schedule only, ripcord kept)",
            "schedule+band": f"schedule every {self.interval_s // 3600} h and the band, ripcord kept",
            "product": f"the {self.name.upper()} preset's parameters"
            if self.name in PRESET_NAMES
            else "the product's parameters as launched",
        }[self.kind]


def widest_ripcord_wad(params: Params) -> int:
    """The largest ripcord the launch rule ``ripcord × max_move × (1 + cost) < 1`` accepts."""
    denominator = params.max_price_move_wad * (BPS + params.execution_cost_bps)
    return (WAD * WAD * BPS - 1) // denominator


def parse_policy(name: str) -> Policy:
    """``daily``, ``band``, ``band+ripcord``, ``every-Nh`` (N whole hours, N ≥ 1),
    ``daily+band``, ``every-Nh+band`` or ``product``."""
    if name in {"daily", "band", "band+ripcord", "product"}:
        return Policy(name, name)
    if name in PRESET_NAMES:
        return Policy(name, "product")
    if name == "daily+band":
        return Policy(name, "schedule+band", 86_400)
    for pattern, kind in ((_EVERY, "every"), (_EVERY_BAND, "schedule+band")):
        match = pattern.fullmatch(name)
        if match and int(match.group(1)) > 0:
            return Policy(name, kind, int(match.group(1)) * 3600)
    raise PolicyError(
        f"unknown policy {name!r}: use daily, band, band+ripcord, every-Nh (e.g. every-1h), "
        "daily+band, every-Nh+band or product"
    )


DEFAULT_POLICIES = ("daily", "band", "band+ripcord", "every-1h")
