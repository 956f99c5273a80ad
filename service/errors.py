"""One exception hierarchy for the domain, and one map from exception to HTTP status.

The message of a :class:`GebiedscheckError` is safe to show to users (it names the problem, in the
language of the caller: English for the API, Dutch where the CLI adds its own words). The cause, with
details that may be sensitive (paths, SQL), goes to the log only.
"""

from __future__ import annotations


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


class ConfigurationError(GebiedscheckError):
    """The service cannot start as configured (no PostgreSQL/PostGIS to be found, ...)."""


STATUS_CODES: dict[type[GebiedscheckError], int] = {
    NotFound: 404,
    Unauthorized: 401,
    Forbidden: 403,
    InvalidInput: 422,
    BadRequest: 400,
    TooLarge: 413,
    ManifestError: 422,
    LayerLoadError: 422,
    DatabaseUnavailable: 503,
    ConfigurationError: 503,
    GebiedscheckError: 500,
}


def status_for(exc: GebiedscheckError) -> int:
    """The HTTP status of an exception: the entry of its nearest class in :data:`STATUS_CODES`."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500
