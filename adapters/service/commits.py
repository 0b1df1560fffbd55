"""The one way to the store's group-commit writer (``adapters.store.writer``).

Every write of the service goes through ``Commits``: the commands of all the server's
threads that arrive while a commit is being made share the next one, and each is
answered only once its commit is durable. An applied outcome is then shown to the
observer (the metrics) and signalled to the followers of the log.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Protocol, TypeVar

from attrs import define, field, frozen

from adapters.rejections import REJECTIONS, Rejection
from adapters.store.contract import Outcome
from adapters.store.node import Node
from adapters.store.writer import GroupCommitWriter
from domain import commands as cmd
from domain import events as ev
from domain.model import ProductState

E = TypeVar("E", bound=ev.Event)


class Observer(Protocol):
    """What watches the products (the metrics): each state a command left, each keeper run."""

    def observe_state(self, state: ProductState) -> None: ...

    def observe_keeper(self, outcomes: Iterator[tuple[str, str | None, bool, bool]]) -> None: ...


@frozen
class ProductResult:
    """One product's answer to a command sent to several (a fanned-out price report, a
    keeper tick): its outcome, or its rejection, kept apart from the others'."""

    product_id: str
    outcome: Outcome | None
    error: Rejection | None


def events_of(outcome: Outcome, kind: type[E]) -> list[E]:
    """The events of ``kind`` among an outcome's."""
    return [e for e in outcome.events if isinstance(e, kind)]


@define
class Commits:
    """The single writer's only caller, with a counter of this process's commits."""

    writer: GroupCommitWriter
    observer: Observer | None = None
    _signal: threading.Condition = field(factory=threading.Condition)
    _committed: int = 0

    @classmethod
    def start(cls, node: Node, observer: Observer | None = None) -> Commits:
        """Start ``node``'s writer thread: the one writer of this process for that store."""
        return cls(GroupCommitWriter(node), observer)

    def submit(self, product_id: str, command: cmd.Command, request_id: str, now: int) -> Future[Outcome]:
        """Queue a command; the future resolves once its batch is durable (or rejected)."""
        return self.writer.submit(product_id, command, request_id, now)

    def execute(self, product_id: str, command: cmd.Command, request_id: str, now: int) -> Outcome:
        """Apply a command once and return its outcome, observed; raise its rejection."""
        outcome = self.writer.execute(product_id, command, request_id, now)
        self.applied(outcome)
        return outcome

    def each(self, requests: Iterable[tuple[str, cmd.Command, str]], now: int) -> list[ProductResult]:
        """Several products' commands (product, command, request id), all queued before
        any is awaited, so that they share a commit; each product's answer in order."""
        pending = [(pid, self.writer.submit(pid, command, rid, now)) for pid, command, rid in requests]
        results: list[ProductResult] = []
        for pid, future in pending:
            try:
                results.append(ProductResult(pid, future.result(), None))
            except REJECTIONS as error:
                results.append(ProductResult(pid, None, error))
        return results

    def applied(self, outcome: Outcome) -> None:
        """Show the state a command left to the observer; wake the followers of the log
        when it wrote something."""
        if self.observer is not None and outcome.state is not None:
            self.observer.observe_state(outcome.state)
        if outcome.events and not outcome.replayed:
            with self._signal:
                self._committed += 1
                self._signal.notify_all()

    def wait_for_commit(self, seen: int, timeout_s: float) -> int:
        """Block until a command of this process commits after ``seen`` or ``timeout_s``
        passes; return the commit counter (the caller polls the store either way, so
        other processes' commits arrive within ``timeout_s``)."""
        with self._signal:
            if self._committed == seen:
                self._signal.wait(timeout_s)
            return self._committed

    @property
    def committed(self) -> int:
        with self._signal:
            return self._committed

    def counts(self) -> tuple[int, int]:
        """(commits made, requests committed) by the writer, for the metrics."""
        return self.writer.batches, self.writer.requests

    def close(self) -> None:
        """Finish the queued commands and stop the writer."""
        self.writer.close()
