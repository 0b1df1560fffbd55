"""The one place where the state machine and the crash test get a node.

Swap ``open_node`` (for instance for a group-commit writer behind the same ``execute``
interface) and those tests run against it unchanged.
"""

from __future__ import annotations

from adapters.store.node import SNAPSHOT_INTERVAL_ENV, Node

# Small, so that a few dozen commands already cross several snapshots and every cold
# load in the tests goes through one.
TEST_SNAPSHOT_INTERVAL = 3


def open_node(url: str) -> Node:
    """A node on the store at ``url``: a fresh process's view, nothing cached."""
    return Node.open(url, **{SNAPSHOT_INTERVAL_ENV: str(TEST_SNAPSHOT_INTERVAL)})


def store_size(node: Node) -> int:
    """Every row ever appended to the store's log (events, request markers, registry)."""
    return node.recorder.max_notification_id() or 0
