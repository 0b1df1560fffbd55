"""Checks of identifiers and amounts in commands, each raising a named error."""

from __future__ import annotations

import re

from domain.errors import InvalidArgument, InvalidComponents
from domain.model import HOLDER_ID_MAX_LEN, LOCKED_HOLDER, TREASURY_HOLDER, Component, ProductState
from domain.params import PARAM_BOUNDS, TIMESTAMP_MAX_S, out_of_bounds

_PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_PRINTABLE_ID = re.compile(r"[!-~]+")  # visible ASCII, no spaces or control characters
RESERVED_HOLDER_PREFIX = LOCKED_HOLDER.split(":", 1)[0] + ":"
# SPEC §2: the treasury, like the locked minimum supply, is a holder no credential acts for.
RESERVED_HOLDERS = frozenset({TREASURY_HOLDER})
COMPONENTS_MAX = 64

# Request ids (SPEC §2, Idempotency): a client's is 1-128 visible ASCII characters other
# than '#'; every id the node makes itself contains a '#' (a price fanned out to product P
# is recorded as ``<client id>#P``, a keeper tick as ``#keeper:...``), so no client id can
# take, block or replay one of the node's.
REQUEST_ID_MAX_LEN = 128
NODE_ID_MARK = "#"
_CLIENT_REQUEST_ID = re.compile(rf"[!-\"$-~]{{1,{REQUEST_ID_MAX_LEN}}}")

# How much of a client's value a message echoes (SPEC §7: echoed values are cut short).
ECHO_MAX = 64


def shown(value: str) -> str:
    """``value`` as a message quotes it: its repr, cut to ``ECHO_MAX`` characters."""
    if len(value) <= ECHO_MAX:
        return repr(value)
    return f"{value[:ECHO_MAX]!r}... ({len(value)} characters)"


def check_client_request_id(request_id: str) -> None:
    """A client's ``request_id``: 1-128 visible ASCII characters, no '#'."""
    if not _CLIENT_REQUEST_ID.fullmatch(request_id):
        raise InvalidArgument(
            f"request_id must be 1-{REQUEST_ID_MAX_LEN} visible ASCII characters other than "
            f"'{NODE_ID_MARK}' (ids with '{NODE_ID_MARK}' are the node's own), got {shown(request_id)}"
        )


def check_product_id(product_id: str) -> None:
    if not _PRODUCT_ID.fullmatch(product_id):
        raise InvalidArgument(
            f"product_id must be 1-64 characters of letters, digits, '.', '_' or '-', got {shown(product_id)}"
        )


def check_holder_id_format(holder_id: str, field: str = "holder_id") -> None:
    """1-128 visible ASCII characters (reserved ids included: they may be read)."""
    if not holder_id or len(holder_id) > HOLDER_ID_MAX_LEN or not _PRINTABLE_ID.fullmatch(holder_id):
        raise InvalidArgument(
            f"{field} must be 1-{HOLDER_ID_MAX_LEN} visible ASCII characters, got {shown(holder_id)}"
        )


def check_holder_id(holder_id: str, field: str = "holder_id") -> None:
    """A holder a command acts for or pays: well formed and not reserved."""
    check_holder_id_format(holder_id, field)
    if holder_id.startswith(RESERVED_HOLDER_PREFIX) or holder_id in RESERVED_HOLDERS:
        raise InvalidArgument(
            f"{field} {holder_id!r} is reserved: no credential acts for it (the treasury's tokens "
            "move only by AdminService.ClaimFees)"
        )


def check_reporter_id(reporter_id: str) -> None:
    if not reporter_id or len(reporter_id) > HOLDER_ID_MAX_LEN or not _PRINTABLE_ID.fullmatch(reporter_id):
        raise InvalidArgument(
            f"reporter_id must be 1-{HOLDER_ID_MAX_LEN} visible ASCII characters, got {shown(reporter_id)}"
        )


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
                f"symbol must be 1-32 letters, digits, '.', '_' or '-', got {shown(component.symbol)}"
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
        raise InvalidArgument(f"{field} must be 1-32 letters, digits, '.', '_' or '-', got {shown(symbol)}")


def state_out_of_range(state: ProductState, before: ProductState | None) -> str | None:
    """What of ``state`` (after a command; ``before`` it) is out of range, or None: every
    time in it must fit a ``Timestamp`` of years 1970-9999 (a product that breaks this
    could never be read back over the wire), and parameters it changed must lie within
    ``PARAM_BOUNDS`` (a value out of range would break a later command). The node refuses
    to store an event that would make such a state."""
    if before is None or state.params != before.params:
        for name, bound in PARAM_BOUNDS.items():
            problem = out_of_bounds(name, getattr(state.params, name), bound)
            if problem is not None:
                return f"params out of range: {problem}"
    times = {
        "launched_at": state.launched_at,
        "accrued_at": state.accrued_at,
        "next_rebalance_at": state.next_rebalance_at,
        "price_observed_at": state.price_observed_at,
    }
    for name, value in times.items():
        if not 0 <= value <= TIMESTAMP_MAX_S:
            return f"{name} would be {value}, beyond 9999-12-31T23:59:59Z"
    return None
