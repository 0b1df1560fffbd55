"""The oracle rules of SPEC §2: fresh reports of distinct reporters, median, quorum,
staleness and the size of a move. Pure functions over a product's report book.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from attrs import frozen

from domain.errors import InvalidPriceReport
from domain.fixedpoint import WAD, median, mul_div_up
from domain.model import Component, Report
from domain.validation import check_reporter_id, check_symbol


@frozen
class Candidate:
    """An index price computed from fresh reports, with the weakest quorum behind it."""

    index_price_wad: int
    component_prices: tuple[tuple[str, int], ...]
    observed_at: int
    reporters_min: int


def is_fresh(observed_at: int, now: int, max_age_s: int) -> bool:
    """A report or price is fresh while no older than ``max_age_s``."""
    return now - observed_at <= max_age_s


def index_price_wad(components: tuple[Component, ...], prices: Mapping[str, int]) -> int:
    """Σ quantity × price, rounded up (the index values the vault's debt)."""
    total = sum(c.quantity_wad * prices[c.symbol] for c in components)
    return mul_div_up(total, 1, WAD)


def candidate_price(
    components: tuple[Component, ...],
    reports: Mapping[str, Mapping[str, Report]],
    now: int,
    max_age_s: int,
    quorum: int,
) -> Candidate | None:
    """The index price from the median of each component's fresh reports, or None when a
    component lacks ``quorum`` fresh reports from distinct reporters."""
    prices: dict[str, int] = {}
    oldest = now
    reporters_min: int | None = None
    for component in components:
        fresh = [
            r for r in reports.get(component.symbol, {}).values() if is_fresh(r.observed_at, now, max_age_s)
        ]
        if len(fresh) < quorum:
            return None
        prices[component.symbol] = median(tuple(r.price_wad for r in fresh))
        oldest = min(oldest, *(r.observed_at for r in fresh))
        reporters_min = len(fresh) if reporters_min is None else min(reporters_min, len(fresh))
    assert reporters_min is not None, "an index has at least one component"
    return Candidate(
        index_price_wad=index_price_wad(components, prices),
        component_prices=tuple((c.symbol, prices[c.symbol]) for c in components),
        observed_at=oldest,
        reporters_min=reporters_min,
    )


def fresh_median(
    reports: Iterable[Report], now: int, max_age_s: int, quorum: int
) -> tuple[int, int, int] | None:
    """(median price, oldest observed_at, count) of the fresh ``reports`` (one per
    reporter), or None with fewer than ``quorum`` of them. The median of an even count is
    the mean of the middle two (rounded down): two reporters who disagree meet halfway."""
    fresh = [r for r in reports if is_fresh(r.observed_at, now, max_age_s)]
    if not fresh or len(fresh) < quorum:
        return None
    return median(tuple(r.price_wad for r in fresh)), min(r.observed_at for r in fresh), len(fresh)


def candidate_from(
    components: tuple[Component, ...], prices: Mapping[str, tuple[int, int, int]]
) -> Candidate:
    """The candidate of per-component (price, oldest observed_at, reporters)."""
    return Candidate(
        index_price_wad=index_price_wad(components, {s: p[0] for s, p in prices.items()}),
        component_prices=tuple((c.symbol, prices[c.symbol][0]) for c in components),
        observed_at=min(prices[c.symbol][1] for c in components),
        reporters_min=min(prices[c.symbol][2] for c in components),
    )


def merged_books(
    *books: Mapping[str, Mapping[str, Report]],
) -> dict[str, dict[str, Report]]:
    """One book of several, a later book's report of a reporter replacing an earlier one's."""
    merged: dict[str, dict[str, Report]] = {}
    for book in books:
        for symbol, by_reporter in book.items():
            merged.setdefault(symbol, {}).update(by_reporter)
    return merged


def moved_beyond(previous_price_wad: int | None, new_price_wad: int, max_move_wad: int) -> bool:
    """Whether a price moved more than ``max_move_wad`` (a component without a previous
    accepted price counts as moved)."""
    if not previous_price_wad:
        return True
    return move_wad(previous_price_wad, new_price_wad) > max_move_wad


def move_wad(previous_price_wad: int, new_price_wad: int) -> int:
    """|new − previous| / previous as WAD, rounded up (a move is never understated).

    pre: previous_price_wad > 0 and new_price_wad > 0
    post: __return__ >= 0
    post: __return__ * previous_price_wad >= abs(new_price_wad - previous_price_wad) * WAD
    """
    return mul_div_up(abs(new_price_wad - previous_price_wad), WAD, previous_price_wad)


def reconstituted_components(
    components: tuple[Component, ...], prices: Mapping[str, int], index_price_before_wad: int
) -> tuple[Component, ...]:
    """``components`` scaled so that their index price equals ``index_price_before_wad``
    (quantities rounded down: the index, and so the debt's value, never jumps up)."""
    raw = sum(c.quantity_wad * prices[c.symbol] for c in components)
    return tuple(
        Component(c.symbol, c.quantity_wad * index_price_before_wad * WAD // raw) for c in components
    )


def check_round(
    book: Mapping[str, Mapping[str, Report]],
    reporter_id: str,
    observed_at: int,
    prices: tuple[tuple[str, int], ...],
    now: int,
) -> None:
    """Whether a round may join the oracle's book of every asset (a fact about assets,
    whether or not a product holds them): prices positive, each symbol once, not observed
    in the future nor before the reporter's previous report of the symbol. Raises the
    named error; products judge freshness by their own ``max_oracle_age_s``."""
    check_reporter_id(reporter_id)
    if not prices:
        raise InvalidPriceReport("a round needs at least one price")
    if observed_at > now:
        raise InvalidPriceReport(f"observed_at {observed_at} is in the future (now {now})")
    seen: set[str] = set()
    for symbol, price in prices:
        check_symbol(symbol)
        if symbol in seen:
            raise InvalidPriceReport(f"{symbol!r} appears twice in one round")
        seen.add(symbol)
        if price <= 0:
            raise InvalidPriceReport(f"price of {symbol} must be positive (WAD), got {price}")
        previous = book.get(symbol, {}).get(reporter_id)
        if previous is not None and observed_at < previous.observed_at:
            raise InvalidPriceReport(
                f"reporter {reporter_id} already reported {symbol} observed at "
                f"{previous.observed_at}; a report observed at {observed_at} is out of order"
            )


def with_round(
    book: Mapping[str, Mapping[str, Report]],
    reporter_id: str,
    observed_at: int,
    prices: tuple[tuple[str, int], ...],
) -> dict[str, Mapping[str, Report]]:
    """The book with a round's reports as each reporter's latest of its symbols."""
    updated = dict(book)
    for symbol, price in prices:
        by_reporter = dict(updated.get(symbol, {}))
        by_reporter[reporter_id] = Report(reporter_id, price, observed_at)
        updated[symbol] = by_reporter
    return updated
