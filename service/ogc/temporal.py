"""The ``datetime`` parameter of OGC API – Features Part 1: an instant, a closed interval ``a/b`` or a half-bounded
one (``../b``, ``a/..``; an empty end is open too).

Our features have no time property, so every feature matches any valid ``datetime`` (Part 1: features without a
time property are not filtered by it). A malformed value or an interval that ends before it starts is a 400. Time
travel, the layer versions in force on a day, is the separate ``as_of`` parameter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from service.core.errors import BadRequest

MAX_CHARS = 100
OPEN = ("", "..")


def parse_datetime(value: str | None) -> tuple[datetime | None, datetime | None] | None:
    """(start, end) of the instant or interval, None for an open end; None when no ``datetime`` was given."""
    if value is None:
        return None
    if len(value) > MAX_CHARS:
        raise BadRequest(f"datetime is longer than {MAX_CHARS} characters")
    parts = value.split("/")
    if len(parts) > 2:
        raise BadRequest(f"datetime {value!r} is neither an instant nor an interval start/end")
    if len(parts) == 1:
        at = _instant(parts[0], value)
        return at, at
    start = None if parts[0] in OPEN else _instant(parts[0], value)
    end = None if parts[1] in OPEN else _instant(parts[1], value)
    if start and end and end < start:
        raise BadRequest(f"datetime interval {value!r} ends before it starts")
    return start, end


def _instant(text: str, whole: str) -> datetime:
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        if "T" not in text.upper():
            raise ValueError("no time part")
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(
            f"datetime {whole!r}: {text!r} is not a date (YYYY-MM-DD) or RFC 3339 date-time "
            "(YYYY-MM-DDThh:mm:ssZ); open interval ends are '..'"
        ) from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)
