"""What the store is asked and what it answers: a ``Request`` for one product, its
``Outcome`` (or an ``OracleRound`` for a price round), and the store's own errors.

Every module of the store (``event_store``, ``idempotency``, ``batch``, ``oracle_book``) and
every caller of it (the writer, the servicers) reads these from here, so none of them has
to import another for its types.
"""

from __future__ import annotations

from attrs import frozen

from adapters.rejections import AdapterError
from domain.commands import Command
from domain.events import Event
from domain.model import ProductState


class RequestIdReused(AdapterError):
    """A request id was used before for a different command."""


# How many times a write that lost the race to another writer is decided again before it
# fails with ``ConcurrencyConflict``.
CONFLICT_RETRIES = 16


class ConcurrencyConflict(AdapterError):
    """Other writers kept winning the race for this product; the command was not applied."""


class StoreWriteFailed(AdapterError):
    """The store did not commit a batch; none of its requests was applied."""


class UnstorableCommand(AdapterError):
    """A command whose events could not be encoded, or would not load back (decode and
    evolve) into a product every client can read: rejected before its commit, so that no
    stored event can make a product unloadable (SPEC §7, no poison in the log)."""


@frozen
class Request:
    """One command for one product, with its idempotency key and the time it is decided at."""

    product_id: str
    command: Command
    request_id: str
    now: int


@frozen
class Outcome:
    """The reply to a command: the events it caused, the state right after them and the
    version of the product's stream they end at. Every field of an RPC's reply is built
    from these alone, never from the product as it is later (SPEC §2: a repeat answers the
    first reply field for field).

    ``replayed`` is true when the request id had been handled before and this is the
    first result returned again: the same events, state and version, rebuilt from the log
    as of the command's last event (so it holds after a restart and whatever was written
    since)."""

    events: tuple[Event, ...]
    state: ProductState | None
    replayed: bool
    version: int = 0


@frozen
class OracleRound:
    """A round in the oracle's book: its version in the oracle stream, and whether this
    request had recorded it before (a retry)."""

    version: int
    replayed: bool
