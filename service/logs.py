"""Logging: every record carries the id of the request it belongs to (``-`` outside a request).

Log lines name methods, paths, statuses, layer slugs and causes; never API keys (they stay in headers, and
only their hash reaches the database) nor the content of uploaded files.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def log_config(level: str = "info") -> dict[str, object]:
    """A ``logging.config.dictConfig`` for uvicorn and the service: one format, request ids everywhere."""
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"plain": {"format": FORMAT}},
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
