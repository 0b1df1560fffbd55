"""Group commit on both stores: many commands share one transaction, each answered only
after it is durable; a failed commit fails the whole batch and leaves no trace; results
are exactly those of a serial execution in commit order."""

from __future__ import annotations

import sqlite3
import threading
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from adapters.audit.report import audit
from adapters.store.contract import Outcome, Request, RequestIdReused, StoreWriteFailed
from adapters.store.node import Node
from adapters.store.records import RequestRecorded
from adapters.store.writer import GroupCommitWriter, WriterClosed
from domain import commands as cmd
from domain.errors import DomainError, InsufficientBalance
from tests.store.test_node import T0, event_count, launched_node
from tests.support import USDC

POISON = "poison"


def _fail_inserts_mentioning_poison(url: str) -> None:
    """A real failure inside the store's transaction: a trigger that aborts the insert of
    any row whose content mentions POISON (as a full disk or a lost connection would)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        with sqlite3.connect(parts.path[1:]) as conn:
            conn.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON stored_events "
                f"WHEN instr(CAST(NEW.state AS TEXT), '{POISON}') > 0 "
                "BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END"
            )
        return
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(url.split("?", maxsplit=1)[0], autocommit=True) as conn:
        conn.execute(
            f'CREATE FUNCTION "{schema}".poison() RETURNS trigger AS $$ BEGIN '
            f"IF position('{POISON}' in convert_from(NEW.state, 'UTF8')) > 0 THEN "
            "RAISE EXCEPTION 'simulated write failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            f'CREATE TRIGGER poison BEFORE INSERT ON "{schema}".iit_events '
            f'FOR EACH ROW EXECUTE FUNCTION "{schema}".poison()'
        )


def _drop_the_trigger(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        with sqlite3.connect(parts.path[1:]) as conn:
            conn.execute("DROP TRIGGER poison")
        return
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(url.split("?", maxsplit=1)[0], autocommit=True) as conn:
        conn.execute(f'DROP TRIGGER poison ON "{schema}".iit_events')


def _markers(node: Node) -> int:
    return sum(
        1
        for n in node.recorder.select_notifications(1, 1_000_000)
        if n.topic.endswith(RequestRecorded.__qualname__)
    )


def test_a_batch_is_stored_in_one_commit_and_each_sees_the_ones_before_it(store_url):
    node = launched_node(store_url)
    before = event_count(node)
    results = node.execute_batch(
        [
            Request("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1),
            Request("P", cmd.Transfer("alice", "bob", 10**18), "t1", T0 + 1),
            Request("P", cmd.Redeem("bob", 10**18, 0), "r1", T0 + 1),
            Request("P", cmd.Redeem("carol", 1, 0), "r2", T0 + 1),
        ]
    )
    assert [type(r) for r in results] == [Outcome, Outcome, Outcome, InsufficientBalance]
    fresh = Node.open(store_url)
    assert fresh.load("P").state.balance_of("alice") == results[1].state.balance_of("alice")
    assert fresh.load("P").state == results[2].state
    assert event_count(fresh) == before + sum(len(r.events) for r in results[:3])
    assert audit(fresh).ok


def test_a_commit_that_fails_mid_batch_fails_every_command_of_it_and_stores_nothing(store_url):
    node = launched_node(store_url)
    events_before, markers_before = event_count(node), _markers(node)
    state_before = node.load("P").state
    _fail_inserts_mentioning_poison(store_url)
    batch = [
        Request("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1),
        Request("P", cmd.Mint(POISON, 500 * USDC, 0), "m2", T0 + 1),  # its insert fails
        Request("P", cmd.Transfer("alice", "bob", 10**18), "t1", T0 + 1),
    ]
    results = node.execute_batch(batch)
    assert all(isinstance(r, StoreWriteFailed) for r in results), results
    assert "simulated write failure" in str(results[0])
    fresh = Node.open(store_url)
    assert (event_count(fresh), _markers(fresh)) == (events_before, markers_before)
    assert fresh.load("P").state == state_before
    assert node.load("P").state == state_before  # the writer's cache kept no trace either
    # Once the store is healthy, retrying the same request ids applies each exactly once.
    _drop_the_trigger(store_url)
    retried = node.execute_batch(batch)
    assert all(isinstance(r, Outcome) and not r.replayed for r in retried)
    again = node.execute_batch(batch)
    assert all(isinstance(r, Outcome) and r.replayed for r in again)
    assert event_count(Node.open(store_url)) == events_before + sum(len(r.events) for r in retried)
    assert audit(Node.open(store_url)).ok


def test_a_request_id_repeated_within_a_batch_is_applied_once(store_url):
    node = launched_node(store_url)
    mint = cmd.Mint("alice", 1_000 * USDC, 0)
    first, repeat, reused = node.execute_batch(
        [
            Request("P", mint, "m1", T0 + 1),
            Request("P", mint, "m1", T0 + 1),
            Request("P", cmd.Mint("alice", 7 * USDC, 0), "m1", T0 + 1),
        ]
    )
    assert isinstance(first, Outcome)
    assert not first.replayed
    assert isinstance(repeat, Outcome)
    assert repeat.replayed
    assert repeat.events == first.events
    assert isinstance(reused, RequestIdReused)
    assert Node.open(store_url).load("P").state.balance_of("alice") == first.state.balance_of("alice")


def test_concurrent_clients_get_exactly_what_a_serial_run_in_commit_order_gives(store_url, tmp_path):
    node = launched_node(store_url)
    writer = GroupCommitWriter(node)
    clients, per_client = 8, 12
    got: dict[str, Outcome | DomainError] = {}
    commands: dict[str, cmd.Command] = {}
    start = threading.Barrier(clients)

    def client(number: int) -> None:
        holder = f"h{number}"
        start.wait()
        for step in range(per_client):
            request_id = f"c{number}-{step}"
            command: cmd.Command
            if step % 3 == 2:
                command = cmd.Transfer(holder, f"h{(number + 1) % clients}", 10**17)
            elif step % 4 == 3:
                command = cmd.Redeem(holder, 10**17, 0)
            else:
                command = cmd.Mint(holder, (number + 1) * 10 * USDC, 0)
            commands[request_id] = command
            try:
                got[request_id] = writer.execute("P", command, request_id, T0 + 1)
            except DomainError as error:
                got[request_id] = error

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert writer.requests == clients * per_client
    assert writer.batches < writer.requests, "no two commands ever shared a commit"

    # The serial run: the same commands, one at a time, in the order the log committed them.
    committed = [
        record.request_id
        for record in (
            node.mapper.to_domain_event(n)
            for n in node.recorder.select_notifications(1, 1_000_000)
            if n.topic.endswith(RequestRecorded.__qualname__)
        )
        if record.request_id in commands
    ]
    serial = launched_node(f"sqlite:///{tmp_path}/serial.db")
    for request_id in committed:
        outcome = serial.execute("P", commands[request_id], request_id, T0 + 1)
        assert isinstance(got[request_id], Outcome)
        assert got[request_id].events == outcome.events, request_id
    rejected = set(commands) - set(committed)
    assert all(isinstance(got[r], DomainError) for r in rejected)
    assert serial.load("P").state == Node.open(store_url).load("P").state
    assert audit(Node.open(store_url)).ok


def test_a_closed_writer_finishes_what_it_took_and_refuses_the_rest(store_url):
    node = launched_node(store_url)
    writer = GroupCommitWriter(node)
    futures = [writer.submit("P", cmd.Mint(f"h{i}", 10 * USDC, 0), f"m{i}", T0 + 1) for i in range(20)]
    writer.close()
    assert all(isinstance(f.result(), Outcome) for f in futures)
    with pytest.raises(WriterClosed, match="shutting down"):
        writer.execute("P", cmd.Mint("late", 10 * USDC, 0), "late", T0 + 1)
    assert Node.open(store_url).load("P").state.balance_of("late") == 0
