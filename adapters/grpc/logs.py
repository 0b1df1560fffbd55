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
# One encoder for every line: ``json.dumps`` with an option builds a new one on each call.
_ENCODE = json.JSONEncoder(default=str).encode


def _iso_ms(created: float) -> str:
    """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``, its
    whole seconds formatted once per second (a line per RPC: most share the second)."""
    seconds = int(created)
    micros = round((created - seconds) * 1e6)  # as datetime rounds (half to even), then cut
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    millis = micros // 1000
    head = _SECOND[0] if _SECOND[1] == seconds else _second(seconds)
    return f"{head}.{millis:03d}+00:00"


def _second(seconds: int) -> str:
    global _SECOND  # noqa: PLW0603 - a one-entry cache, replaced whole (no torn reads)
    head = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").removesuffix("+00:00")
    _SECOND = (head, seconds)
    return head


_SECOND: tuple[str, int] = ("", -1)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _iso_ms(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return _ENCODE(data)


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
