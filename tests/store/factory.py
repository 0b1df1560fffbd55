"""The one place where the state machine and the crash test get a node.

Swap ``open_node`` (for instance for a group-commit writer behind the same ``execute``
interface) and those tests run against it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.store.contract import Outcome
from adapters.store.event_store import SNAPSHOT_INTERVAL_ENV
from adapters.store.node import Node
from adapters.store.writer import GroupCommitWriter
from domain.commands import Command

# Small, so that a few dozen commands already cross several snapshots and every cold
# load in the tests goes through one.
TEST_SNAPSHOT_INTERVAL = 3


def open_node(url: str) -> Node:
    """A node on the store at ``url``: a fresh process's view, nothing cached."""
    return Node.open(url, **{SNAPSHOT_INTERVAL_ENV: str(TEST_SNAPSHOT_INTERVAL)})


class WriterNode(Node):
    """A node whose every command goes through its own group-commit writer thread, as the
    served node's do: the same interface, the batched write path behind it."""

    # The library names an application's tables after its class unless told: the same ones.
    name = Node.name

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.writer = GroupCommitWriter(self)

    def execute(self, product_id: str, command: Command, request_id: str, now: int) -> Outcome:
        return self.writer.execute(product_id, command, request_id, now)

    def close(self) -> None:
        self.writer.close()
        super().close()


def open_writer_node(url: str) -> Node:
    """Like ``open_node``, with its commands going through a group-commit writer."""
    return WriterNode.open(url, **{SNAPSHOT_INTERVAL_ENV: str(TEST_SNAPSHOT_INTERVAL)})


def store_size(node: Node) -> int:
    """Every row ever appended to the store's log (events, request markers, registry)."""
    return node.recorder.max_notification_id() or 0
