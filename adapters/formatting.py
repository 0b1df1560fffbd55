"""Rendering fixed-point integers for people: exact decimal strings, never floats."""

from __future__ import annotations

from domain.fixedpoint import WAD


def fixed(value: int, decimals: int, places: int) -> str:
    """``value`` with ``decimals`` implied decimals, shown with ``places`` decimals (truncated
    toward zero, so nothing is shown larger than it is)."""
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    whole, fraction = divmod(magnitude, 10**decimals)
    if places == 0:
        return f"{sign}{whole:,}"
    digits = str(fraction).rjust(decimals, "0")[:places].ljust(places, "0")
    return f"{sign}{whole:,}.{digits}"


def wad(value: int, places: int = 4) -> str:
    """A WAD value (price, NAV, leverage) as a decimal string."""
    return fixed(value, 18, places)


def wad_of(number: str) -> int:
    """Parse a plain decimal string ("1.5", "-3", "0.2") into WAD exactly."""
    text = number.strip()
    negative = text.startswith("-")
    text = text.lstrip("+-")
    whole, _, fraction = text.partition(".")
    if not (whole or fraction) or not (whole + fraction).isdigit() or len(fraction) > 18:
        raise ValueError(f"not a decimal with at most 18 places: {number!r}")
    value = int(whole or "0") * WAD + int(fraction.ljust(18, "0") or "0")
    return -value if negative else value
