"""Writing a vector version's features: one COPY into ``features``, then the parts by ``ST_Subdivide``.

Validity is decided once, by the table itself: ``features_geom_check`` (``NOT ST_IsEmpty(geom) AND
ST_IsValid(geom)``, migration 0001) runs GEOS on every row as it is copied, the same test as
:func:`service.spatial.validation.validate_many`. A file that was not validated beforehand (the usual load:
no repair, no dry run) is therefore written optimistically inside a savepoint: when a row breaks the check,
or the copy runs past its budget (twice the validation budget of the file's vertices, so a pathological
geometry cannot hold a load for minutes), the savepoint is rolled back and ``validate_prepared`` names the
features and their reasons exactly as before. A file of valid polygons is checked by GEOS once, not twice,
and goes over the wire once.

The rows go as text COPY: hex WKB (PostGIS gives it the column's SRID), properties as JSON. The version's extent
is stored with it (``metadata.extent_rd``), once.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import LayerLoadError, QueryTimeout, from_database_error
from service.core.settings import Settings, get_settings
from service.loading.vectorload import PreparedVector, multipolygon_wkb, validate_prepared
from service.spatial.validation import statement_budget, validation_budget_ms

log = logging.getLogger(__name__)

MAX_PART_VERTICES = 256  # as migration 0002
COPY_FEATURES = "COPY features (version_id, fid, name, properties, geom) FROM STDIN"
PARTS_SQL = (
    "INSERT INTO feature_parts (feature_id, version_id, geom) "
    "SELECT id, version_id, (ST_Dump(ST_Subdivide(geom, :n))).geom FROM features WHERE version_id = :v"
)

# The version's extent, kept with it (service.store.current.extent_sql): /collections and the tile limits then need
# no scan of a national layer's million rows.
EXTENT_SQL = (
    "UPDATE layer_versions SET metadata = coalesce(metadata, '{}'::jsonb) || jsonb_build_object('extent_rd', "
    "(SELECT jsonb_build_array(ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) FROM "
    "(SELECT ST_Extent(geom) e FROM features WHERE version_id = :v) b)) WHERE id = :v"
)


def write_features(
    session: Session,
    *,
    version_id: int,
    prepared: PreparedVector,
    defaults: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> None:
    """Write ``prepared``'s features as version ``version_id`` (with their parts), in the caller's transaction.

    Raises :class:`LayerLoadError` naming the invalid features (nothing of them stays written),
    :class:`~service.core.errors.GeometryTooComplex` for a geometry past its validation budget, and
    :class:`QueryTimeout` when valid rows could not be written within the budget."""
    settings = settings or get_settings()
    budget = 2 * validation_budget_ms([f.wkb for f in prepared.features], settings=settings)
    try:
        # A savepoint with the shorter timeout; a failure rolls both back and leaves the load's transaction usable.
        with statement_budget(session, budget):
            _copy(session, version_id=version_id, prepared=prepared, defaults=defaults or {})
    except psycopg.errors.CheckViolation as exc:
        if prepared.validated:
            raise
        log.info("copy of %s refused (%s); naming the features", prepared.path.name, exc.diag.message_primary)
        validate_prepared(session, prepared, settings=settings)  # raises, naming each invalid feature
        raise LayerLoadError(f"{prepared.source_name or prepared.path.name}: {exc.diag.message_primary}") from exc
    except psycopg.Error as exc:  # past the budget (a cancel, or GEOS interrupted by it), or another failure
        named = from_database_error(exc, timeout_ms=budget)
        if not isinstance(named, QueryTimeout) or prepared.validated:
            raise (named or exc) from exc
        log.info("copy of %s ran past %d ms; validating the features on their own", prepared.path.name, budget)
        validate_prepared(session, prepared, settings=settings)  # names a geometry too complex to validate
        raise QueryTimeout(
            f"writing {len(prepared.features):,} features took longer than {budget / 1000:g} s", cause=exc
        ) from exc
    session.execute(text(PARTS_SQL), {"v": version_id, "n": MAX_PART_VERTICES})
    session.execute(text(EXTENT_SQL), {"v": version_id})


def _copy(session: Session, *, version_id: int, prepared: PreparedVector, defaults: dict[str, Any]) -> None:
    """One COPY of every feature, on the session's own connection."""
    raw = session.connection().connection.driver_connection
    dumps = json.dumps
    with raw.cursor() as cur, cur.copy(COPY_FEATURES) as copy:  # type: ignore[union-attr]
        for f in prepared.features:
            props = {**defaults, **{k: v for k, v in f.properties.items() if v is not None}}
            copy.write_row((version_id, f.fid, f.name, dumps(props), multipolygon_wkb(f.wkb).hex()))
