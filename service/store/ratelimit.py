"""A per-client rate limit for the heavy public endpoints (heat overlap, check, batch).

Fixed one-minute windows counted in the database (``rate_counters``, migration 0006), so every worker
process and every instance shares the same count. One upsert per heavy request; windows older than two
minutes are swept by the first request of each new window.

The count is a short transaction of its own, on a connection of its own taken from the engine the caller
passes: it never commits (or rolls back) a session of the caller's.
"""

from __future__ import annotations

import math

from psycopg.errors import InsufficientPrivilege
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

from service.core.errors import ConfigurationError, TooManyRequests
from service.core.settings import Settings, get_settings

WINDOW_S = 60
_HIT = text(
    "INSERT INTO rate_counters AS c (client, bucket, hits) "
    "VALUES (:client, to_timestamp(floor(extract(epoch FROM clock_timestamp()) / :w) * :w), 1) "
    "ON CONFLICT (client, bucket) DO UPDATE SET hits = c.hits + 1 "
    "RETURNING hits, extract(epoch FROM c.bucket + make_interval(secs => :w) - clock_timestamp()) AS left_s"
)
_SWEEP = text("DELETE FROM rate_counters WHERE bucket < clock_timestamp() - make_interval(secs => 2 * :w)")


def hit(engine: Engine, client: str, *, settings: Settings | None = None) -> int:
    """Count one request of ``client`` (in a transaction of its own on ``engine``); raise TooManyRequests
    (with Retry-After) past the limit.

    Returns the number of requests the client made in the current window. A limit of 0 turns it off.
    """
    settings = settings or get_settings()
    limit = settings.rate_limit_per_minute
    if limit <= 0:
        return 0
    try:
        with engine.begin() as connection:
            hits, left_s = connection.execute(_HIT, {"client": client, "w": WINDOW_S}).one()
            if hits == 1:
                connection.execute(_SWEEP, {"w": WINDOW_S})
    except ProgrammingError as exc:
        if isinstance(exc.orig, InsufficientPrivilege):
            raise ConfigurationError(
                "the service's database role may not count requests for the rate limit; grant it SELECT, INSERT, "
                "UPDATE, DELETE on rate_counters (migration 0006 does so for gebiedscheck_lezer)",
                cause=exc,
            ) from exc
        raise
    if hits > limit:
        retry = max(1, math.ceil(float(left_s)))
        raise TooManyRequests(
            f"too many requests: at most {limit} a minute to this endpoint per client; try again in {retry} s",
            retry_after=retry,
        )
    return int(hits)
