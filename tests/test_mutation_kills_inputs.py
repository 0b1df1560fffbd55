"""Laws of the node's inputs (the oracle's book of rounds, times, parameters and the range
of a stored state) that mutation testing (``make mutate``) found no pure test watching:
the tests that check them through the store, the gRPC API or the service are left out of
mutmut's selection. Each test drives the public domain functions directly and names, in a
comment, the mutants it was written against."""

from __future__ import annotations

import attrs
import pytest

from domain import commands as cmd
from domain.errors import InvalidArgument, InvalidPriceReport
from domain.fixedpoint import WAD
from domain.model import Component, Report
from domain.oracle import candidate_price, check_round, with_round
from domain.params import (
    PARAM_BOUNDS,
    TIME_MAX_S,
    TIME_OF_DAY_UNPINNED,
    TIMESTAMP_MAX_S,
    check_time,
    default_params,
    params_changes,
    patched,
)
from domain.validation import state_out_of_range
from tests.support import launched

NOW = 1_700_000_000
BTC = 60_000 * WAD
ETH = 3_000 * WAD


def book_of(*rounds: tuple[str, int, tuple[tuple[str, int], ...]]) -> dict:
    """The book of ``rounds`` (reporter, observed_at, prices), each checked then recorded."""
    book: dict = {}
    for reporter_id, observed_at, prices in rounds:
        check_round(book, reporter_id, observed_at, prices, NOW)
        book = with_round(book, reporter_id, observed_at, prices)
    return book


# --- domain.oracle.check_round -------------------------------------------------------------


def test_a_round_observed_before_the_reporters_previous_report_of_a_symbol_is_refused():
    # Against domain.oracle.check_round: `previous = None` (mutmut_10), `.get(None)` for the
    # reporter (mutmut_11) and `book.get(None, {})` for the symbol (mutmut_12), each of
    # which never finds the reporter's previous report, so an out-of-order round would pass.
    book = book_of(("r1", NOW - 10, (("BTC", BTC), ("ETH", ETH))))
    with pytest.raises(InvalidPriceReport, match="out of order"):
        check_round(book, "r1", NOW - 11, (("BTC", BTC),), NOW)
    with pytest.raises(InvalidPriceReport, match="ETH observed at"):
        check_round(book, "r1", NOW - 11, (("ETH", ETH),), NOW)


def test_a_round_observed_at_the_same_moment_as_the_reporters_previous_one_is_accepted():
    # Against domain.oracle.check_round mutmut_18: `observed_at <= previous.observed_at`
    # would refuse a reporter re-sending (or correcting) its round of the same moment.
    book = book_of(("r1", NOW - 10, (("BTC", BTC),)))
    check_round(book, "r1", NOW - 10, (("BTC", BTC + 1),), NOW)
    check_round(book, "r1", NOW - 9, (("BTC", BTC),), NOW)


def test_another_reporter_or_another_symbol_may_carry_an_earlier_observation():
    # The order is per reporter and symbol: r2's earlier observation of BTC, and r1's first
    # observation of SOL, are not out of order (a mutant keying the book otherwise is).
    book = book_of(("r1", NOW - 10, (("BTC", BTC),)))
    check_round(book, "r2", NOW - 500, (("BTC", BTC),), NOW)
    check_round(book, "r1", NOW - 500, (("SOL", 100 * WAD),), NOW)


def test_a_symbol_twice_in_one_round_is_refused_wherever_it_repeats():
    # Against domain.oracle.check_round mutmut_7: `seen.add(None)` forgets every symbol,
    # so a round could carry two prices of one symbol.
    with pytest.raises(InvalidPriceReport, match="appears twice"):
        check_round({}, "r1", NOW, (("BTC", BTC), ("BTC", BTC + 1)), NOW)
    with pytest.raises(InvalidPriceReport, match="'ETH' appears twice"):
        check_round({}, "r1", NOW, (("ETH", ETH), ("BTC", BTC), ("ETH", ETH)), NOW)
    check_round({}, "r1", NOW, (("BTC", BTC), ("ETH", ETH)), NOW)


@pytest.mark.parametrize("price", [0, -1, -BTC])
def test_a_price_that_is_not_positive_is_refused(price):
    # Against domain.oracle.check_round mutmut_8: `price < 0` would let a price of 0 in.
    with pytest.raises(InvalidPriceReport, match=f"price of BTC must be positive \\(WAD\\), got {price}"):
        check_round({}, "r1", NOW, (("ETH", ETH), ("BTC", price)), NOW)


def test_the_smallest_positive_price_one_wei_is_accepted():
    # Against domain.oracle.check_round mutmut_9: `price <= 1` would refuse 1 wei.
    check_round({}, "r1", NOW, (("BTC", 1),), NOW)


def test_a_round_needs_a_price_a_valid_reporter_and_symbols_and_no_future_observation():
    with pytest.raises(InvalidPriceReport, match="at least one price"):
        check_round({}, "r1", NOW, (), NOW)
    with pytest.raises(InvalidPriceReport, match="in the future"):
        check_round({}, "r1", NOW + 1, (("BTC", BTC),), NOW)
    check_round({}, "r1", NOW, (("BTC", BTC),), NOW)  # observed just now
    with pytest.raises(InvalidArgument, match="reporter_id"):
        check_round({}, "", NOW, (("BTC", BTC),), NOW)
    with pytest.raises(InvalidArgument, match="symbol"):
        check_round({}, "r1", NOW, (("BTC", BTC), ("no space", ETH)), NOW)


# --- domain.oracle.with_round ----------------------------------------------------------------


def test_a_recorded_round_is_each_symbols_report_of_its_reporter_exactly():
    # Against domain.oracle.with_round: `Report(None, ...)` (mutmut_10), `Report(..., None,
    # ...)` (mutmut_11) and a report of `None` (mutmut_9): the book keeps who reported what,
    # observed when.
    book = with_round({}, "r1", NOW - 5, (("BTC", BTC), ("ETH", ETH)))
    assert book == {
        "BTC": {"r1": Report("r1", BTC, NOW - 5)},
        "ETH": {"r1": Report("r1", ETH, NOW - 5)},
    }


def test_a_round_keeps_the_other_reporters_and_symbols_and_replaces_only_its_reporters():
    # Against domain.oracle.with_round mutmut_5: `updated.get(None, {})` starts each symbol
    # afresh, dropping the other reporters' reports of it (and so their quorum).
    book = book_of(
        ("r1", NOW - 30, (("BTC", BTC), ("ETH", ETH))),
        ("r2", NOW - 20, (("BTC", BTC + 2),)),
    )
    before = {symbol: dict(by_reporter) for symbol, by_reporter in book.items()}
    after = with_round(book, "r1", NOW - 10, (("BTC", BTC + 4),))
    assert after == {
        "BTC": {"r1": Report("r1", BTC + 4, NOW - 10), "r2": Report("r2", BTC + 2, NOW - 20)},
        "ETH": {"r1": Report("r1", ETH, NOW - 30)},
    }
    assert book == before  # the book given is left as it was


def test_the_price_of_recorded_rounds_is_the_index_of_each_components_median():
    # The book that with_round builds is what candidate_price prices: two reporters of
    # BTC meet halfway, a quorum of 2 needs both on every component, and the candidate
    # is observed when its oldest report was.
    components = (Component("BTC", WAD // 100), Component("ETH", WAD // 10))
    book = book_of(
        ("r1", NOW - 30, (("BTC", BTC), ("ETH", ETH))),
        ("r2", NOW - 20, (("BTC", BTC + 2 * WAD), ("ETH", ETH))),
    )
    candidate = candidate_price(components, book, NOW, 3_600, 2)
    assert candidate is not None
    assert candidate.component_prices == (("BTC", BTC + WAD), ("ETH", ETH))
    assert candidate.index_price_wad == (BTC + WAD) // 100 + ETH // 10
    assert candidate.observed_at == NOW - 30
    assert candidate.reporters_min == 2
    assert candidate_price(components, book, NOW, 3_600, 3) is None
    # r1's reports are exactly max_age old at NOW + 3_570: still fresh; a second later not.
    assert candidate_price(components, book, NOW + 3_570, 3_600, 2) is not None
    assert candidate_price(components, book, NOW + 3_571, 3_600, 2) is None


# --- domain.params.check_time ----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, NOW, TIME_MAX_S - 1, TIME_MAX_S])
def test_every_time_from_the_epoch_to_time_max_is_accepted(value):
    # Against domain.params.check_time: `1 <= value` (mutmut_2) and `0 < value` (mutmut_3)
    # refuse the epoch itself; `value < TIME_MAX_S` (mutmut_4) refuses the last time.
    check_time(value, "observed_at")


@pytest.mark.parametrize("value", [-1, -NOW, TIME_MAX_S + 1, TIMESTAMP_MAX_S])
def test_a_time_before_the_epoch_or_after_time_max_is_refused_naming_the_field(value):
    with pytest.raises(InvalidArgument, match=f"^now must be between .* got {value}$"):
        check_time(value, "now")


# --- domain.params.params_changes ------------------------------------------------------------


def test_a_whole_params_as_changes_unpins_an_unpinned_schedule_and_round_trips():
    # Against domain.params.params_changes mutmut_2: `(... is None) and False` would pass an
    # unset rebalance_time_of_day_s on as None instead of TIME_OF_DAY_UNPINNED (-1), so
    # UpdateParameters with a whole Params could not unpin a pinned schedule.
    unpinned = default_params()
    assert unpinned.rebalance_time_of_day_s is None
    changes = dict(params_changes(unpinned))
    assert changes["rebalance_time_of_day_s"] == TIME_OF_DAY_UNPINNED
    assert all(isinstance(value, int) for value in changes.values())
    pinned = attrs.evolve(unpinned, rebalance_time_of_day_s=3_600)
    assert patched(pinned, params_changes(unpinned)) == unpinned
    assert patched(unpinned, params_changes(pinned)) == pinned
    assert cmd.UpdateParameters(unpinned).changes == params_changes(unpinned)
    assert dict(cmd.UpdateParameters(pinned).changes)["rebalance_time_of_day_s"] == 3_600


# --- domain.validation.state_out_of_range ----------------------------------------------------

TIME_FIELDS = ("launched_at", "accrued_at", "next_rebalance_at", "price_observed_at")


@pytest.mark.parametrize("field", TIME_FIELDS)
def test_a_state_time_beyond_the_last_timestamp_is_out_of_range_naming_its_field(field):
    # Against domain.validation.state_out_of_range mutmut_17..24 (each field's key as
    # "XX<field>XX" or upper case: the message would name no field of the state) and
    # mutmut_28 (`value < TIMESTAMP_MAX_S` refuses the last second 9999-12-31T23:59:59Z).
    state = launched().product
    assert state_out_of_range(state, state) is None
    for in_range in (0, TIMESTAMP_MAX_S):  # 0: e.g. price_observed_at before any price
        assert state_out_of_range(attrs.evolve(state, **{field: in_range}), state) is None
    beyond = attrs.evolve(state, **{field: TIMESTAMP_MAX_S + 1})
    assert state_out_of_range(beyond, state) == (
        f"{field} would be {TIMESTAMP_MAX_S + 1}, beyond 9999-12-31T23:59:59Z"
    )
    negative = attrs.evolve(state, **{field: -1})
    assert state_out_of_range(negative, state) == f"{field} would be -1, beyond 9999-12-31T23:59:59Z"


@pytest.mark.parametrize("name", sorted(PARAM_BOUNDS))
def test_a_changed_parameter_out_of_its_bounds_is_out_of_range_naming_it(name):
    # Against domain.validation.state_out_of_range: `state.params == before.params`
    # (mutmut_3) judges only unchanged parameters, `problem = None` (mutmut_4) none, and
    # `out_of_bounds(None, ...)` (mutmut_5) names no parameter.
    state = launched().product
    bound = PARAM_BOUNDS[name]
    for value in (bound.low - 1, bound.high + 1):
        changed = attrs.evolve(state, params=attrs.evolve(state.params, **{name: value}))
        expected = f"params out of range: {name} must be in [{bound.low}, {bound.high}]"
        for before in (state, None):
            problem = state_out_of_range(changed, before)
            assert problem is not None
            assert problem.startswith(expected), problem
            assert problem.endswith(f"got {value}"), problem


def test_parameters_a_command_did_not_change_are_not_judged_again():
    # The event store checks a stored state against itself (state_out_of_range(s, s)) for
    # its times only: parameters already stored are judged when they change, not on every
    # later command (against mutmut_3, `==`, which would judge exactly these).
    state = launched().product
    odd = attrs.evolve(state, params=attrs.evolve(state.params, oracle_quorum=0))
    assert state_out_of_range(odd, odd) is None
    assert state_out_of_range(attrs.evolve(odd, accrued_at=odd.accrued_at + 1), odd) is None
