"""Strict conversions between the wire (decimal strings, Timestamps) and the domain
(integers in base units or WAD, Unix seconds). A malformed value is the domain's
``InvalidArgument`` naming the field, what was expected and what came: the servicers check
everything before a command reaches the node, so a rejected request writes nothing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.grpc.stubs import common_pb2
from domain.errors import InvalidArgument
from domain.fixedpoint import WAD, holding_value_down
from domain.model import Component, ProductState, Status
from domain.params import (
    AMOUNT_MAX,
    TIME_OF_DAY_UNPINNED,
    Params,
    ParamsChanges,
    check_time,
    default_params,
    patched,
)
from domain.params import params_changes as params_changes_of
from domain.validation import (
    check_client_request_id,
    check_holder_id_format,
    check_product_id,
    check_reporter_id,
    check_symbol,
    shown,
)
from domain.valuation import current_leverage_wad, nav_wad

# Amounts fit in 128 bits: 3.4e38 base units is beyond any real supply, and a bound keeps
# arithmetic and storage of a hostile request small.
_DIGITS_MAX = len(str(AMOUNT_MAX))
_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")
_EXAMPLE = '(digits 0-9 only, e.g. "1500000")'


def _parse(text: str, field: str, pattern: re.Pattern[str], what: str) -> int:
    if text == "":
        raise InvalidArgument(f"{field} is required: {what} {_EXAMPLE}, got an empty string")
    if not pattern.fullmatch(text):
        if text.startswith("-") and _UNSIGNED.fullmatch(text[1:]):
            raise InvalidArgument(f"{field} must not be negative, got {shown(text)}")
        raise InvalidArgument(
            f"{field} must be {what} {_EXAMPLE}: no sign, decimal point, exponent or spaces; "
            f"got {shown(text)}"
        )
    digits = text.lstrip("-").lstrip("0")
    if len(digits) > _DIGITS_MAX or int(digits or "0") > AMOUNT_MAX:
        raise InvalidArgument(
            f"{field} is out of range: at most 2^128-1 ({AMOUNT_MAX}) in magnitude, got a "
            f"{len(digits)}-digit number"
        )
    return int(text)


# SPEC §7: every id and symbol of a request has a documented length and alphabet. The
# top-level string fields of every request message are checked by name before a handler
# runs (``check_request``); an empty one is left to the handler (required, or "all").
# Any other string field is at most ``STRING_MAX`` characters.
STRING_MAX = 8_192
_ID_FIELDS: dict[str, Callable[[str, str], None]] = {
    "product_id": lambda value, field: check_product_id(value),
    "holder_id": check_holder_id_format,
    "from_holder_id": check_holder_id_format,
    "to_holder_id": check_holder_id_format,
    "reporter_id": lambda value, field: check_reporter_id(value),
    "request_id": lambda value, field: check_client_request_id(value),
    "symbol": check_symbol,
}


def check_request(request: Message) -> None:
    """The ids, symbols and strings of a request within their documented bounds."""
    for descriptor in request.DESCRIPTOR.fields:
        if descriptor.type != FieldDescriptor.TYPE_STRING or descriptor.is_repeated:
            continue
        value = getattr(request, descriptor.name)
        if not value:
            continue
        checker = _ID_FIELDS.get(descriptor.name)
        if checker is not None:
            checker(value, descriptor.name)
        elif len(value) > STRING_MAX:
            raise InvalidArgument(
                f"{descriptor.name} is too long: at most {STRING_MAX} characters, got {len(value)}"
            )


def amount(text: str, field: str) -> int:
    """A non-negative integer of base units (or WAD) from its decimal string."""
    return _parse(text, field, _UNSIGNED, "a decimal string of integer base units")


def optional_amount(text: str, field: str) -> int:
    """Like ``amount``, but an empty string is 0 (an unset bound such as ``min_tokens_out``)."""
    return 0 if text == "" else amount(text, field)


def signed(text: str, field: str) -> int:
    """A signed integer (a WAD leverage or rate) from its decimal string."""
    return _parse(text, field, _SIGNED, "a decimal string of a signed integer (WAD)")


def seconds(message: Timestamp, field: str) -> int:
    """Unix seconds of a Timestamp, nanoseconds truncated toward the past: from 1970 to
    9800-01-01 (``domain.params.TIME_MAX_S``)."""
    check_time(message.seconds, field)
    return message.seconds


def timestamp(unix_s: int) -> Timestamp:
    return Timestamp(seconds=unix_s)


def components(items: list[common_pb2.Component] | tuple[common_pb2.Component, ...]) -> tuple[Component, ...]:
    return tuple(
        Component(item.symbol, signed(item.quantity, f"components[{index}].quantity ({item.symbol})"))
        for index, item in enumerate(items)
    )


# The Params fields carried as decimal strings (WAD or base units) and as plain integers.
_STRING_PARAMS = {
    "target_leverage": "target_leverage_wad",
    "band_low": "band_low_wad",
    "band_high": "band_high_wad",
    "ripcord_leverage": "ripcord_leverage_wad",
    "max_trade_notional": "max_trade_notional",
    "max_price_move": "max_price_move_wad",
    "supply_cap": "supply_cap",
    "recentering_speed": "recentering_speed_wad",
}
_INT_PARAMS = (
    "rebalance_interval_s",
    "mint_fee_bps",
    "redeem_fee_bps",
    "streaming_fee_bps",
    "execution_cost_bps",
    "max_oracle_age_s",
    "oracle_quorum",
    "collateral_decimals",
    "twap_cooldown_s",
)


def params_changes(message: common_pb2.Params) -> ParamsChanges:
    """The parameters the client set, by domain name, in name order: an update's patch
    (the domain merges it into the product's parameters when it decides the command)."""
    changes: dict[str, int] = {}
    for wire_name, domain_name in _STRING_PARAMS.items():
        if message.HasField(wire_name):  # type: ignore[arg-type]  # names from a fixed table
            changes[domain_name] = signed(getattr(message, wire_name), f"params.{wire_name}")
    for name in _INT_PARAMS:
        if message.HasField(name):  # type: ignore[arg-type]
            changes[name] = getattr(message, name)
    if message.HasField("rebalance_time_of_day_s"):  # -1 unpins it (TIME_OF_DAY_UNPINNED)
        changes["rebalance_time_of_day_s"] = message.rebalance_time_of_day_s
    return params_changes_of(changes.items())


def params(message: common_pb2.Params, base: Params | None) -> Params:
    """Domain parameters from the wire: unset fields take ``base`` or, at launch (None),
    ``default_params`` scaled to the target leverage. Bounds are the domain's to check
    (``validate_params``), with its messages."""
    changes = params_changes(message)
    if base is None:
        base = default_params(dict(changes).get("target_leverage_wad", -WAD))
    return patched(base, changes)


def params_message(value: Params) -> common_pb2.Params:
    """Every field of ``value`` as a wire ``Params`` (for clients: launch exactly these)."""
    message = common_pb2.Params(
        rebalance_time_of_day_s=(
            TIME_OF_DAY_UNPINNED if value.rebalance_time_of_day_s is None else value.rebalance_time_of_day_s
        )
    )
    for wire_name, domain_name in _STRING_PARAMS.items():
        setattr(message, wire_name, str(getattr(value, domain_name)))
    for name in _INT_PARAMS:
        setattr(message, name, getattr(value, name))
    return message


def product_params(value: Params) -> common_pb2.ProductParams:
    return common_pb2.ProductParams(
        target_leverage=str(value.target_leverage_wad),
        band_low=str(value.band_low_wad),
        band_high=str(value.band_high_wad),
        ripcord_leverage=str(value.ripcord_leverage_wad),
        rebalance_interval_s=value.rebalance_interval_s,
        max_trade_notional=str(value.max_trade_notional),
        mint_fee_bps=value.mint_fee_bps,
        redeem_fee_bps=value.redeem_fee_bps,
        streaming_fee_bps=value.streaming_fee_bps,
        execution_cost_bps=value.execution_cost_bps,
        max_oracle_age_s=value.max_oracle_age_s,
        max_price_move=str(value.max_price_move_wad),
        oracle_quorum=value.oracle_quorum,
        collateral_decimals=value.collateral_decimals,
        supply_cap=str(value.supply_cap),
        rebalance_time_of_day_s=value.rebalance_time_of_day_s,
        recentering_speed=str(value.recentering_speed_wad),
        twap_cooldown_s=value.twap_cooldown_s,
    )


_STATUS = {
    Status.ACTIVE: common_pb2.PRODUCT_STATUS_ACTIVE,
    Status.PAUSED: common_pb2.PRODUCT_STATUS_PAUSED,
    Status.HALTED: common_pb2.PRODUCT_STATUS_HALTED,
    Status.SETTLED: common_pb2.PRODUCT_STATUS_SETTLED,
}


def product(state: ProductState, version: int, as_of: int | None = None) -> common_pb2.Product:
    """``state`` on the wire; ``as_of`` the moment it was accrued to (else its last accrual)."""
    leverage = current_leverage_wad(state)
    return common_pb2.Product(
        product_id=state.product_id,
        status=_STATUS[state.status],
        cash=str(state.vault.cash),
        debt_units=str(state.vault.debt_units_wad),
        supply=str(state.vault.supply),
        index_price=str(state.index_price_wad),
        nav_per_token=str(nav_wad(state)),
        leverage="" if leverage is None else str(leverage),
        components=[
            common_pb2.Component(symbol=c.symbol, quantity=str(c.quantity_wad)) for c in state.components
        ],
        params=product_params(state.params),
        component_prices=[
            common_pb2.ComponentPrice(symbol=s, price=str(p)) for s, p in state.component_prices
        ],
        price_observed_at=timestamp(state.price_observed_at),
        funding_rate=str(state.funding_rate_wad),
        bad_debt=str(state.bad_debt),
        next_rebalance_at=timestamp(state.next_rebalance_at),
        launched_at=timestamp(state.launched_at),
        pending_index_price=str(state.pending_price.index_price_wad) if state.pending_price else "",
        version=version,
        as_of=timestamp(state.accrued_at if as_of is None else as_of),
    )


def position_value(state: ProductState, tokens: int) -> int:
    """What ``tokens`` are worth at the product's NAV, in collateral base units, rounded down."""
    return holding_value_down(tokens, nav_wad(state), state.params.collateral_decimals)


def position(state: ProductState, holder_id: str) -> common_pb2.Position:
    tokens = state.balance_of(holder_id)
    return common_pb2.Position(
        holder_id=holder_id, tokens=str(tokens), value=str(position_value(state, tokens))
    )


_PAGE_TOKEN_PREFIX = "p1:"  # noqa: S105 - a format tag, not a secret


def page_token(position: int) -> str:
    """An opaque page token: where the next page continues (a store position)."""
    return base64.urlsafe_b64encode(f"{_PAGE_TOKEN_PREFIX}{position}".encode()).decode().rstrip("=")


def page_position(token: str) -> int:
    """The store position a ``page_token`` continues after (0 for "", the first page)."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        text = ""
    digits = text.removeprefix(_PAGE_TOKEN_PREFIX)
    if not text.startswith(_PAGE_TOKEN_PREFIX) or not digits.isdigit() or len(digits) > 19:
        raise InvalidArgument(
            f"page_token {token[:40]!r} is not one this node gave: pass next_page_token as is"
        )
    return int(digits)
