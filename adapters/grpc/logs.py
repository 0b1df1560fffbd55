"""Structured logs on stderr, with the fields a log pipeline filters on (``method``,
``code``, ``caller``, ``ms``, …) beside the message: one JSON object per line (``json``,
the default when stderr is not a terminal) or one readable line per record
(``console``, the default on a terminal): time, level, message, then ``key=value``."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER = logging.getLogger("iit")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class Console(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        fields = " ".join(
            f"{key}={_console_value(value)}" for key, value in getattr(record, "fields", {}).items()
        )
        text = f"{when} {record.levelname:<7} {record.getMessage()}" + (f"  {fields}" if fields else "")
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _console_value(value: Any) -> str:  # noqa: ANN401 - any JSON-ready value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (not text or " " in text or "=" in text) else text


LOG_FORMATS = ("json", "console")


def default_format() -> str:
    """``console`` when stderr is a terminal (a person reads it), else ``json``."""
    return "console" if sys.stderr.isatty() else "json"


def configure(level: str = "info", log_format: str | None = None) -> None:
    """Send the ``iit`` logger's records to stderr, as JSON lines or console lines
    (``log_format``; default per ``default_format``); idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    chosen = log_format or default_format()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {chosen!r}")
    handler.setFormatter(JsonLines() if chosen == "json" else Console())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False


def log(level: int, msg: str, **fields: Any) -> None:  # noqa: ANN401 - any JSON-ready value
    LOGGER.log(level, msg, extra={"fields": fields})
