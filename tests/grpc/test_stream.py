"""StreamEvents: replay from a position, then follow live commits; resume by position with
nothing missed or repeated."""

from __future__ import annotations

import itertools
import threading
import time

import grpc

from adapters.grpc.client import Client
from adapters.grpc.stubs import audit_pb2, token_pb2
from tests.grpc.conftest import TOKENS, USDC, WAD
from tests.grpc.helpers import rejected


def _all(node, product_id: str = "") -> list[audit_pb2.Event]:
    request = audit_pb2.StreamEventsRequest(product_id=product_id)
    return list(node.admin.audit.StreamEvents(request, metadata=node.admin.md))


def _key(event: audit_pb2.Event) -> tuple[int, str]:
    return event.position, event.hash


def test_a_follower_gets_the_replay_then_every_mint_of_another_client_live(ready):
    ready.mint("alice", 1_000 * USDC, "m0")
    replayed = len(_all(ready))
    received: list[audit_pb2.Event] = []
    mints_seen = threading.Event()
    codes: list[grpc.StatusCode] = []
    stream = ready.admin.audit.StreamEvents(
        audit_pb2.StreamEventsRequest(follow=True), metadata=ready.admin.md
    )

    def follow() -> None:
        try:
            for event in stream:
                received.append(event)
                if sum(e.type == "Minted" for e in received) == 4:
                    mints_seen.set()
        except grpc.RpcError as error:
            codes.append(error.code())

    follower = threading.Thread(target=follow)
    follower.start()
    other = Client(grpc.insecure_channel(ready.address))  # another client, its own connection
    try:
        for index, holder in enumerate(("alice", "bob", "bob")):
            time.sleep(0.05)
            client = other.as_(TOKENS[holder])
            client.token.Mint(
                token_pb2.MintRequest(
                    product_id="P",
                    holder_id=holder,
                    collateral_amount=str((index + 1) * 100 * USDC),
                    request_id=f"live-{index}",
                ),
                metadata=client.md,
            )
        assert mints_seen.wait(5), f"the follower saw {len(received)} events"
    finally:
        stream.cancel()
        follower.join(5)
        other.close()
    assert codes in ([], [grpc.StatusCode.CANCELLED])
    everything = _all(ready)
    assert len(received) > replayed
    assert [_key(e) for e in received] == [_key(e) for e in everything[: len(received)]]
    assert len({e.position for e in received}) == len(received)


def test_a_reader_resumes_after_a_disconnect_with_nothing_missed_or_repeated(ready):
    ready.mint("alice", 1_000 * USDC, "m0")
    first = ready.admin.audit.StreamEvents(
        audit_pb2.StreamEventsRequest(follow=True), metadata=ready.admin.md
    )
    part: list[audit_pb2.Event] = []
    for event in first:
        part.append(event)
        if len(part) == 3:
            break
    first.cancel()  # the client goes away mid-stream
    ready.mint("bob", 500 * USDC, "m1")
    ready.mint("alice", 200 * USDC, "m2")
    rest = list(
        ready.admin.audit.StreamEvents(
            audit_pb2.StreamEventsRequest(from_position=part[-1].position), metadata=ready.admin.md
        )
    )
    assert [_key(e) for e in part + rest] == [_key(e) for e in _all(ready)]


def test_a_stream_of_one_product_holds_only_its_events_chained(ready):
    ready.launch("OTHER")
    ready.mint("alice", 1_000 * USDC, "m0")
    events = _all(ready, "P")
    assert {e.product_id for e in events} == {"P"}
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert {e.product_id for e in _all(ready)} == {"P", "OTHER"}


def test_a_stream_of_an_unknown_product_is_not_found(ready):
    rejected(lambda: _all(ready, "NOPE"), grpc.StatusCode.NOT_FOUND, "NOPE")


def test_a_negative_position_is_invalid(ready):
    rejected(
        lambda: list(
            ready.admin.audit.StreamEvents(
                audit_pb2.StreamEventsRequest(from_position=-1), metadata=ready.admin.md
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "from_position",
    )


def test_a_follower_sees_prices_of_a_product_launched_after_it_started(node):
    stream = node.admin.audit.StreamEvents(audit_pb2.StreamEventsRequest(follow=True), metadata=node.admin.md)
    got: list[str] = []

    def follow() -> None:
        try:
            for event in stream:
                got.append(event.type)
                if event.type == "PriceAccepted":
                    return
        except grpc.RpcError:
            return

    follower = threading.Thread(target=follow)
    follower.start()
    node.launch("P")
    node.report({"BTC": 60_000 * WAD, "ETH": 3_000 * WAD})
    follower.join(5)
    stream.cancel()
    assert got[0] == "ProductLaunched"
    assert got[-1] == "PriceAccepted"


def test_streams_beyond_the_limit_are_refused_and_a_freed_slot_is_reused(tmp_path):
    from tests.grpc.conftest import start  # noqa: PLC0415

    node = start(tmp_path, max_streams=1)
    try:
        node.launch("P")
        first = node.admin.audit.StreamEvents(
            audit_pb2.StreamEventsRequest(follow=True), metadata=node.admin.md
        )
        assert next(first).type == "ProductLaunched"  # holds the only slot
        rejected(
            lambda: node.admin.audit.StreamEvents(
                audit_pb2.StreamEventsRequest(follow=True), metadata=node.admin.md
            ),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "streams are already open",
        )
        rejected(lambda: _all(node), grpc.StatusCode.RESOURCE_EXHAUSTED)  # a replay takes a slot too
        first.cancel()
        deadline = time.monotonic() + 5
        while True:
            again = node.admin.audit.StreamEvents(
                audit_pb2.StreamEventsRequest(follow=True), metadata=node.admin.md
            )
            try:
                assert next(again).type == "ProductLaunched"
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the cancelled stream frees its slot at its next poll
            finally:
                again.cancel()
    finally:
        node.close()
