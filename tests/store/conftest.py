"""Stores for the log's tests: a SQLite file per test, and a fresh PostgreSQL schema per
test in database ``test`` on 127.0.0.1:5432 (``IIT_TEST_POSTGRES_URL`` overrides).

With ``IIT_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) an unreachable PostgreSQL fails the
PostgreSQL cases; elsewhere they skip, saying why.

``fresh_store`` is the same rule for tests that need a new store per hypothesis example
rather than per test (the state machines).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator

import psycopg
import pytest

POSTGRES_URL = os.environ.get("IIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STORE_KINDS = ("sqlite", "postgres")


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL.replace("postgresql://", "postgres://"), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}"


def require_store(kind: str) -> None:
    """Skip (or, under IIT_REQUIRE_POSTGRES=1, fail) when a PostgreSQL store cannot be had."""
    if kind != "postgres":
        return
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("IIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{problem} (IIT_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)


@contextlib.contextmanager
def fresh_store(kind: str) -> Iterator[str]:
    """The URL of a new, empty store of ``kind``, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="iit-store-") as directory:
            yield f"sqlite:///{directory}/iit.db"
        return
    schema = f"iit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """A kind of store that is available here (see ``require_store``)."""
    require_store(request.param)
    return str(request.param)


@pytest.fixture
def store_url(store_kind: str, tmp_path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    if store_kind == "sqlite":
        yield f"sqlite:///{tmp_path}/iit.db"
        return
    with fresh_store(store_kind) as url:
        yield url
