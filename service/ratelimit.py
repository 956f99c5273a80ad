"""A per-client rate limit for the heavy public endpoints (heat overlap, check, batch).

Fixed one-minute windows counted in the database (``rate_counters``, migration 0006), so every worker
process and every instance shares the same count. One upsert per heavy request; windows older than two
minutes are swept by the first request of each new window.
"""

from __future__ import annotations

import math

from psycopg.errors import InsufficientPrivilege
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from service.errors import ConfigurationError, TooManyRequests
from service.settings import Settings, get_settings

WINDOW_S = 60
_HIT = text(
    "INSERT INTO rate_counters AS c (client, bucket, hits) "
    "VALUES (:client, to_timestamp(floor(extract(epoch FROM clock_timestamp()) / :w) * :w), 1) "
    "ON CONFLICT (client, bucket) DO UPDATE SET hits = c.hits + 1 "
    "RETURNING hits, extract(epoch FROM c.bucket + make_interval(secs => :w) - clock_timestamp()) AS left_s"
)
_SWEEP = text("DELETE FROM rate_counters WHERE bucket < clock_timestamp() - make_interval(secs => 2 * :w)")


def hit(session: Session, client: str, *, settings: Settings | None = None) -> int:
    """Count one request of ``client``; raise TooManyRequests (with Retry-After) past the limit.

    Returns the number of requests the client made in the current window. A limit of 0 turns it off.
    """
    settings = settings or get_settings()
    limit = settings.rate_limit_per_minute
    if limit <= 0:
        return 0
    try:
        hits, left_s = session.execute(_HIT, {"client": client, "w": WINDOW_S}).one()
    except ProgrammingError as exc:
        if isinstance(exc.orig, InsufficientPrivilege):
            raise ConfigurationError(
                "the service's database role may not count requests for the rate limit; grant it SELECT, INSERT, "
                "UPDATE, DELETE on rate_counters (migration 0006 does so for gebiedscheck_lezer)",
                cause=exc,
            ) from exc
        raise
    if hits == 1:
        session.execute(_SWEEP, {"w": WINDOW_S})
    session.commit()
    if hits > limit:
        retry = max(1, math.ceil(float(left_s)))
        raise TooManyRequests(
            f"too many requests: at most {limit} a minute to this endpoint per client; try again in {retry} s",
            retry_after=retry,
        )
    return int(hits)
