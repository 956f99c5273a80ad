"""The batch's input side: the items' geometries validated, loaded into the session's temporary ``batch_input``
table ``(i, geom)`` (binary COPY, GiST index, statistics), and set-based results read as plain tuples.

A binary COPY sends each geometry as EWKB, the form PostGIS reads a geometry's binary input in: no hex text to
write and parse (measured: about half the time of the text COPY for 100,000 points).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import GeometryTooComplex, InvalidInput
from service.core.settings import Settings
from service.questions.zones import CONTEXT_SQL, ZONE_CATEGORIES, ContextRows, zone_context_rows
from service.spatial.geo import ParsedGeometry
from service.spatial.validation import validate_many


def prepare(
    session: Session, items: Sequence[ParsedGeometry], repair: bool, settings: Settings | None = None
) -> list[BaseGeometry]:
    """The items' geometries, polygons validated (and repaired on request) by PostGIS in one set-based pass
    under the validation time budget (:func:`service.spatial.validation.validate_many`)."""
    geoms: list[BaseGeometry] = []
    polygons: list[int] = []
    for i, item in enumerate(items, start=1):
        kind = item.geom.geom_type
        if kind in ("Polygon", "MultiPolygon"):
            polygons.append(i - 1)
        elif kind != "Point":
            raise InvalidInput(f"feature {i}: an initiative is a Point or a (Multi)Polygon, not a {kind}")
        geoms.append(item.geom)
    if not polygons:
        return geoms
    try:
        wkbs = shapely.to_wkb(np.asarray(geoms, dtype=object)[polygons]).tolist()
        checks = validate_many(session, wkbs, repair=repair, settings=settings)
    except GeometryTooComplex as exc:
        k = polygons[(exc.index or 1) - 1] + 1
        raise GeometryTooComplex(
            f"feature {k}: " + exc.detail.split(": ", 1)[-1], index=k, vertices=exc.vertices, budget_ms=exc.budget_ms
        ) from exc
    for k, v in zip(polygons, checks, strict=True):
        if v.valid:
            continue
        if not repair:
            raise InvalidInput(f"feature {k + 1}: {v.problem}; send repair=true to repair it with ST_MakeValid")
        if v.repaired is None:
            raise InvalidInput(f"feature {k + 1}: {v.problem}; repairing leaves no polygon")
        geoms[k] = shapely.from_wkb(v.repaired)
    return geoms


def context_rows(session: Session, distance: float, models: bool) -> ContextRows:
    """:data:`service.questions.zones.CONTEXT_SQL` over ``batch_input``: through :func:`zone_context_rows` for the
    pydantic rows, else read as plain tuples (a fifth of the Python time for 100,000 rows), keeping only the rows
    it says something of (a point near no zone has no row: the same empty answer)."""
    if models:
        return zone_context_rows(session, "batch_input", {}, distance)
    sql = str(text(CONTEXT_SQL.format(source="batch_input")).compile(dialect=session.get_bind().dialect))
    bound = {"nearby_m": distance, "categories": list(ZONE_CATEGORIES)}
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        # jsonb as text, decoded below in one json.loads per column (not one per row: half the Python time)
        cur.execute(f"SELECT c.i, c.nearby::text, c.nested::text, c.area, c.outside FROM ({sql}) c", bound)
        found = [r for r in cur.fetchall() if r[1] is not None or r[2] is not None or r[3] is not None]
    nearby, nested = (json.loads("[" + ",".join(r[k] or "null" for r in found) + "]") for k in (1, 2))
    return ContextRows(
        rows={r[0]: ContextRow(r[0], a, b, r[3], r[4]) for r, a, b in zip(found, nearby, nested, strict=True)},
        layers={},
    )


class ContextRow(NamedTuple):
    """A row of :data:`service.questions.zones.CONTEXT_SQL` (attributes as the rows of :func:`zone_context_rows`)."""

    i: int
    nearby: Any
    nested: Any
    area: float | None
    outside: float | None


def read_frame(session: Session, sql: str, params: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    """Run ``sql`` (psycopg %(name)s parameters) on the session's connection; plain tuples into pandas."""
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(sql, params)
        return pd.DataFrame.from_records(cur.fetchall(), columns=columns).set_index(columns[0])


def load_temp(session: Session, geoms: Sequence[BaseGeometry]) -> None:
    session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS batch_input (i integer PRIMARY KEY, geom geometry(Geometry, 28992)) "
            "ON COMMIT DROP"
        )
    )
    session.execute(text("TRUNCATE batch_input"))
    # One big query per question: JIT compilation costs more than it saves here, and sorting needs memory.
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    raw = session.connection().connection.driver_connection
    # Binary COPY: PostGIS reads a geometry's binary form as (E)WKB, so the bytes go as they are (no hex, no
    # parsing); the column's type gives them SRID 28992 (no shapely.set_srid copy of every geometry).
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object))
    with raw.cursor() as cur, cur.copy("COPY batch_input (i, geom) FROM STDIN (FORMAT BINARY)") as copy:  # type: ignore[union-attr]
        copy.write(copy_binary(wkb.tolist()))
    session.execute(text("CREATE INDEX ON batch_input USING gist (geom)"))
    session.execute(text("ANALYZE batch_input"))


COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2  # signature, flags, no header extension
ROW_HEAD = np.dtype([("fields", ">i2"), ("i_len", ">i4"), ("i", ">i4"), ("geom_len", ">i4")])


def copy_binary(wkb: list[bytes]) -> bytes:
    """The whole binary COPY stream of rows ``(i, geom)`` (i = 0, 1, ...), built at once with numpy: each row is
    2 fields, a 4-byte integer and the geometry's WKB (PostgreSQL's binary COPY format)."""
    n = len(wkb)
    if n == 0:
        return COPY_SIGNATURE + b"\xff\xff"
    lengths = np.fromiter((len(w) for w in wkb), dtype=np.int64, count=n)
    head = np.zeros(n, dtype=ROW_HEAD)
    head["fields"], head["i_len"], head["i"], head["geom_len"] = 2, 4, np.arange(n), lengths
    size = ROW_HEAD.itemsize
    row_start = np.concatenate([[0], np.cumsum(lengths + size)[:-1]]).astype(np.int64)
    out = np.empty(int((lengths + size).sum()), dtype=np.uint8)
    out[(row_start[:, None] + np.arange(size)).ravel()] = head.view(np.uint8)
    body = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    body_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    out[np.repeat(row_start + size - body_start, lengths) + np.arange(body.size)] = body
    return COPY_SIGNATURE + out.tobytes() + b"\xff\xff"
