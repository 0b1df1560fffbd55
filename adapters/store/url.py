"""Store URLs (SPEC §5): ``sqlite:///path/file.db`` or ``postgresql://user@host:port/db``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_STORE_URL = "sqlite:///iit.db"
CONNECT_TIMEOUT_S = 5  # PostgreSQL; ``?connect_timeout=N`` overrides


def redacted(url: str) -> str:
    """``url`` without its password, to be shown in messages and logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class StoreUrlError(ValueError):
    """The store URL cannot be used."""


def store_env(url: str) -> dict[str, str]:
    """The eventsourcing environment for a store URL."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path:
            raise StoreUrlError(f"expected sqlite:///relative/path.db or sqlite:////absolute.db, got {url!r}")
        path = path[1:] if path.startswith("/") else path
        if path != ":memory:":
            parent = Path(path).parent
            if not parent.is_dir():
                # Not created: a typo in a path should not silently make a new store there.
                raise StoreUrlError(f"store {url}: the directory {str(parent)!r} does not exist")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path or ":memory:"}
    if parts.scheme in {"postgresql", "postgres"}:
        dbname = parts.path.lstrip("/")
        if not parts.hostname or not dbname:
            raise StoreUrlError(f"expected postgresql://user@host:port/dbname, got {url!r}")
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
        }
        query = parse_qs(parts.query)
        schema = query.get("schema")
        if schema:
            env["POSTGRES_SCHEMA"] = schema[0]
        # An unreachable server is a clear error after this many seconds, not 30 s of silence.
        timeout = query.get("connect_timeout", [str(CONNECT_TIMEOUT_S)])[0]
        if not timeout.isdigit() or int(timeout) < 1:
            raise StoreUrlError(f"store {redacted(url)}: connect_timeout must be a whole number of seconds")
        env["POSTGRES_CONNECT_TIMEOUT"] = timeout
        return env
    raise StoreUrlError(
        f"unknown store URL scheme {parts.scheme!r} in {url!r}: use sqlite:/// or postgresql://"
    )
