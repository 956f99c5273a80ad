"""Validity of geometries, decided by PostGIS (ST_IsValidDetail) under a time budget, repaired on request.

One SQL statement serves a request's single geometry (:func:`validate_polygonal`) and a layer load's many
(:func:`validate_many`): the same validity check, the same repair
(``ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3))``: the polygon parts), the same reason text and the
same area report.

The budget. Validity is not linear in the vertices: a valid 250,000-vertex star (inside the request limit)
keeps GEOS busy for minutes. So the statement runs under its own ``statement_timeout`` of
``settings.validation_timeout_ms`` (never longer than the session's own timeout), and a geometry that
cannot be decided within it is a :class:`~service.core.errors.GeometryTooComplex` (422). How the timeout is set:

- in a transaction (a write session, the CLI, a layer load): ``SET LOCAL`` inside a SAVEPOINT. A failure
  rolls back to the savepoint, which also undoes the setting and leaves the caller's transaction usable;
  on success the previous value is put back before the savepoint is released;
- in an AUTOCOMMIT session (the read-only request sessions, see ``service.api.deps``) there is no
  transaction for ``SET LOCAL`` to live in, and opening one behind SQLAlchemy's back would confuse it.
  So the setting is session-wide (``set_config(..., false)``) and put back in a ``finally``, on error too
  (an autocommit connection is usable again right after a failed statement). When even that fails the
  connection is invalidated, so it never goes back to the pool with the short timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import shapely
from pydantic import BaseModel
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service.core.errors import GeometryTooComplex, InvalidInput, QueryTimeout, from_database_error
from service.core.settings import Settings, get_settings
from service.spatial.geo import XY, LatLon, rd_to_wgs84

log = logging.getLogger(__name__)

BATCH_SIZE = 2_000  # geometries per statement of validate_many
_BYTES_PER_VERTEX = 16  # 2D WKB: two doubles; used to size batches without parsing the WKB

VALIDITY_SQL = """
SELECT u.i, d.valid, d.reason, ST_X(d.location) AS x, ST_Y(d.location) AS y, ST_Area(u.g) AS area_before,
       ST_AsBinary(r.m) AS repaired, ST_Area(r.m) AS area_after, coalesce(ST_IsEmpty(r.m), false) AS emptied
FROM (SELECT i, ST_GeomFromWKB(w, 28992) AS g
      FROM unnest(CAST(:wkbs AS bytea[])) WITH ORDINALITY AS x(w, i)) u
CROSS JOIN LATERAL ST_IsValidDetail(u.g) d
LEFT JOIN LATERAL (
    SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(u.g), 3)) AS m
    WHERE CAST(:repair AS boolean) AND NOT d.valid
    OFFSET 0
) r ON true
ORDER BY u.i
"""


class Repair(BaseModel):
    reason: str
    location_rd: XY | None
    location_wgs84: LatLon | None
    area_before_m2: float
    area_after_m2: float
    area_change_m2: float


@dataclass(frozen=True)
class Validity:
    """What PostGIS says about one geometry of :func:`validate_many` (and of :func:`validate_polygonal`).

    ``index`` is the 1-based position in the input. ``location`` is the RD x/y PostGIS names for the
    problem (None when valid, or when PostGIS names none). ``repaired`` is the repaired geometry as WKB, a
    MultiPolygon in EPSG:28992 (ST_MakeValid, polygon parts only), only for an invalid geometry asked to be
    repaired, and None when the repair leaves no polygon. Areas are m² (``area_after_m2`` None unless
    repaired).
    """

    index: int
    valid: bool
    reason: str | None
    location: tuple[float, float] | None
    area_before_m2: float
    repaired: bytes | None = None
    area_after_m2: float | None = None

    @property
    def problem(self) -> str:
        """The reason text, with the location in WGS84 and RD: 'invalid geometry: Self-intersection at ...'."""
        if self.valid:
            return "valid geometry"
        place = ""
        if self.location is not None:
            rd, wgs = _where(self.location)
            place = f" at lat {wgs.lat}, lon {wgs.lon} (RD x {rd.x}, y {rd.y})"
        return f"invalid geometry: {self.reason}{place}"

    @property
    def repair(self) -> Repair | None:
        """The area report of a repair (None when valid or not repaired)."""
        if self.valid or self.repaired is None or self.area_after_m2 is None:
            return None
        rd, wgs = _where(self.location) if self.location is not None else (None, None)
        before, after = self.area_before_m2, self.area_after_m2
        return Repair(
            reason=str(self.reason),
            location_rd=rd,
            location_wgs84=wgs,
            area_before_m2=round(before, 2),
            area_after_m2=round(after, 2),
            area_change_m2=round(after - before, 2),
        )


def _where(location: tuple[float, float]) -> tuple[XY, LatLon]:
    x, y = location
    return XY(x=round(x, 3), y=round(y, 3)), rd_to_wgs84(x, y)


def validate_polygonal(
    session: Session, geom: BaseGeometry, *, repair: bool = False, settings: Settings | None = None
) -> tuple[BaseGeometry, Repair | None]:
    """The geometry if valid; else a 422 naming the reason and location, or (``repair``) ST_MakeValid.

    Raises :class:`GeometryTooComplex` (422) when PostGIS cannot decide within
    ``settings.validation_timeout_ms``; another cancellation is a :class:`QueryTimeout` (504).
    """
    settings = settings or get_settings()
    wkb = shapely.to_wkb(geom)
    vertices = int(shapely.get_num_coordinates(geom))
    try:
        (v,) = _run(session, [wkb], repair=repair, budget_ms=settings.validation_timeout_ms)
    except _BudgetExceeded as exc:
        raise _too_complex(exc.budget_ms, vertices, None) from exc
    if v.valid:
        return geom, None
    if not repair:
        raise InvalidInput(f"{v.problem}; send repair=true to repair it with ST_MakeValid")
    if v.repaired is None:
        raise InvalidInput(f"{v.problem}; repairing leaves no polygon")
    report = v.repair
    assert report is not None
    return shapely.from_wkb(v.repaired), report


def validate_many(
    session: Session, wkbs: Sequence[bytes], *, repair: bool, settings: Settings | None = None
) -> list[Validity]:
    """Validate (and with ``repair`` repair) many geometries in PostGIS: one :class:`Validity` per input, in order.

    For layer loads. Contract:

    - ``wkbs``: plain 2D WKB (as ``shapely.to_wkb``) of polygonal geometries in EPSG:28992. The result has
      one entry per input, ``result[k].index == k + 1``.
    - Valid geometries: ``valid`` True, ``repaired`` None (use the input as it is). Invalid ones: ``valid``
      False, ``reason`` and ``location`` (RD x/y) as ST_IsValidDetail gives them, ``problem`` the same text a
      request gets; with ``repair`` also ``repaired`` (WKB MultiPolygon, or None when the repair leaves no
      polygon: the caller decides, e.g. refuses the file naming the feature) and ``repair`` (the same area
      report a request gets). Nothing is raised for invalid geometries.
    - Set-based: a statement per batch of up to :data:`BATCH_SIZE` geometries and about
      ``settings.max_vertices`` vertices (one larger geometry forms a batch of its own).
    - Time: each batch runs under ``settings.validation_timeout_ms`` scaled by its size (the budget of one
      request geometry per ``settings.max_vertices`` vertices), never longer than the session's own
      ``statement_timeout`` (e.g. a load's). A batch past its budget is retried one geometry at a time; the
      first geometry that on its own cannot be decided within its budget raises
      :class:`GeometryTooComplex` (422) whose ``index`` (and message: ``feature N: ...``) names it.
      Another cancellation raises :class:`QueryTimeout`; a lost database :class:`DatabaseUnavailable`.
    - Works in a transaction (the load's; a failure rolls back to a savepoint, so the transaction stays
      usable) and in autocommit sessions. Writes nothing.
    """
    settings = settings or get_settings()
    results: list[Validity] = []
    for start, batch in _batches(wkbs, settings.max_vertices):
        budget = _scaled(settings, sum(_estimate(w) for w in batch))
        try:
            results += _run(session, batch, repair=repair, budget_ms=budget, first=start)
            continue
        except _BudgetExceeded as exc:
            if len(batch) == 1:
                raise _too_complex(exc.budget_ms, _count(batch[0]), start) from exc
            log.info(
                "validation of features %d-%d ran past %d ms; one at a time", start, start + len(batch) - 1, budget
            )
        for k, wkb in enumerate(batch, start=start):
            one = _scaled(settings, _estimate(wkb))
            try:
                results += _run(session, [wkb], repair=repair, budget_ms=one, first=k)
            except _BudgetExceeded as exc:
                raise _too_complex(exc.budget_ms, _count(wkb), k) from exc
    return results


class _BudgetExceeded(Exception):
    def __init__(self, budget_ms: int) -> None:
        super().__init__(budget_ms)
        self.budget_ms = budget_ms


def _too_complex(budget_ms: int, vertices: int, index: int | None) -> GeometryTooComplex:
    what = f"feature {index}: the geometry" if index is not None else "the geometry"
    return GeometryTooComplex(
        f"{what} is too complex to validate within {budget_ms / 1000:g} s ({vertices:,} vertices); "
        "simplify it or split it into parts",
        index=index,
        vertices=vertices,
        budget_ms=budget_ms,
    )


def _estimate(wkb: bytes) -> int:
    return max(1, len(wkb) // _BYTES_PER_VERTEX)


def _count(wkb: bytes) -> int:
    return int(shapely.get_num_coordinates(shapely.from_wkb(wkb)))


def validation_budget_ms(wkbs: Sequence[bytes], *, settings: Settings | None = None) -> int:
    """The time budget to validate the geometries ``wkbs``: one request geometry's per ``max_vertices`` vertices
    (what :func:`validate_many` gives each batch; a load's write of rows checked by the table uses it too)."""
    return _scaled(settings or get_settings(), sum(_estimate(w) for w in wkbs))


def _scaled(settings: Settings, vertices: int) -> int:
    """The budget of a statement over ``vertices``: one request geometry's per ``max_vertices`` vertices."""
    per = max(1, settings.max_vertices)
    return int(settings.validation_timeout_ms * max(1.0, vertices / per))


def _batches(wkbs: Sequence[bytes], max_vertices: int) -> Iterator[tuple[int, list[bytes]]]:
    """(1-based index of the first, batch): consecutive, up to BATCH_SIZE geometries and ~max_vertices."""
    batch: list[bytes] = []
    first, size = 1, 0
    for k, wkb in enumerate(wkbs, start=1):
        n = _estimate(wkb)
        if batch and (len(batch) >= BATCH_SIZE or size + n > max_vertices):
            yield first, batch
            batch, first, size = [], k, 0
        batch.append(wkb)
        size += n
    if batch:
        yield first, batch


def _run(session: Session, wkbs: list[bytes], *, repair: bool, budget_ms: int, first: int = 1) -> list[Validity]:
    """One statement over ``wkbs`` under ``budget_ms``; raises _BudgetExceeded when it ran out of it."""
    started = time.monotonic()
    effective = [budget_ms]  # what the statement really ran under (the session's own timeout may be shorter)
    try:
        with statement_budget(session, budget_ms) as ms:
            effective[0] = ms
            rows = session.execute(text(VALIDITY_SQL), {"wkbs": wkbs, "repair": repair}).all()
    except DBAPIError as exc:
        named = from_database_error(exc, timeout_ms=budget_ms)
        if isinstance(named, QueryTimeout):
            elapsed_ms = (time.monotonic() - started) * 1000
            # Ours ran out (statement_timeout, or GEOS interrupted by it), unless the cancel came well before.
            if "statement timeout" in str(exc.orig) or elapsed_ms >= 0.9 * effective[0]:
                raise _BudgetExceeded(effective[0]) from exc
        if named is not None:
            raise named from exc
        raise
    log.debug("validated %d geometries in %.0f ms (budget %d ms)", len(wkbs), (time.monotonic() - started) * 1000, ms)
    return [
        Validity(
            index=first + int(r.i) - 1,
            valid=bool(r.valid),
            reason=None if r.valid else str(r.reason),
            location=None if r.valid or r.x is None else (float(r.x), float(r.y)),
            area_before_m2=float(r.area_before or 0.0),
            repaired=bytes(r.repaired) if r.repaired is not None and not r.emptied else None,
            area_after_m2=float(r.area_after) if r.repaired is not None and not r.emptied else None,
        )
        for r in rows
    ]


@contextmanager
def statement_budget(session: Session, budget_ms: int) -> Iterator[int]:
    """Run the enclosed statement under ``statement_timeout = min(budget_ms, the session's own)``."""
    conn = session.connection()
    autocommit = bool(getattr(conn.connection.driver_connection, "autocommit", False))
    # The effective budget and the previous setting, in one round trip; 0 means no timeout.
    pick = (
        "SELECT set_config('statement_timeout', CAST(ms AS text), :local), ms AS now_ms, cur FROM ("
        "SELECT CASE WHEN cur > 0 AND cur < :ms THEN cur ELSE :ms END AS ms, cur FROM ("
        "SELECT CAST(setting AS integer) AS cur FROM pg_settings WHERE name = 'statement_timeout') a) b"
    )
    if not autocommit:
        with session.begin_nested():
            row = session.execute(text(pick), {"ms": budget_ms, "local": True}).one()
            yield int(row.now_ms)
            session.execute(text("SELECT set_config('statement_timeout', :t, true)"), {"t": str(row.cur)})
        return
    row = session.execute(text(pick), {"ms": budget_ms, "local": False}).one()
    try:
        yield int(row.now_ms)
    finally:
        try:
            session.execute(text("SELECT set_config('statement_timeout', :t, false)"), {"t": str(row.cur)})
        except DBAPIError:
            log.warning("could not put statement_timeout back to %s ms; connection discarded", row.cur)
            conn.invalidate()
