"""Checks of identifiers and amounts in commands, each raising a named error."""

from __future__ import annotations

import re

from domain.errors import InvalidArgument, InvalidComponents
from domain.model import HOLDER_ID_MAX_LEN, LOCKED_HOLDER, Component

_PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_PRINTABLE_ID = re.compile(r"[!-~]+")  # visible ASCII, no spaces or control characters
RESERVED_HOLDER_PREFIX = LOCKED_HOLDER.split(":", 1)[0] + ":"
COMPONENTS_MAX = 64


def check_product_id(product_id: str) -> None:
    if not _PRODUCT_ID.fullmatch(product_id):
        raise InvalidArgument(
            f"product_id must be 1-64 characters of letters, digits, '.', '_' or '-', got {product_id!r}"
        )


def check_holder_id(holder_id: str, field: str = "holder_id") -> None:
    if not holder_id or len(holder_id) > HOLDER_ID_MAX_LEN or not _PRINTABLE_ID.fullmatch(holder_id):
        raise InvalidArgument(
            f"{field} must be 1-{HOLDER_ID_MAX_LEN} visible ASCII characters, got {holder_id!r}"
        )
    if holder_id.startswith(RESERVED_HOLDER_PREFIX):
        raise InvalidArgument(f"{field} {holder_id!r} is reserved")


def check_reporter_id(reporter_id: str) -> None:
    if not reporter_id or len(reporter_id) > HOLDER_ID_MAX_LEN or not _PRINTABLE_ID.fullmatch(reporter_id):
        raise InvalidArgument(f"reporter_id must be 1-128 visible ASCII characters, got {reporter_id!r}")


def check_positive(value: int, field: str) -> None:
    if value <= 0:
        raise InvalidArgument(f"{field} must be a positive integer of base units, got {value}")


def check_non_negative(value: int, field: str) -> None:
    if value < 0:
        raise InvalidArgument(f"{field} must not be negative, got {value}")


def check_components(components: tuple[Component, ...]) -> None:
    if not components:
        raise InvalidComponents("an index needs at least one component")
    if len(components) > COMPONENTS_MAX:
        raise InvalidComponents(f"an index has at most {COMPONENTS_MAX} components")
    seen: set[str] = set()
    for component in components:
        if not _SYMBOL.fullmatch(component.symbol):
            raise InvalidComponents(
                f"symbol must be 1-32 letters, digits, '.', '_' or '-', got {component.symbol!r}"
            )
        if component.symbol in seen:
            raise InvalidComponents(f"symbol {component.symbol!r} appears twice")
        seen.add(component.symbol)
        if component.quantity_wad <= 0:
            raise InvalidComponents(
                f"quantity of {component.symbol} must be positive (WAD), got {component.quantity_wad}"
            )


def check_symbol(symbol: str, field: str = "symbol") -> None:
    """An asset's symbol: what a component may be called (see ``check_components``)."""
    if not _SYMBOL.fullmatch(symbol):
        raise InvalidArgument(f"{field} must be 1-32 letters, digits, '.', '_' or '-', got {symbol[:40]!r}")
