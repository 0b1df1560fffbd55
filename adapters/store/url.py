"""Store URLs (SPEC §5): ``sqlite:///path/file.db`` or ``postgresql://user@host:port/db``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_STORE_URL = "sqlite:///iit.db"


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
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
        schema = parse_qs(parts.query).get("schema")
        if schema:
            env["POSTGRES_SCHEMA"] = schema[0]
        return env
    raise StoreUrlError(
        f"unknown store URL scheme {parts.scheme!r} in {url!r}: use sqlite:/// or postgresql://"
    )
