"""Check the invariants over the store: the audit (``adapters.audit``) on a node of its own,
so that it neither blocks nor disturbs the commands being served. ``iit audit`` and
``CheckInvariants`` both run it."""

from __future__ import annotations

from attrs import frozen

from adapters.audit.report import PROGRESS_EVERY, AuditReport, Progress, audit
from adapters.store.node import Node
from domain.errors import ProductNotFound
from domain.validation import shown


def audit_store(
    store_url: str,
    product_id: str | None = None,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
    processes: int | None = None,
) -> AuditReport:
    """Replay the store at ``store_url`` (or one product of it) on a node opened for it:
    the hash chain, every invariant after every event, and that replayed state equals
    what a node loads."""
    auditor = Node.open(store_url)
    try:
        return audit(auditor, product_id, progress, progress_every, processes)
    finally:
        auditor.close()


@frozen
class Audits:
    node: Node
    store_url: str

    def check(self, product_id: str | None = None, progress: Progress | None = None) -> AuditReport:
        """The audit of the store this node serves (``CheckInvariants``): safe while
        commands keep arriving, it judges the log up to where its replay reached."""
        if product_id is not None and product_id not in self.node.product_ids():
            raise ProductNotFound(f"no product {shown(product_id)}")
        return audit_store(self.store_url, product_id, progress)
