"""One exception hierarchy for the domain, and one map from exception to HTTP status.

The message of a :class:`GebiedscheckError` is safe to show to users (it names the problem, in the
language of the caller: English for the API, Dutch where the CLI adds its own words). The cause, with
details that may be sensitive (paths, SQL), goes to the log only.
"""

from __future__ import annotations

import re


class GebiedscheckError(Exception):
    """Base class: ``detail`` is the user-facing message."""

    def __init__(self, detail: str, *, cause: BaseException | str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.cause = cause


class NotFound(GebiedscheckError):
    """A layer, version or feature does not exist."""


class InvalidInput(GebiedscheckError):
    """A request parameter or body is wrong (bad coordinates, unknown CRS, ...)."""


class BadRequest(InvalidInput):
    """Bad input where a standard asks for 400 (OGC API – Features)."""


class TooLarge(InvalidInput):
    """A request body or geometry over the documented limit."""


class Unauthorized(GebiedscheckError):
    """No API key, or one that is unknown or revoked."""


class Forbidden(GebiedscheckError):
    """A valid API key whose role may not do this."""


class LayerLoadError(GebiedscheckError):
    """A layer file could not be loaded: missing, unreadable, wrong CRS, invalid geometry."""


class ManifestError(LayerLoadError):
    """The layer manifest itself is wrong."""


class DatabaseUnavailable(GebiedscheckError):
    """The database does not answer, or lacks PostGIS / the schema."""


class QueryTimeout(GebiedscheckError):
    """A query ran past the statement timeout; it was cancelled and its connection went back to the pool."""


class GeometryTooComplex(InvalidInput):
    """A geometry whose validity (or repair) could not be decided within its time budget: 422, the input's fault.

    ``index`` is its 1-based position when it was one of many (a layer load), else None.
    """

    def __init__(
        self,
        detail: str,
        *,
        index: int | None = None,
        vertices: int | None = None,
        budget_ms: int | None = None,
        cause: BaseException | str | None = None,
    ) -> None:
        super().__init__(detail, cause=cause)
        self.index = index
        self.vertices = vertices
        self.budget_ms = budget_ms


class ServiceBusy(DatabaseUnavailable):
    """Every pooled connection is in use for longer than the pool's wait."""


class TooManyRequests(GebiedscheckError):
    """A client asked a heavy endpoint more often than its rate limit allows."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class DataMissing(GebiedscheckError):
    """Stored data the database refers to is not there (a raster version's file): the operator must restore it."""


class LoadCancelled(GebiedscheckError):
    """A load was stopped (the service shutting down, SIGTERM) before it was written: nothing changed."""


class ConfigurationError(GebiedscheckError):
    """The service cannot start as configured (no PostgreSQL/PostGIS to be found, ...)."""


STATUS_CODES: dict[type[GebiedscheckError], int] = {
    NotFound: 404,
    Unauthorized: 401,
    Forbidden: 403,
    InvalidInput: 422,
    BadRequest: 400,
    TooLarge: 413,
    GeometryTooComplex: 422,
    ManifestError: 422,
    LayerLoadError: 422,
    DatabaseUnavailable: 503,
    ServiceBusy: 503,
    QueryTimeout: 504,
    TooManyRequests: 429,
    ConfigurationError: 503,
    LoadCancelled: 503,
    DataMissing: 503,
    GebiedscheckError: 500,
}


def status_for(exc: GebiedscheckError) -> int:
    """The HTTP status of an exception: the entry of its nearest class in :data:`STATUS_CODES`."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


# PostGIS 3.3 reports a GEOS call stopped by a cancel (statement_timeout, pg_cancel_backend) as a plain XX000
# error, e.g. "GEOS isvaliddetail() threw an exception!" (the GEOS "InterruptedException" text is dropped);
# newer releases and other functions say "... InterruptedException: Interrupted!" or raise QueryCanceled.
_GEOS_INTERRUPTED = re.compile(r"Interrupted!|InterruptedException|^GEOS \w+\(\) threw an (exception|error)!?$")


def is_geos_interruption(exc: BaseException) -> bool:
    """Whether a database error is PostGIS's report of a GEOS operation stopped by a cancel request."""
    from psycopg import InternalError as PgInternal

    orig = exc if isinstance(exc, PgInternal) else getattr(exc, "orig", None)
    if not isinstance(orig, PgInternal):
        return False
    message = str(getattr(orig.diag, "message_primary", None) or orig).strip()
    return bool(_GEOS_INTERRUPTED.search(message))


def from_database_error(exc: BaseException, *, timeout_ms: int | None = None) -> GebiedscheckError | None:
    """The domain error for a database driver error, or None when it is not one we can name for users.

    ``exc`` is a SQLAlchemy error (the driver's in ``.orig``) or a psycopg error itself (raw cursors).
    A cancelled statement (``statement_timeout``; also PostGIS's report of a GEOS operation it interrupted for
    that reason, an XX000 error) is a 504; a lost or refused connection, and a pool that has no free
    connection in time, a 503. The driver's message goes to the log only (it may hold SQL or hosts).
    """
    from psycopg import DataError as PgDataError
    from psycopg import Error as PgError
    from psycopg import OperationalError as PgOperational
    from psycopg.errors import QueryCanceled
    from sqlalchemy.exc import OperationalError, TimeoutError

    orig = exc if isinstance(exc, PgError) else getattr(exc, "orig", None)
    if isinstance(orig, PgDataError):  # a NUL byte in a string, a number out of range: the input's fault
        first = str(orig).strip().splitlines()[0][:200] if str(orig).strip() else "invalid value"
        return InvalidInput(f"a value in the request is not acceptable: {first}", cause=exc)
    if isinstance(orig, QueryCanceled) or is_geos_interruption(exc):
        limit = f" of {timeout_ms / 1000:g} s" if timeout_ms else ""
        return QueryTimeout(f"the question took longer than the time limit{limit} and was stopped", cause=exc)
    if isinstance(exc, TimeoutError):
        return ServiceBusy("the service is busy: no database connection came free in time; try again", cause=exc)
    if isinstance(exc, OperationalError) or isinstance(orig, PgOperational):
        return DatabaseUnavailable("the database is unavailable; try again later", cause=exc)
    return None
