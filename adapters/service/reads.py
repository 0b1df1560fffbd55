"""The queries: a product as stored or as accrued to the node's clock, a quote (the very
decision the writer would make, with nothing stored), and the read models."""

from __future__ import annotations

import threading

import attrs
from attrs import define, field

from adapters.clock import Clock
from adapters.store.activity import ActivityModel
from adapters.store.event_store import Loaded
from adapters.store.nav_history import NavHistory
from adapters.store.node import Node
from domain import commands as cmd
from domain.accrual import accrue
from domain.decide import decide_and_apply
from domain.draft import Draft
from domain.errors import InsufficientBalance, ProductNotFound
from domain.model import LOCKED_HOLDER, ProductState
from domain.validation import shown


def load_product(node: Node, product_id: str) -> Loaded:
    """The product as stored, or ``ProductNotFound``."""
    loaded = node.load(product_id)
    if loaded is None:
        raise ProductNotFound(f"no product {shown(product_id)}: launch it first")
    return loaded


@define
class Reads:
    node: Node
    clock: Clock
    _lock: threading.Lock = field(factory=threading.Lock)
    _activity: ActivityModel | None = None
    _nav_history: NavHistory | None = None

    def load(self, product_id: str) -> Loaded:
        return load_product(self.node, product_id)

    def product_ids(self) -> tuple[str, ...]:
        return self.node.product_ids()

    def accrued(self, product_id: str) -> tuple[Loaded, ProductState, int]:
        """The product as stored, and as accrued to the node's clock (nothing written):
        what GetProduct shows."""
        loaded = self.load(product_id)
        now = self.clock.now()
        draft = Draft(loaded.state)
        accrue(draft, now)
        return loaded, draft.state, now

    def quote(self, product_id: str, command: cmd.Mint | cmd.Redeem) -> tuple[Draft, int]:
        """What ``command`` would do now: the very decision the writer would make on the
        product as stored, at the node's clock, with nothing stored (ERC-4626's previews).

        A redemption quote holds for an anonymous holder credited with the tokens quoted
        (the payout does not depend on whose tokens they are); more than circulate is
        ``InsufficientBalance``."""
        state = self.load(product_id).state
        now = self.clock.now()
        if isinstance(command, cmd.Redeem):
            circulating = state.vault.supply - state.balance_of(LOCKED_HOLDER)
            if command.token_amount > circulating:
                raise InsufficientBalance(
                    f"{circulating} tokens of {product_id} circulate; a redemption of "
                    f"{command.token_amount} cannot be quoted"
                )
            state = attrs.evolve(state, balances={**state.balances, command.holder_id: command.token_amount})
        return decide_and_apply(state, command, now), now

    @property
    def activity(self) -> ActivityModel:
        """The holders' activity read model, caught up with the log."""
        with self._lock:
            if self._activity is None:
                self._activity = ActivityModel(self.node)
        self._activity.catch_up()
        return self._activity

    def nav_history(self) -> NavHistory:
        """The NAV history read model of this store (its tables made on first use)."""
        with self._lock:
            if self._nav_history is None:
                self._nav_history = NavHistory(self.node)
            return self._nav_history
