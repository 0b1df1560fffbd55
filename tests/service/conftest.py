"""The service layer runs on both stores: the store tests' fixtures, shared."""

from __future__ import annotations

from tests.store.conftest import store_kind, store_url

__all__ = ["store_kind", "store_url"]
