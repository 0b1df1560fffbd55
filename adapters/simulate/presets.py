"""The products users compare this node with, as the node's parameters (issue 14):
``iit simulate --preset fli|ftx`` launches with them, and the policies ``fli`` and ``ftx``
run them beside any other policy on the same path.

- ``fli`` (Index Coop's Flexible Leverage Index, here inverse): the band 0.8–1.2 ×
  |target|, a rebalance every 4 hours, recentering half of the way back (speed 0.5; as FLI
  does, never left outside the band), trades capped at 250,000 collateral units and
  continued as a TWAP of chunks 300 s apart, a streaming fee of 1.95 %/yr, 0.1 % to mint
  and to redeem. The recentering speed and the cooldown are this preset's choices; the
  issue fixes the rest.
- ``ftx`` (FTX leveraged tokens): the daily reset at 00:02 UTC, and an intraday rebalance
  as soon as |leverage| reaches 1.33 × |target| (no lower band: a −1× product whose
  leverage falls waits for the reset). Fees stay the product's.
"""

from __future__ import annotations

import attrs

from domain.fixedpoint import WAD
from domain.params import Params

PRESET_NAMES = ("fli", "ftx")
FLI_TRADE_CAP_WHOLE = 250_000
FLI_INTERVAL_S = 4 * 3600
FLI_TWAP_COOLDOWN_S = 300
FTX_RESET_TIME_OF_DAY_S = 120  # 00:02 UTC


def preset_params(name: str, base: Params) -> Params:
    """``base`` with preset ``name``'s rebalancing (and, for FLI, fees), scaled to its
    target leverage and collateral decimals."""
    magnitude = base.target_magnitude_wad
    if name == "fli":
        return attrs.evolve(
            base,
            band_low_wad=magnitude * 8 // 10,
            band_high_wad=magnitude * 12 // 10,
            rebalance_interval_s=FLI_INTERVAL_S,
            rebalance_time_of_day_s=None,
            recentering_speed_wad=WAD // 2,
            max_trade_notional=FLI_TRADE_CAP_WHOLE * 10**base.collateral_decimals,
            twap_cooldown_s=FLI_TWAP_COOLDOWN_S,
            streaming_fee_bps=195,
            mint_fee_bps=10,
            redeem_fee_bps=10,
        )
    if name == "ftx":
        return attrs.evolve(
            base,
            band_low_wad=1,
            band_high_wad=magnitude * 133 // 100,
            rebalance_interval_s=86_400,
            rebalance_time_of_day_s=FTX_RESET_TIME_OF_DAY_S,
            recentering_speed_wad=WAD,
        )
    raise ValueError(f"unknown preset {name!r}: use {' or '.join(PRESET_NAMES)}")
