"""``Service``: every use case of one node over one store, as ``adapters.bootstrap`` wires
them (the servicers, the keeper's thread and the tests hold this one object)."""

from __future__ import annotations

from attrs import frozen

from adapters.clock import Clock
from adapters.service.audits import Audits
from adapters.service.commits import Commits
from adapters.service.execute import Commands
from adapters.service.follow import Follow
from adapters.service.keeper import Keeper
from adapters.service.prices import Prices
from adapters.service.reads import Reads
from adapters.store.node import Node


@frozen
class Service:
    node: Node
    clock: Clock
    commits: Commits
    commands: Commands
    prices: Prices
    keeper: Keeper
    audits: Audits
    follow: Follow
    reads: Reads

    def now(self) -> int:
        return self.clock.now()

    def close(self) -> None:
        """The writer finishes what it took, then stops; then the store's connections go
        (PostgreSQL counts them)."""
        self.commits.close()
        self.node.close()
