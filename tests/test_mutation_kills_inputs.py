"""Laws of the node's inputs (the oracle's book of rounds, times, parameters and the range
of a stored state) that mutation testing (``make mutate``) found no pure test watching:
the tests that check them through the store, the gRPC API or the service are left out of
mutmut's selection. Each test drives the public domain functions directly and names, in a
comment, the mutants it was written against."""

from __future__ import annotations

import re

import attrs
import pytest

from domain import commands as cmd
from domain.errors import InvalidArgument, InvalidComponents, InvalidParameters, InvalidPriceReport
from domain.fixedpoint import WAD
from domain.model import (
    HOLDER_ID_MAX_LEN,
    LOCKED_HOLDER,
    TREASURY_HOLDER,
    Component,
    Report,
    Status,
    holder_account,
)
from domain.oracle import (
    candidate_from,
    candidate_price,
    check_round,
    fresh_median,
    index_price_wad,
    is_fresh,
    merged_books,
    move_wad,
    moved_beyond,
    reconstituted_components,
    with_round,
)
from domain.params import (
    DAY_S,
    PARAM_BOUNDS,
    TIME_MAX_S,
    TIME_OF_DAY_UNPINNED,
    TIMESTAMP_MAX_S,
    Params,
    check_time,
    default_params,
    out_of_bounds,
    params_changes,
    patched,
    validate_params,
)
from domain.validation import (
    COMPONENTS_MAX,
    ECHO_MAX,
    REQUEST_ID_MAX_LEN,
    check_client_request_id,
    check_components,
    check_holder_id,
    check_holder_id_format,
    check_non_negative,
    check_positive,
    check_product_id,
    check_reporter_id,
    check_symbol,
    shown,
    state_out_of_range,
)
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
    # Against domain.oracle.check_round mutmut_1..6 (the reporter or symbol checked as None,
    # `if prices`, `observed_at >= now`, `seen = None`, `symbol not in seen`) and 13..17 (the
    # book read with None/no default, `or`/`is None` in the order check): each refuses a
    # valid round or crashes on one.
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
    # ...)` (mutmut_11), a report of `None` (mutmut_9), and the rest of its family
    # (mutmut_1..4, 6..8, 12..16: the book, a symbol's reports or a report's field as None
    # or left out): the book keeps who reported what, observed when.
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


@pytest.mark.parametrize("more", ["BTC", "ETH"])
def test_a_candidate_is_backed_by_the_fewest_fresh_reporters_of_any_component(more):
    # reporters_min is the weakest quorum behind the price, whichever component has fewer
    # fresh reporters (a `max`, or keeping the first component's count, overstates it).
    components = (Component("BTC", WAD // 100), Component("ETH", WAD // 10))
    rounds = [("r1", NOW - 30, (("BTC", BTC), ("ETH", ETH))), ("r2", NOW - 20, (("BTC", BTC), ("ETH", ETH)))]
    rounds.append(("r3", NOW - 10, ((more, BTC if more == "BTC" else ETH),)))
    candidate = candidate_price(components, book_of(*rounds), NOW, 3_600, 1)
    assert candidate is not None
    assert candidate.reporters_min == 2
    assert candidate.observed_at == NOW - 30


# --- domain.params.check_time ----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, NOW, TIME_MAX_S - 1, TIME_MAX_S])
def test_every_time_from_the_epoch_to_time_max_is_accepted(value):
    # Against domain.params.check_time: `1 <= value` (mutmut_2) and `0 < value` (mutmut_3)
    # refuse the epoch itself; `value < TIME_MAX_S` (mutmut_4) refuses the last time.
    check_time(value, "observed_at")


@pytest.mark.parametrize("value", [-1, -NOW, TIME_MAX_S + 1, TIMESTAMP_MAX_S])
def test_a_time_before_the_epoch_or_after_time_max_is_refused_naming_the_field(value):
    # Against domain.params.check_time mutmut_1 (`if 0 <= value <= TIME_MAX_S`).
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
    # mutmut_28 (`value < TIMESTAMP_MAX_S` refuses the last second 9999-12-31T23:59:59Z);
    # also mutmut_16 (`times = None`), 25 (`if 0 <= value <= ...`), 26, 27 (`1 <=`, `0 <`
    # refuse a time of 0, e.g. price_observed_at before any price).
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
    # `out_of_bounds(None, ...)` (mutmut_5) names no parameter; also mutmut_1, 2 (`and`,
    # `before is not None`) and 6..15 (out_of_bounds given None or too few arguments,
    # `problem is None`).
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


# --- domain.validation: identifiers, symbols, amounts ----------------------------------------
# These checks are watched by the gRPC and service tests, which mutmut's selection leaves
# out; here each range is checked at its edges, and each message names the field it refuses.


def test_a_quoted_value_is_its_repr_up_to_echo_max_characters_then_cut_with_its_length():
    # Against domain.validation.shown mutmut_1 (`len(value) < ECHO_MAX` cuts a value of
    # exactly ECHO_MAX characters) and mutmut_2 (`repr(None)` echoes None, not the value).
    assert shown("x" * ECHO_MAX) == repr("x" * ECHO_MAX)
    assert shown("x" * (ECHO_MAX + 1)) == f"{'x' * ECHO_MAX!r}... ({ECHO_MAX + 1} characters)"
    assert shown("a'b") == repr("a'b")


@pytest.mark.parametrize("request_id", ["a", "!", "~", "x" * REQUEST_ID_MAX_LEN, "req-1/2:3"])
def test_a_client_request_id_of_1_to_128_visible_characters_without_a_mark_is_accepted(request_id):
    # Against domain.validation.check_client_request_id mutmut_1 (`if fullmatch(...)`,
    # refusing exactly the valid ids) and mutmut_2 (matching None: a crash).
    check_client_request_id(request_id)


@pytest.mark.parametrize(
    "request_id", ["", "x" * (REQUEST_ID_MAX_LEN + 1), "a#b", "#keeper:1", "a b", "a\nb", "é"]
)
def test_a_client_request_id_out_of_its_alphabet_or_length_is_refused(request_id):
    with pytest.raises(InvalidArgument, match=f"^request_id must be 1-{REQUEST_ID_MAX_LEN} visible"):
        check_client_request_id(request_id)


@pytest.mark.parametrize("product_id", ["", "-a", "a b", "x" * 65, "a#b"])
def test_a_malformed_product_id_is_refused_naming_it(product_id):
    with pytest.raises(
        InvalidArgument, match=f"^product_id must be 1-64 .* got {re.escape(shown(product_id))}$"
    ):
        check_product_id(product_id)


@pytest.mark.parametrize("holder_id", ["a", "~", "x" * HOLDER_ID_MAX_LEN, "user@example.com"])
def test_a_holder_or_reporter_id_of_1_to_128_visible_characters_is_accepted(holder_id):
    check_holder_id_format(holder_id)
    check_holder_id(holder_id, "to_holder_id")
    check_reporter_id(holder_id)


@pytest.mark.parametrize("bad", ["", "x" * (HOLDER_ID_MAX_LEN + 1), "a b", "tab\t", "é"])
def test_a_holder_or_reporter_id_out_of_range_is_refused_naming_the_field(bad):
    quoted = re.escape(shown(bad))
    with pytest.raises(
        InvalidArgument, match=f"^holder_id must be 1-{HOLDER_ID_MAX_LEN} visible .* got {quoted}$"
    ):
        check_holder_id_format(bad)
    with pytest.raises(InvalidArgument, match=f"^from_holder_id must be 1-{HOLDER_ID_MAX_LEN} visible"):
        check_holder_id(bad, "from_holder_id")
    with pytest.raises(
        InvalidArgument, match=f"^reporter_id must be 1-{HOLDER_ID_MAX_LEN} visible .* {quoted}$"
    ):
        check_reporter_id(bad)


@pytest.mark.parametrize("reserved", [TREASURY_HOLDER, LOCKED_HOLDER, "locked:anything"])
def test_a_reserved_holder_may_be_read_but_no_command_acts_for_it(reserved):
    check_holder_id_format(reserved)
    with pytest.raises(InvalidArgument, match=f"^to_holder_id {re.escape(repr(reserved))} is reserved"):
        check_holder_id(reserved, "to_holder_id")


def test_only_the_reserved_prefix_itself_makes_a_holder_reserved():
    check_holder_id("locked")  # no colon: an ordinary name
    check_holder_id("unlocked:x")
    check_holder_id("treasury2")
    check_holder_id("Treasury")


def test_amounts_positive_and_non_negative_at_their_edges_naming_the_field():
    check_positive(1, "token_amount")
    with pytest.raises(
        InvalidArgument, match=r"^token_amount must be a positive integer of base units, got 0$"
    ):
        check_positive(0, "token_amount")
    check_non_negative(0, "min_tokens_out")
    with pytest.raises(InvalidArgument, match=r"^min_tokens_out must not be negative, got -1$"):
        check_non_negative(-1, "min_tokens_out")


@pytest.mark.parametrize("symbol", ["B", "x" * 32, "BTC.e", "a_b-c", "0x"])
def test_a_symbol_of_1_to_32_letters_digits_dots_dashes_underscores_is_accepted(symbol):
    check_symbol(symbol)
    check_components((Component(symbol, 1),))


@pytest.mark.parametrize("symbol", ["", "x" * 33, "-BTC", "B TC", "BTC/USD", "é"])
def test_a_malformed_symbol_is_refused_naming_the_field(symbol):
    quoted = re.escape(shown(symbol))
    with pytest.raises(InvalidArgument, match=f"^symbol must be 1-32 letters.* got {quoted}$"):
        check_symbol(symbol)
    with pytest.raises(InvalidArgument, match=r"^prices.symbol must be"):
        check_symbol(symbol, "prices.symbol")
    with pytest.raises(InvalidComponents, match=f"^symbol must be 1-32 letters.* got {quoted}$"):
        check_components((Component("BTC", WAD), Component(symbol, WAD)))


def test_an_index_has_1_to_64_distinct_components_of_positive_quantity():
    most = tuple(Component(f"S{i}", 1) for i in range(COMPONENTS_MAX))
    check_components(most)
    with pytest.raises(InvalidComponents, match=f"at most {COMPONENTS_MAX} components"):
        check_components((*most, Component("ONE-MORE", 1)))
    with pytest.raises(InvalidComponents, match="at least one component"):
        check_components(())
    with pytest.raises(InvalidComponents, match=r"^symbol 'ETH' appears twice$"):
        check_components((Component("ETH", 1), Component("BTC", 1), Component("ETH", 2)))
    with pytest.raises(InvalidComponents, match=r"^quantity of ETH must be positive \(WAD\), got 0$"):
        check_components((Component("BTC", 1), Component("ETH", 0)))


# --- domain.model ----------------------------------------------------------------------------


def test_the_status_is_the_most_severe_flag():
    state = launched().product
    assert state.status is Status.ACTIVE
    assert attrs.evolve(state, paused=True).status is Status.PAUSED
    assert attrs.evolve(state, paused=True, halted=True).status is Status.HALTED
    assert attrs.evolve(state, halted=True).status is Status.HALTED
    assert attrs.evolve(state, paused=True, halted=True, settled=True).status is Status.SETTLED
    assert attrs.evolve(state, settled=True).status is Status.SETTLED


def test_a_states_symbols_balances_and_holder_accounts():
    state = launched(components=(Component("ETH", WAD), Component("BTC", WAD))).product
    assert state.symbols == ("ETH", "BTC")  # definition order
    rich = attrs.evolve(state, balances={"alice": 5})
    assert rich.balance_of("alice") == 5
    assert rich.balance_of("bob") == 0
    assert holder_account("alice") == "holder:alice"


# --- domain.oracle: the helpers the decisions price with -------------------------------------


def test_a_report_is_fresh_up_to_exactly_max_age():
    assert is_fresh(NOW - 60, NOW, 60)
    assert not is_fresh(NOW - 61, NOW, 60)
    assert is_fresh(NOW, NOW, 1)


def test_the_index_price_is_the_sum_of_quantity_times_price_rounded_up():
    components = (Component("BTC", WAD // 100), Component("ETH", WAD // 10))
    assert index_price_wad(components, {"BTC": BTC, "ETH": ETH}) == 900 * WAD
    assert index_price_wad((Component("BTC", 1),), {"BTC": 1}) == 1  # 1e-36 rounds up to 1 wei
    assert index_price_wad((Component("BTC", WAD),), {"BTC": 7}) == 7  # exact: no rounding


def test_the_fresh_median_is_the_median_oldest_and_count_of_fresh_reports_at_quorum():
    reports = (
        Report("r1", 100, NOW - 10),
        Report("r2", 103, NOW - 20),
        Report("r3", 1_000, NOW - 61),  # stale at max age 60
    )
    assert fresh_median(reports, NOW, 60, 2) == (101, NOW - 20, 2)  # (100 + 103) // 2
    assert fresh_median(reports, NOW, 60, 3) is None
    assert fresh_median(reports, NOW, 61, 3) == (103, NOW - 61, 3)
    assert fresh_median(reports[:1], NOW, 60, 1) == (100, NOW - 10, 1)
    assert fresh_median((), NOW, 60, 1) is None


def test_a_candidate_of_component_medians_is_as_old_and_as_weakly_backed_as_its_weakest():
    components = (Component("BTC", WAD // 100), Component("ETH", WAD // 10))
    candidate = candidate_from(components, {"ETH": (ETH, NOW - 5, 3), "BTC": (BTC, NOW - 9, 4)})
    assert candidate.index_price_wad == 900 * WAD
    assert candidate.component_prices == (("BTC", BTC), ("ETH", ETH))  # the index's order
    assert candidate.observed_at == NOW - 9
    assert candidate.reporters_min == 3


def test_merged_books_keep_every_reporter_and_the_later_books_report_of_each():
    first = {"BTC": {"r1": Report("r1", 1, 10), "r2": Report("r2", 2, 10)}}
    second = {"BTC": {"r1": Report("r1", 3, 20)}, "ETH": {"r3": Report("r3", 4, 20)}}
    assert merged_books(first, second) == {
        "BTC": {"r1": Report("r1", 3, 20), "r2": Report("r2", 2, 10)},
        "ETH": {"r3": Report("r3", 4, 20)},
    }
    assert first == {"BTC": {"r1": Report("r1", 1, 10), "r2": Report("r2", 2, 10)}}
    assert merged_books() == {}


def test_a_move_is_rounded_up_and_only_beyond_the_maximum_counts_as_moved():
    assert move_wad(3, 4) == WAD // 3 + 1  # 1/3 rounded up
    assert move_wad(4, 3) == WAD // 4
    assert move_wad(5, 5) == 0
    assert not moved_beyond(100, 120, WAD // 5)  # exactly 20 %
    assert moved_beyond(100, 121, WAD // 5)
    assert not moved_beyond(100, 80, WAD // 5)
    assert moved_beyond(100, 79, WAD // 5)
    assert moved_beyond(None, 100, WAD // 5)  # no previous accepted price: moved
    assert moved_beyond(0, 100, WAD // 5)


def test_reconstituted_components_keep_the_index_price_rounding_quantities_down():
    prices = {"BTC": BTC, "ETH": ETH, "SOL": 150 * WAD}
    new = (Component("BTC", WAD // 200), Component("SOL", WAD))
    scaled = reconstituted_components(new, prices, 900 * WAD)
    assert tuple(c.symbol for c in scaled) == ("BTC", "SOL")
    raw = sum(c.quantity_wad * prices[c.symbol] for c in new)  # 450 WAD²
    assert [c.quantity_wad for c in scaled] == [c.quantity_wad * 900 * WAD * WAD // raw for c in new]
    assert scaled == (Component("BTC", WAD // 200 * 2), Component("SOL", 2 * WAD))
    odd = reconstituted_components((Component("BTC", 1), Component("ETH", 1)), {"BTC": 3, "ETH": 3}, 1)
    assert odd == (Component("BTC", WAD // 6), Component("ETH", WAD // 6))  # 1/6 WAD, rounded down
    assert index_price_wad(odd, {"BTC": 3, "ETH": 3}) <= 1


# --- domain.params: defaults and bounds at their edges ---------------------------------------


def test_the_documented_defaults():
    assert default_params() == Params(
        target_leverage_wad=-WAD,
        band_low_wad=WAD * 8 // 10,
        band_high_wad=WAD * 12 // 10,
        ripcord_leverage_wad=WAD * 3 // 2,
        rebalance_interval_s=DAY_S,
        max_trade_notional=0,
        mint_fee_bps=10,
        redeem_fee_bps=10,
        streaming_fee_bps=95,
        execution_cost_bps=10,
        max_oracle_age_s=3_600,
        max_price_move_wad=WAD // 5,
        oracle_quorum=1,
        collateral_decimals=6,
        supply_cap=0,
        rebalance_time_of_day_s=None,
        recentering_speed_wad=WAD,
        twap_cooldown_s=0,
    )
    assert default_params(-3 * WAD).ripcord_leverage_wad == 9 * WAD // 2
    assert default_params(-2 * WAD).target_magnitude_wad == 2 * WAD


@pytest.mark.parametrize("name", sorted(PARAM_BOUNDS))
def test_each_bounded_parameter_is_accepted_at_both_edges_and_refused_beyond(name):
    bound = PARAM_BOUNDS[name]
    assert out_of_bounds(name, bound.low, bound) is None
    assert out_of_bounds(name, bound.high, bound) is None
    for value in (bound.low - 1, bound.high + 1):
        assert out_of_bounds(name, value, bound) == (
            f"{name} must be in [{bound.low}, {bound.high}] ({bound.unit}), got {value}"
        )
    for value in (bound.low, bound.high):
        validate_params(attrs.evolve(default_params(), **{name: value}))
    with pytest.raises(InvalidParameters, match=f"^{name} must be in"):
        validate_params(attrs.evolve(default_params(), **{name: bound.high + 1}))


@pytest.mark.parametrize(
    "change",
    [
        {"rebalance_time_of_day_s": 0},
        {"rebalance_time_of_day_s": DAY_S - 1},
        {"rebalance_time_of_day_s": 120, "rebalance_interval_s": 3_600},  # divides a day
        {"rebalance_time_of_day_s": 120, "rebalance_interval_s": 2 * DAY_S},  # whole days
        {"rebalance_time_of_day_s": 120, "rebalance_interval_s": DAY_S},
        {"rebalance_interval_s": 7 * 3_600},  # unpinned: any interval
        {"recentering_speed_wad": 1},
        {"recentering_speed_wad": WAD},
        {"twap_cooldown_s": 0},
        {"twap_cooldown_s": DAY_S},
    ],
)
def test_the_rebalancing_parameters_are_accepted_at_their_edges(change):
    validate_params(attrs.evolve(default_params(), **change))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rebalance_time_of_day_s": DAY_S}, f"^rebalance_time_of_day_s must be in \\[0, {DAY_S}\\)"),
        ({"rebalance_time_of_day_s": -1}, "^rebalance_time_of_day_s must be in"),
        (
            {"rebalance_time_of_day_s": 0, "rebalance_interval_s": 7 * 3_600},
            "^rebalance_interval_s must divide a day or be whole days .* got 25200$",
        ),
        (
            {"rebalance_time_of_day_s": 0, "rebalance_interval_s": DAY_S + 3_600},
            "^rebalance_interval_s must divide a day",
        ),
        ({"recentering_speed_wad": 0}, r"^recentering_speed must be in \(0, 1\] as WAD, got 0$"),
        ({"recentering_speed_wad": WAD + 1}, "^recentering_speed must be in"),
        ({"twap_cooldown_s": DAY_S + 1}, f"^twap_cooldown_s must be in \\[0, {DAY_S}\\], got {DAY_S + 1}$"),
        ({"twap_cooldown_s": -1}, "^twap_cooldown_s must be in"),
    ],
)
def test_the_rebalancing_parameters_are_refused_beyond_their_edges_naming_them(change, message):
    with pytest.raises(InvalidParameters, match=message):
        validate_params(attrs.evolve(default_params(), **change))


@pytest.mark.parametrize("interval", [0, -DAY_S])
def test_a_pinned_schedule_with_no_interval_is_refused_as_invalid_parameters_not_a_crash(interval):
    # The day-divides check skips an interval <= 0 (its own bound refuses it): testing
    # `DAY_S % 0` would crash the decision with ZeroDivisionError instead of naming the field.
    params = attrs.evolve(default_params(), rebalance_time_of_day_s=0, rebalance_interval_s=interval)
    with pytest.raises(InvalidParameters, match=r"^rebalance_interval_s must be in"):
        validate_params(params)


def test_a_patch_names_only_parameters_each_once_and_minus_one_unpins():
    pinned = attrs.evolve(default_params(), rebalance_time_of_day_s=120)
    with pytest.raises(InvalidParameters, match=r"^no such parameter: bogus, nope$"):
        patched(pinned, (("nope", 1), ("mint_fee_bps", 1), ("bogus", 2)))
    with pytest.raises(InvalidParameters, match=r"^a parameter is set twice"):
        patched(pinned, (("mint_fee_bps", 1), ("mint_fee_bps", 2)))
    assert (
        patched(pinned, (("rebalance_time_of_day_s", TIME_OF_DAY_UNPINNED),)).rebalance_time_of_day_s is None
    )
    assert patched(pinned, (("rebalance_time_of_day_s", 0),)).rebalance_time_of_day_s == 0
    assert patched(pinned, ()) == pinned
    assert patched(pinned, (("mint_fee_bps", 7),)) == attrs.evolve(pinned, mint_fee_bps=7)
    assert params_changes((("b", 2), ("a", 1))) == (("a", 1), ("b", 2))


# domain.params.validate_params: `0 < max_price_move_wad < WAD` → `<= WAD`, and
# `0 < band_low_wad` → `1 < band_low_wad`. The circuit breaker's limit is a fraction of the
# price strictly below one (a move of 100 % would let a price fall to zero unchecked), and
# the band's low edge may be as low as one WAD unit. (A move near 100 % also breaks the
# launch rule ripcord × move × (1 + cost) < 1; the refusal names the first bound broken.)
def test_a_max_price_move_of_a_whole_price_is_refused_naming_its_own_bound():
    with pytest.raises(InvalidParameters, match=r"^max_price_move must be in \(0, 1\)"):
        validate_params(attrs.evolve(default_params(), max_price_move_wad=WAD))


def test_a_band_low_edge_of_one_wad_unit_is_accepted_and_zero_is_not():
    validate_params(attrs.evolve(default_params(), band_low_wad=1))
    with pytest.raises(InvalidParameters, match=r"^band_low must be in"):
        validate_params(attrs.evolve(default_params(), band_low_wad=0))


# domain.validation.check_holder_id: its default field name "holder_id" → "XXholder_idXX"
# or "HOLDER_ID". A bad or reserved holder id names the field a client sent.
@pytest.mark.parametrize("bad", ["", "a b", "treasury"])
def test_a_bad_holder_id_is_refused_naming_the_holder_id_field(bad):
    with pytest.raises(InvalidArgument, match=r"^holder_id "):
        check_holder_id(bad)
