"""The activity read model on both stores: it follows the log durably (its position is
stored with its rows, in the store), resumes after a restart, is rebuilt from the log
to the same rows, pages, and never applies a page twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.service.use_cases import Service
from adapters.store.activity import ActivityModel
from adapters.store.node import Node
from domain import commands as cmd
from domain.fixedpoint import WAD
from tests.service.test_service import two_products
from tests.support import USDC


@pytest.fixture(autouse=True)
def _close_services() -> Iterator[None]:
    """Each test's node gives its store connections back (PostgreSQL's are few)."""
    opened.clear()
    yield
    for service in opened:
        service.close()


opened: list[Service] = []


def _products(store_url: str) -> Service:
    service = two_products(store_url)
    opened.append(service)
    return service


def _everything(model: ActivityModel, holder: str, product: str = "") -> list:
    entries, after = model.page(holder, product, 0, 10_000)
    assert after is None
    return entries


def test_activity_follows_the_log_resumes_and_rebuilds_identically(store_url):
    service = _products(store_url)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m1")
    service.commands.execute("B", cmd.Mint("alice", 500 * USDC, 0), "m2")
    service.commands.execute("A", cmd.Transfer("alice", "bob", 100 * WAD), "t1")
    service.commands.execute("A", cmd.Redeem("bob", 40 * WAD, 0), "r1")
    model = ActivityModel(service.node)
    position = model.catch_up()
    assert position == service.node.recorder.max_notification_id()
    alice = _everything(model, "alice")
    assert [(e.product_id, e.kind, e.request_id) for e in alice] == [
        ("A", "mint", "m1"),
        ("B", "mint", "m2"),
        ("A", "transfer_out", "t1"),
    ]
    assert alice[0].collateral == 1_000 * USDC
    assert alice[0].fee == USDC  # 10 bps
    assert alice[0].tokens > 0
    assert alice[2].tokens == -100 * WAD
    assert alice[2].counterparty == "bob"
    bob = _everything(model, "bob", "A")
    assert [(e.kind, e.tokens) for e in bob] == [("transfer_in", 100 * WAD), ("redeem", -40 * WAD)]
    assert bob[1].collateral > 0
    assert _everything(model, "bob", "B") == []

    # Durable: a new process (a new node on the same store) finds the rows and position.
    service.commands.execute("A", cmd.Mint("carol", 10 * USDC, 0), "m3")
    reopened = Node.open(store_url)
    try:
        again = ActivityModel(reopened)
        assert again.position()[0] == position  # nothing re-applied yet
        assert again.catch_up() == reopened.recorder.max_notification_id()
        assert [e.kind for e in _everything(again, "carol")] == ["mint"]
        # Rebuilt from the first event: the same rows.
        before = {h: _everything(again, h) for h in ("alice", "bob", "carol")}
        assert again.rebuild() == reopened.recorder.max_notification_id()
        assert {h: _everything(again, h) for h in ("alice", "bob", "carol")} == before
    finally:
        reopened.close()


def test_a_page_applied_twice_or_late_changes_nothing_and_never_moves_the_position(store_url):
    service = _products(store_url)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m1")
    model = ActivityModel(service.node)
    top = model.catch_up()
    rows = _everything(model, "alice")
    # A slower process applying a page it read after position 0, once this one is done.
    assert not model._store(rows, 0, 1)
    assert model.position()[0] == top
    assert _everything(model, "alice") == rows


def test_a_follower_that_raced_a_rebuild_resumes_from_the_reset_position(store_url):
    service = _products(store_url)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m1")
    service.commands.execute("A", cmd.Mint("bob", 1_000 * USDC, 0), "m2")
    model = ActivityModel(service.node)
    top = model.catch_up()
    everyone = {h: _everything(model, h) for h in ("alice", "bob")}
    # Another process starts a rebuild: rows gone, position 0 ...
    other = ActivityModel(service.node)
    with other.sql.transaction() as c:
        c.execute(other.sql.clear)
        c.execute(other.sql.reset, (1, "activity"))
    # ... while this follower, which read position ``top``, tries to store a page past it.
    assert not model._store([], top, top + 5)
    assert model.position()[0] == 0  # not moved past rows nobody applied
    assert model.catch_up() == top
    assert {h: _everything(model, h) for h in ("alice", "bob")} == everyone


def test_pages_in_both_orders(store_url):
    service = _products(store_url)
    for i in range(7):
        service.commands.execute("A", cmd.Mint("alice", (10 + i) * USDC, 0), f"m{i}")
    model = ActivityModel(service.node)
    model.catch_up()
    seen, after = [], 0
    while True:
        entries, next_after = model.page("alice", "A", after, 3)
        seen += [e.request_id for e in entries]
        if next_after is None:
            break
        after = next_after
    assert seen == [f"m{i}" for i in range(7)]
    newest, after = model.page("alice", "A", 0, 2, newest_first=True)
    assert [e.request_id for e in newest] == ["m6", "m5"]
    assert after is not None
    older, _ = model.page("alice", "A", after, 2, newest_first=True)
    assert [e.request_id for e in older] == ["m4", "m3"]


def test_iit_rebuild_read_models_rebuilds_on_demand(store_url):
    from click.testing import CliRunner  # noqa: PLC0415

    from adapters.cli import main  # noqa: PLC0415

    service = _products(store_url)
    service.commands.execute("A", cmd.Mint("alice", 1_000 * USDC, 0), "m1")
    model = ActivityModel(service.node)
    model.catch_up()
    rows = _everything(model, "alice")
    with model.sql.transaction() as c:  # a damaged model: its rows gone, its position kept
        c.execute(model.sql.clear)
    assert _everything(model, "alice") == []
    result = CliRunner().invoke(main, ["rebuild-read-models", "--store", store_url])
    assert result.exit_code == 0, result.output
    assert f"up to position {service.node.recorder.max_notification_id()}" in result.output
    assert _everything(model, "alice") == rows
    missing = CliRunner().invoke(main, ["rebuild-read-models", "--store", "sqlite:////nonexistent/x.db"])
    assert missing.exit_code == 2
