"""Logging: every record carries the id of the request it belongs to (``-`` outside a request).

Log lines name methods, paths, statuses, layer slugs and causes; never API keys (they stay in headers, and
only their hash reaches the database) nor the content of uploaded files.

One record is one line: control characters in a logged message (a ``%0a`` in a requested path, a tab in a
header someone quotes) are written escaped (``\\n``, ``\\r``, ``\\t``, others as ``\\xNN``/``\\uNNNN``), so a
client cannot forge a line of the log. A traceback that follows a record keeps its own lines.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(value: object) -> str:
    """``value`` as text with every control character escaped (normal text comes back unchanged)."""
    text = str(value)
    return _CONTROL.sub(_escaped, text) if _CONTROL.search(text) else text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class SafeFormatter(logging.Formatter):
    """The log format, with the control characters of the record's line escaped (tracebacks stay multi-line)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_controls(super().formatMessage(record))


def log_config(level: str = "info") -> dict[str, object]:
    """A ``logging.config.dictConfig`` for uvicorn and the service: one format, request ids everywhere."""
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"plain": {"class": "service.core.logs.SafeFormatter", "format": FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": lvl},
        "loggers": {
            # Our access log (service.api.middleware) replaces uvicorn's, which would repeat each request.
            "uvicorn.access": {"level": "WARNING"},
            "uvicorn": {"level": lvl},
        },
    }
