"""Stores for the log's tests: a SQLite file per test, and a fresh PostgreSQL schema per
test in database ``test`` on 127.0.0.1:5432 (``IIT_TEST_POSTGRES_URL`` overrides).

With ``IIT_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) an unreachable PostgreSQL fails the
PostgreSQL cases; elsewhere they skip, saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

POSTGRES_URL = os.environ.get("IIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL.replace("postgresql://", "postgres://"), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/iit.db"
        return
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("IIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{problem} (IIT_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)
    schema = f"iit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
