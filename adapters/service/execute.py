"""Execute a command on one product (every mutating RPC but the price reports and Tick):
at the node's clock, through the group-commit writer, answered from its own outcome."""

from __future__ import annotations

from attrs import frozen

from adapters.clock import Clock
from adapters.service.commits import Commits
from adapters.store.contract import Outcome
from domain import commands as cmd
from domain.errors import InvalidArgument
from domain.validation import check_client_request_id


@frozen
class Commands:
    commits: Commits
    clock: Clock

    def execute(self, product_id: str, command: cmd.Command, request_id: str) -> Outcome:
        """Apply ``command`` once under the client's ``request_id`` (a repeat answers the
        first outcome); raise its rejection."""
        return self.commits.execute(product_id, command, require_request_id(request_id), self.clock.now())


def require_request_id(request_id: str) -> str:
    """A client's request id: required, 1-128 visible ASCII characters, no '#' (the node's)."""
    if not request_id:
        raise InvalidArgument(
            "request_id is required: a client-chosen idempotency key (1-128 visible ASCII characters, no '#')"
        )
    check_client_request_id(request_id)
    return request_id
