"""A node process driven through pipes: JSON-lines commands on stdin, one acknowledgement
line per command on stdout, written and flushed only after ``execute()`` returned, so a
command acknowledged is a command committed. The crash test kills it with SIGKILL.

Input, one per line::

    {"request_id": "m-1", "product_id": "P", "now": 1700000000,
     "command": {"type": "Mint", "args": {"holder_id": "alice", ...}}}

Output, one per input line, in order::

    {"request_id": "m-1", "ok": true, "replayed": false, "events": 2, "version": 9}
    {"request_id": "m-2", "ok": false, "error": "InsufficientBalance", "detail": "..."}

Usage: ``python -m adapters.store.driver --store URL [--pipeline]`` (``IIT_SNAPSHOT_INTERVAL``
in the environment sets the snapshot interval). With ``--pipeline`` every line is handed
to the group-commit writer as soon as it is read, so commands share commits; the
acknowledgements still come in input order, each only after its commit. Exit 0 at the end
of input, 2 if the store cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import IO, Any

from adapters.rejections import REJECTIONS
from adapters.service.commits import Commits
from adapters.store.codec import decode_command
from adapters.store.contract import Outcome
from adapters.store.node import Node
from adapters.store.url import DEFAULT_STORE_URL
from domain.commands import Command

EXIT_COULD_NOT_RUN = 2

NodeFactory = Callable[[str], Node]


Submit = Callable[[str, Command, str, int], "Future[Outcome]"]


def _submit_now(node: Node) -> Submit:
    """Execute at once, in this thread (the future is already done when returned)."""

    def submit(product_id: str, command: Command, request_id: str, now: int) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        try:
            future.set_result(node.execute(product_id, command, request_id, now))
        except REJECTIONS as error:
            future.set_exception(error)
        return future

    return submit


def _start(submit: Submit, line: str) -> tuple[object, str, Future[Outcome] | dict[str, Any]]:
    """Parse one input line and hand its command over: (request id, product id, reply)."""
    request_id: object = None
    try:
        body = json.loads(line)
        request_id = body.get("request_id")
        command = decode_command(body["command"])
        product_id, now = str(body["product_id"]), int(body["now"])
        if not isinstance(request_id, str):
            raise TypeError("request_id must be a string")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        return (
            request_id,
            "",
            {"request_id": request_id, "ok": False, "error": "BadRequest", "detail": str(error)},
        )
    return request_id, product_id, submit(product_id, command, request_id, now)


def _acknowledgement(
    node: Node,
    request_id: object,
    product_id: str,
    reply: Future[Outcome] | dict[str, Any],
) -> dict[str, Any]:
    """Wait for the reply's commit; the acknowledgement to write for it."""
    if isinstance(reply, dict):
        return reply
    try:
        outcome = reply.result()
    except REJECTIONS as error:
        return {"request_id": request_id, "ok": False, "error": type(error).__name__, "detail": str(error)}
    loaded = node.load(product_id)
    return {
        "request_id": request_id,
        "ok": True,
        "replayed": outcome.replayed,
        "events": len(outcome.events),
        "version": loaded.version if loaded else 0,
    }


def handle(node: Node, line: str) -> dict[str, Any]:
    """Execute one input line; the acknowledgement to write for it."""
    return _acknowledgement(node, *_start(_submit_now(node), line))


def serve(node: Node, lines: Iterable[str], out: IO[str]) -> int:
    """Handle every non-blank line, acknowledging each; the number handled."""
    handled = 0
    for line in lines:
        if not line.strip():
            continue
        out.write(json.dumps(handle(node, line)) + "\n")
        out.flush()  # the acknowledgement leaves the process before the next command starts
        handled += 1
    return handled


def serve_pipelined(node: Node, lines: Iterable[str], out: IO[str]) -> int:
    """Hand every line to a group-commit writer as soon as it is read; acknowledge each, in
    input order, once its commit is durable. The number handled."""
    commits = Commits.start(node)
    replies: queue.SimpleQueue[tuple[object, str, Future[Outcome] | dict[str, Any]] | None] = (
        queue.SimpleQueue()
    )

    def acknowledge() -> None:
        while (item := replies.get()) is not None:
            out.write(json.dumps(_acknowledgement(node, *item)) + "\n")
            out.flush()

    acknowledger = threading.Thread(target=acknowledge, name="acknowledger")
    acknowledger.start()
    handled = 0
    try:
        for line in lines:
            if line.strip():
                replies.put(_start(commits.submit, line))
                handled += 1
    finally:
        replies.put(None)
        acknowledger.join()
        commits.close()
    return handled


def main(argv: list[str] | None = None, open_node: NodeFactory = Node.open) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--store", default=DEFAULT_STORE_URL, help="sqlite:///path.db or postgresql://…")
    parser.add_argument(
        "--pipeline", action="store_true", help="commands share commits through the group-commit writer"
    )
    args = parser.parse_args(argv)
    try:
        node = open_node(args.store)
    except Exception as error:  # any failure to open the store ends the process with 2
        print(f"driver: could not open {args.store}: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    try:
        (serve_pipelined if args.pipeline else serve)(node, sys.stdin, sys.stdout)
    finally:
        node.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
