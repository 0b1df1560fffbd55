"""Status codes (SPEC §5): the one table is total over the domain's errors, and every code
the contract names reaches a client with a message saying what was wrong, writing nothing."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import grpc
import pytest

import adapters
import domain
import invariants
from adapters.clock import ClockWentBackwards
from adapters.grpc.errors import STATUS_OF, status_of
from adapters.grpc.stubs import admin_pb2, common_pb2, token_pb2
from adapters.rejections import AdapterError
from adapters.store.contract import ConcurrencyConflict, RequestIdReused, StoreWriteFailed
from adapters.store.writer import WriterClosed
from domain import errors as de
from tests.grpc.conftest import USDC
from tests.grpc.helpers import rejected

DOMAIN_ERRORS = [cls for _, cls in inspect.getmembers(de, inspect.isclass) if issubclass(cls, de.DomainError)]


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
def test_every_domain_error_is_in_the_table_under_its_own_code(cls):
    assert cls in STATUS_OF, f"{cls.__name__} is missing from adapters.grpc.errors.STATUS_OF"
    assert STATUS_OF[cls].name == cls.code


def test_the_adapters_rejections_have_their_codes():
    assert status_of(RequestIdReused("x")) == grpc.StatusCode.ALREADY_EXISTS
    assert status_of(ConcurrencyConflict("x")) == grpc.StatusCode.ABORTED
    assert status_of(ClockWentBackwards("x")) == grpc.StatusCode.FAILED_PRECONDITION
    assert status_of(ValueError("a bug")) is None


def test_a_store_or_writer_that_could_not_take_a_command_is_unavailable():
    """Their message says "retry with the same request_id": UNAVAILABLE is the status that
    tells a client to do exactly that (FAILED_PRECONDITION would say: not until the state
    changes)."""
    assert status_of(StoreWriteFailed("x")) == grpc.StatusCode.UNAVAILABLE
    assert status_of(WriterClosed("x")) == grpc.StatusCode.UNAVAILABLE


def test_adapter_rejections_are_not_domain_errors():
    for cls in _subclasses(AdapterError):
        assert not issubclass(cls, de.DomainError), cls
        assert "code" not in vars(cls), f"{cls.__name__}: its status is the table's alone"


# Exceptions of the project that never reach a client as a rejection, and why: each stops
# a command-line run or the start of a node, or is a failure reported as INTERNAL.
NOT_REJECTIONS = {
    "AuthConfigError": "the auth file is invalid: the node does not start",
    "ConfigError": "the serve options are invalid: the node does not start",
    "StoreUrlError": "the store URL is invalid: the node or the command does not start",
    "PathError": "iit simulate: a bad price path, a usage error",
    "PolicyError": "iit simulate: a bad policy, a usage error",
    "SampleDataMissing": "iit simulate: sample data not installed, a usage error",
    "AuditProcessFailed": "an audit worker crashed or the store shrank: a failure, INTERNAL and logged",
}


def _project_modules() -> list[str]:
    names = []
    for package in (adapters, domain, invariants):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".generated" not in info.name:
                names.append(info.name)
    return names


def _subclasses(base: type) -> list[type]:
    found, todo = [], list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".")[0] in {"adapters", "domain", "invariants"}:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_the_code_can_raise_is_in_the_table():
    """Import every module of the node, then walk every subclass of both rejection bases:
    each must be a key of the table itself (not only through a base class), so a new
    error is given its status on purpose. Any other exception class the project defines
    must be one of the few known not to reach a client."""
    for name in _project_modules():
        importlib.import_module(name)
    rejections = _subclasses(de.DomainError) + _subclasses(AdapterError)
    assert len(rejections) >= 25, "the walk found too few classes to be real"
    missing = sorted(cls.__qualname__ for cls in rejections if cls not in STATUS_OF)
    assert not missing, f"not in adapters.grpc.errors.STATUS_OF: {missing}"
    for cls in rejections:
        if issubclass(cls, de.DomainError):
            assert STATUS_OF[cls].name == cls.code, cls
    others = sorted(
        {
            cls.__name__
            for name in _project_modules()
            for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass)
            if issubclass(cls, BaseException)
            and cls.__module__ == name
            and not issubclass(cls, de.DomainError | AdapterError)
        }
    )
    assert others == sorted(NOT_REJECTIONS), "a new exception class: give it a status or say why not"


def _unchanged(node, call, code, *fragments):
    before = node.stored_count()
    rejected(call, code, *fragments)
    assert node.stored_count() == before


def test_invalid_argument_for_a_malformed_amount(ready):
    _unchanged(
        ready, lambda: ready.mint("alice", -5, "m"), grpc.StatusCode.INVALID_ARGUMENT, "collateral_amount"
    )


def test_the_error_name_rides_in_the_trailing_metadata(ready):
    error = rejected(
        lambda: ready.mint("alice", 1_000 * USDC, "m", product_id="NOPE"), grpc.StatusCode.NOT_FOUND
    )
    assert ("iit-error", "ProductNotFound") in tuple(error.trailing_metadata())


def test_failed_precondition_for_a_slippage_bound_not_met(ready):
    call = lambda: ready.alice.token.Mint(  # noqa: E731
        token_pb2.MintRequest(
            product_id="P",
            holder_id="alice",
            collateral_amount=str(1_000 * USDC),
            min_tokens_out=str(10**30),
            request_id="m",
        ),
        metadata=ready.alice.md,
    )
    _unchanged(ready, call, grpc.StatusCode.FAILED_PRECONDITION, "SlippageExceeded", "min_tokens_out")


def test_failed_precondition_for_a_redemption_beyond_the_balance(ready):
    call = lambda: ready.bob.token.Redeem(  # noqa: E731
        token_pb2.RedeemRequest(product_id="P", holder_id="bob", token_amount="1", request_id="r"),  # noqa: S106
        metadata=ready.bob.md,
    )
    _unchanged(ready, call, grpc.StatusCode.FAILED_PRECONDITION, "InsufficientBalance")


def test_failed_precondition_for_a_mint_without_a_price(node):
    node.launch("P")
    _unchanged(
        node,
        lambda: node.mint("alice", 1_000 * USDC, "m"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PriceUnavailable",
    )


def test_failed_precondition_for_pausing_twice(ready):
    ready.admin.admin.Pause(admin_pb2.PauseRequest(product_id="P", request_id="p1"), metadata=ready.admin.md)
    call = lambda: ready.admin.admin.Pause(  # noqa: E731
        admin_pb2.PauseRequest(product_id="P", request_id="p2"), metadata=ready.admin.md
    )
    _unchanged(ready, call, grpc.StatusCode.FAILED_PRECONDITION, "InvalidTransition", "paused already")


def test_not_found_for_an_unknown_product(ready):
    _unchanged(
        ready,
        lambda: ready.mint("alice", 1_000 * USDC, "m", product_id="NOPE"),
        grpc.StatusCode.NOT_FOUND,
        "no such product",
    )
    rejected(
        lambda: ready.admin.token.GetProduct(
            token_pb2.GetProductRequest(product_id="NOPE"), metadata=ready.admin.md
        ),
        grpc.StatusCode.NOT_FOUND,
        "NOPE",
    )


def test_already_exists_for_a_second_launch_of_one_id(ready):
    call = lambda: ready.admin.admin.LaunchProduct(  # noqa: E731
        admin_pb2.LaunchProductRequest(
            product_id="P",
            components=[common_pb2.Component(symbol="BTC", quantity="1")],
            request_id="another-launch",
        ),
        metadata=ready.admin.md,
    )
    _unchanged(ready, call, grpc.StatusCode.ALREADY_EXISTS, "ProductAlreadyExists", "exists already")


def test_already_exists_for_a_request_id_reused_for_another_command(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    _unchanged(
        ready,
        lambda: ready.mint("alice", 2_000 * USDC, "m1"),
        grpc.StatusCode.ALREADY_EXISTS,
        "RequestIdReused",
        "m1",
    )
