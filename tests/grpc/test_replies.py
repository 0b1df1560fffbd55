"""The reply contract of SPEC §2: a repeat of a mutating RPC answers the first reply field for
field (only ``replayed`` differs), whatever happened since, after a restart too, on SQLite and
PostgreSQL. Every mutating RPC that carries a request id is driven over a real served node,
other commands run in between, and each repeat is compared with the whole first reply.

(Tick carries no request id: the keeper's ids are the node's own, see README.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.audit.report import audit
from adapters.grpc import auth
from adapters.grpc.server import NodeConfig, start_node
from adapters.grpc.stubs import admin_pb2, common_pb2, keeper_pb2, oracle_pb2, token_pb2
from adapters.store.event_store import SNAPSHOT_INTERVAL_ENV
from adapters.store.node import Node
from tests.grpc.conftest import ENTRIES, T0, USDC, WAD, Harness
from tests.store.conftest import STORE_KINDS, fresh_store, require_store

Call = Callable[[Harness], Message]


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    require_store(request.param)
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/iit.db"
        return
    with fresh_store(request.param) as url:
        yield url


def _serve(store_url: str, now: int) -> Harness:
    config = NodeConfig(
        store_url=store_url, listen="127.0.0.1:0", clock="simulated", start=now, auth=auth.build(ENTRIES)
    )
    harness = Harness(start_node(config), store_url)
    harness.now = now
    return harness


def _without_replayed(reply: Message) -> Message:
    copy = type(reply)()
    copy.CopyFrom(reply)
    if "replayed" in copy.DESCRIPTOR.fields_by_name:
        copy.replayed = False  # type: ignore[attr-defined]
    return copy


def _price(node: Harness, symbol: str, price: int, rid: str) -> Call:
    observed: list[int] = []  # the moment of the first call; a repeat sends the same request

    def call(n: Harness) -> Message:
        observed[:] = observed or [n.now]
        return n.r1.oracle.ReportPrice(
            oracle_pb2.ReportPriceRequest(
                symbol=symbol,
                price=str(price),
                observed_at=Timestamp(seconds=observed[0]),
                reporter_id="r1",
                request_id=rid,
            ),
            metadata=n.r1.md,
        )

    return call


def _admin(method: str, request: Any) -> Call:
    return lambda n: getattr(n.admin.admin, method)(request, metadata=n.admin.md)


def _update(rid: str, **params: int) -> Call:
    request = admin_pb2.UpdateParametersRequest(
        product_id="P",
        params=common_pb2.Params(**params),  # type: ignore[arg-type]
        request_id=rid,
    )
    return _admin("UpdateParameters", request)


def _both(node: Harness, prices: dict[str, int], tag: str) -> list[tuple[str, Call]]:
    return [(f"ReportPrice {s} {tag}", _price(node, s, p, f"{tag}-{s}")) for s, p in prices.items()]


def _script(node: Harness) -> Iterator[tuple[str, Call]]:
    """Every mutating RPC, in an order the domain accepts, each with its own request id;
    the caller runs each call (and may repeat earlier ones in between)."""
    btc, eth = 60_000 * WAD, 3_000 * WAD
    components = [
        common_pb2.Component(symbol="BTC", quantity=str(WAD // 100)),
        common_pb2.Component(symbol="ETH", quantity=str(WAD // 10)),
    ]
    for product_id in ("P", "Q"):  # Q holds the same symbols: a price report fans out to both
        yield (
            f"LaunchProduct {product_id}",
            _admin(
                "LaunchProduct",
                admin_pb2.LaunchProductRequest(
                    product_id=product_id, components=components, request_id=f"launch-{product_id}"
                ),
            ),
        )
    yield from _both(node, {"BTC": btc, "ETH": eth}, "px0")
    yield (
        "ReportFundingRate",
        lambda n: n.r1.oracle.ReportFundingRate(
            oracle_pb2.ReportFundingRateRequest(
                product_id="P", funding_rate=str(WAD // 20), reporter_id="r1", request_id="funding-1"
            ),
            metadata=n.r1.md,
        ),
    )
    for holder, amount in (("alice", 10_000), ("bob", 4_000)):
        yield (
            f"Mint {holder}",
            lambda n, h=holder, a=amount: getattr(n, h).token.Mint(
                token_pb2.MintRequest(
                    product_id="P", holder_id=h, collateral_amount=str(a * USDC), request_id=f"mint-{h}"
                ),
                metadata=getattr(n, h).md,
            ),
        )
    yield (
        "Redeem",
        lambda n: n.alice.token.Redeem(
            token_pb2.RedeemRequest(
                product_id="P", holder_id="alice", token_amount=str(1_000 * WAD), request_id="redeem-1"
            ),
            metadata=n.alice.md,
        ),
    )
    yield (
        "Transfer",
        lambda n: n.alice.token.Transfer(
            token_pb2.TransferRequest(
                product_id="P",
                from_holder_id="alice",
                to_holder_id="bob",
                token_amount=str(500 * WAD),
                request_id="transfer-1",
            ),
            metadata=n.alice.md,
        ),
    )
    yield "UpdateParameters mint fee", _update("update-1", mint_fee_bps=30)
    yield "UpdateParameters redeem fee", _update("update-2", redeem_fee_bps=40)
    yield "Pause", _admin("Pause", admin_pb2.PauseRequest(product_id="P", request_id="pause-1"))
    yield "Resume", _admin("Resume", admin_pb2.ResumeRequest(product_id="P", request_id="resume-1"))
    # +15 %: |leverage| leaves the band (1.2) below the ripcord (1.5): a rebalance is due.
    yield from _both(node, {"BTC": btc * 115 // 100, "ETH": eth * 115 // 100}, "px1")
    yield (
        "Rebalance",
        lambda n: n.bob.keeper.Rebalance(
            keeper_pb2.RebalanceRequest(product_id="P", request_id="rebalance-1"), metadata=n.bob.md
        ),
    )
    # A 40 % crash trips the circuit breaker (quorum 1); the admin rejects the pending price.
    yield "ReportPrice BTC crash", _price(node, "BTC", btc * 60 // 100, "px2-BTC")
    yield (
        "ResolveHalt",
        _admin(
            "ResolveHalt", admin_pb2.ResolveHaltRequest(product_id="P", accept=False, request_id="halt-1")
        ),
    )
    yield (
        "Reconstitute",
        _admin(
            "Reconstitute",
            admin_pb2.ReconstituteRequest(
                product_id="P",
                components=[
                    common_pb2.Component(symbol="BTC", quantity=str(WAD // 50)),
                    common_pb2.Component(symbol="ETH", quantity=str(WAD // 20)),
                ],
                request_id="reconstitute-1",
            ),
        ),
    )
    yield "Settle", _admin("Settle", admin_pb2.SettleRequest(product_id="P", request_id="settle-1"))


# No keeper tick before these: it would make the trade that the Rebalance call asks for.
UNTICKED = {"ReportPrice ETH px1", "Rebalance"}


def _run_script(node: Harness) -> list[tuple[str, Call, Message]]:
    """Run the script, 5 minutes apart (the keeper ticks in between); repeat each call at
    once and again after the next two (so a repeat sees other commands in between); return
    each call's first reply."""
    done: list[tuple[str, Call, Message]] = []
    for name, call in _script(node):
        if name not in UNTICKED:
            node.advance(300)
        first = call(node)
        assert not getattr(first, "replayed", False), name
        _assert_replays(node, [(name, call, first)])
        done.append((name, call, first))
        _assert_replays(node, done[-3:-1])
    return done


def _assert_replays(node: Harness, calls: list[tuple[str, Call, Message]]) -> None:
    for name, call, first in calls:
        again = call(node)
        if "replayed" in again.DESCRIPTOR.fields_by_name:
            assert again.replayed, name  # type: ignore[attr-defined]
        assert _without_replayed(again) == _without_replayed(first), f"{name}: not the first reply"


def test_every_mutating_rpc_repeated_answers_its_first_reply_whatever_happened_since(store_url):
    node = _serve(store_url, T0)
    try:
        done = _run_script(node)
        assert {name.split()[0] for name, _, _ in done} >= {
            "LaunchProduct",
            "ReportPrice",
            "ReportFundingRate",
            "Mint",
            "Redeem",
            "Transfer",
            "UpdateParameters",
            "Pause",
            "Resume",
            "Rebalance",
            "ResolveHalt",
            "Reconstitute",
            "Settle",
        }
        rebalance = next(first for name, _, first in done if name == "Rebalance")
        assert rebalance.rebalanced, "the script must make the rebalance trade"
        crash = next(first for name, _, first in done if name == "ReportPrice BTC crash")
        assert crash.outcomes[0].halted, "the script must trip the circuit breaker"
        before = node.stored_count()
        node.advance(3_600)  # the keeper runs at a later moment: the store moves on
        _assert_replays(node, done)  # ...and every first reply is still the answer
        assert node.stored_count() > before
        after = node.stored_count()
        _assert_replays(node, done)
        assert node.stored_count() == after, "a repeat wrote something"
    finally:
        node.close()


def test_a_repeat_after_a_restart_answers_the_first_reply(store_url, monkeypatch):
    # Snapshots every few events: a replay rebuilds its product from a snapshot and the
    # events after it, up to the command's last event, as a cold node does.
    monkeypatch.setenv(SNAPSHOT_INTERVAL_ENV, "7")
    node = _serve(store_url, T0)
    try:
        done = _run_script(node)
        now = node.now
    finally:
        node.close()
    restarted = _serve(store_url, now + 60)  # a new process: cold caches, same store
    try:
        _assert_replays(restarted, done)
    finally:
        restarted.close()


def test_an_update_of_one_field_is_that_field_whatever_was_updated_since(store_url):
    """The issue's case: u1 (mint fee), u2 (redeem fee), then u1 again is u1's first reply,
    not RequestIdReused; its product shows u1's fees, not u2's."""
    node = _serve(store_url, T0)
    try:
        node.ready()
        u1 = _update("u1", mint_fee_bps=30)(node)
        u2 = _update("u2", redeem_fee_bps=40)(node)
        again = _update("u1", mint_fee_bps=30)(node)
        assert again.replayed
        assert _without_replayed(again) == _without_replayed(u1)
        assert (again.product.params.mint_fee_bps, again.product.params.redeem_fee_bps) == (30, 10)
        assert (u2.product.params.mint_fee_bps, u2.product.params.redeem_fee_bps) == (30, 40)
    finally:
        node.close()


def _version(node: Harness, product_id: str) -> int:
    request = token_pb2.GetProductRequest(product_id=product_id)
    return int(node.admin.token.GetProduct(request, metadata=node.admin.md).version)


def test_a_fanned_out_price_report_repeats_its_first_reply_product_for_product(store_url):
    """A report that P applied and Q rejected (too old for Q's max_oracle_age_s), and one
    both applied: repeated after products R and S holding the symbol were launched, after
    the keeper moved on and after a restart, each answers its first outcomes (Q's rejection
    with its first message), and R and S are not sent the old reports."""
    node = _serve(store_url, T0)
    try:
        node.launch("P")
        node.launch("Q", max_oracle_age_s=60)
        node.report({"BTC": 60_000 * WAD, "ETH": 3_000 * WAD})
        node.advance(300)
        late = _price(node, "BTC", 61_000 * WAD, "late-1")
        node.now -= 120  # observed two minutes ago: fresh for P, stale for Q
        first_late = late(node)
        node.now += 120
        assert [o.applied for o in first_late.outcomes] == [True, False]
        assert "InvalidPriceReport" in first_late.outcomes[1].error
        both = _price(node, "ETH", 3_010 * WAD, "both-1")
        first_both = both(node)
        assert [o.applied for o in first_both.outcomes] == [True, True]
        node.launch("R")
        node.launch("S")
        node.advance(300)
        versions = (_version(node, "R"), _version(node, "S"))
        assert late(node) == first_late
        assert both(node) == first_both
        assert (_version(node, "R"), _version(node, "S")) == versions
        now = node.now
    finally:
        node.close()
    restarted = _serve(store_url, now + 60)
    try:
        before = restarted.stored_count()
        assert late(restarted) == first_late
        assert both(restarted) == first_both
        assert restarted.stored_count() == before
    finally:
        restarted.close()
    auditor = Node.open(store_url)  # the record of the first answer is no event: the log audits clean
    try:
        assert audit(auditor).ok
    finally:
        auditor.close()
