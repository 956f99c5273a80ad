"""The heat zone table (``GET /heat/zones``): heat statistics of every Omgevingsvisie and Natura 2000 zone.

With many zones (a layer of 800,000 features) the table is real work, so it is bounded three ways:

- It is computed once per (raster version, zone layer versions, threshold) and kept in a
  :class:`ZoneTableCache` (the API keeps one per process, the last ``keep`` tables); later questions, and
  every page of the answer, are read from it.
- The raster is read once for the whole table (see :class:`service.questions.heat.RasterGrid`), the zones are read
  in batches in (layer, id) order, and ``stop`` (e.g. the request's client went away) is asked between
  zones. Stopping keeps what was done: the next question resumes where it stopped, so the first computation
  is paid once however often clients give up.
- Answers are pages (``offset``, ``limit``) of the table, hottest first; the total is told apart.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import ServiceBusy
from service.core.settings import Settings, get_settings
from service.questions.heat import (
    HeatZoneRow,
    RasterRef,
    current_raster,
    heat_threshold,
    hotspot_threshold,
    open_grid,
    stats_fields,
)

ZONE_CATEGORIES = ("omgevingsvisie", "natura2000")
BATCH = 2_000  # zones read from the database at a time
FIELDS = 7  # area_m2, mean, max, p90, area with data, area above, hotspot overlap (NaN for None)


def _never() -> bool:
    return False


class ZoneTable:
    """The statistics of every zone for one key, filled in (layer, id) order; compact (floats in an array)."""

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.ids: list[tuple[str, str, str]] = []  # (layer, feature id, name)
        self.values = array("d")
        self.layer_index = 0  # resume point: the layer being read and the last feature id done in it
        self.last_fid: str | None = None
        self.complete = False
        self.order: list[int] = []  # hottest (mean) first, once complete
        self.threshold_c = 0.0
        self.hotspot_threshold_c: float | None = None
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, layer: str, fid: str, name: str, area_m2: float, raw: tuple[Any, ...]) -> None:
        self.ids.append((layer, fid, name))
        self.values.extend([area_m2, *(math.nan if v is None else v for v in raw)])
        self.last_fid = fid

    def finish(self) -> None:
        means = [math.inf if math.isnan(m) else -m for m in self.values[1::FIELDS]]
        # Stable: zones with equal means stay in (layer, id) order; zones without data last.
        self.order = sorted(range(len(self.ids)), key=means.__getitem__)
        self.complete = True

    def rows(self, ref: RasterRef, offset: int, limit: int) -> list[HeatZoneRow]:
        out = []
        for i in self.order[offset : offset + limit]:
            layer, fid, name = self.ids[i]
            area, *raw = (None if math.isnan(v) else v for v in self.values[i * FIELDS : (i + 1) * FIELDS])
            fields = stats_fields(
                tuple(raw),  # type: ignore[arg-type]
                area_m2=float(area or 0.0),
                threshold_c=self.threshold_c,
                hotspot_threshold_c=self.hotspot_threshold_c,
            )
            out.append(HeatZoneRow(layer=layer, feature_id=fid, name=name, raster=ref, **fields))
        return out


class ZoneTableCache:
    """The last ``keep`` zone tables of a process (one per raster version, zone layer versions and threshold)."""

    def __init__(self, keep: int = 3) -> None:
        self.keep = keep
        self._tables: OrderedDict[Hashable, ZoneTable] = OrderedDict()
        self._lock = threading.Lock()
        self.zones_computed = 0  # zone statistics computed, ever (an answer from the cache adds none)

    def table(self, key: Hashable) -> ZoneTable:
        with self._lock:
            table = self._tables.get(key)
            if table is None:
                table = self._tables[key] = ZoneTable(key)
                while len(self._tables) > self.keep:
                    self._tables.popitem(last=False)
            self._tables.move_to_end(key)
            return table

    def tables(self) -> list[ZoneTable]:
        with self._lock:
            return list(self._tables.values())


def zone_layers(session: Session) -> list[tuple[str, int]]:
    """(slug, version id) of each zone layer as current now (or at the session's ``as_of``), by slug."""
    rows = session.execute(
        text(
            "SELECT slug, version_id AS v FROM gc_versions_in_force "
            "WHERE kind = 'vector' AND category = ANY(:cats) AND version_id IS NOT NULL ORDER BY slug"
        ),
        {"cats": list(ZONE_CATEGORIES)},
    ).all()
    return [(r.slug, int(r.v)) for r in rows]


def zone_table(
    session: Session,
    *,
    threshold_c: float | None = None,
    settings: Settings | None = None,
    stop: Callable[[], bool] | None = None,
    cache: ZoneTableCache | None = None,
) -> tuple[ZoneTable, RasterRef]:
    """The complete zone table of the current versions, from ``cache`` or computed (resumed) now.

    ``stop`` is asked between zones; when it answers True the work stops with :class:`ServiceBusy`, keeping
    the zones done so far in the cache for the next question.
    """
    settings = settings or get_settings()
    threshold = heat_threshold(threshold_c, settings)
    stop = stop or _never
    raster, ref = current_raster(session, settings=settings)
    layers = zone_layers(session)
    cache = cache or ZoneTableCache(keep=1)
    table = cache.table((raster.id, tuple(layers), threshold))
    while not table.lock.acquire(timeout=0.2):  # another request is filling this very table: wait for it
        if stop():
            raise ServiceBusy("the zone table question was stopped (the client went away) while waiting")
    try:
        if not table.complete:
            _fill(session, table, layers, raster, threshold, stop, cache)
    finally:
        table.lock.release()
    return table, ref


def _fill(
    session: Session,
    table: ZoneTable,
    layers: list[tuple[str, int]],
    raster: Any,
    threshold: float,
    stop: Callable[[], bool],
    cache: ZoneTableCache,
) -> None:
    table.threshold_c = threshold
    table.hotspot_threshold_c = hotspot = hotspot_threshold(session, raster.id)
    with open_grid(raster.raster_path, whole=True) as grid:
        while table.layer_index < len(layers):
            slug, version_id = layers[table.layer_index]
            while True:
                batch = session.execute(
                    text(
                        "SELECT fid, name, ST_Area(geom) AS area, ST_AsBinary(geom) AS wkb FROM features "
                        "WHERE version_id = :v AND fid > :after ORDER BY fid LIMIT :n"
                        if table.last_fid is not None
                        else "SELECT fid, name, ST_Area(geom) AS area, ST_AsBinary(geom) AS wkb FROM features "
                        "WHERE version_id = :v ORDER BY fid LIMIT :n"
                    ),
                    {"v": version_id, "after": table.last_fid, "n": BATCH},
                ).all()
                geoms = shapely.from_wkb([bytes(r.wkb) for r in batch])
                for r, geom in zip(batch, geoms, strict=True):
                    if stop():
                        raise ServiceBusy(
                            f"the zone table question was stopped (the client went away) after {len(table)} "
                            "zones; they are kept, and the next question goes on from there"
                        )
                    raw = grid.raw_stats([geom], threshold, hotspot)
                    table.add(slug, r.fid, r.name, float(r.area), raw)
                    cache.zones_computed += 1
                if len(batch) < BATCH:
                    break
            table.layer_index += 1
            table.last_fid = None
    table.finish()


def zone_page(
    session: Session,
    *,
    threshold_c: float | None = None,
    offset: int = 0,
    limit: int = 1_000,
    settings: Settings | None = None,
    stop: Callable[[], bool] | None = None,
    cache: ZoneTableCache | None = None,
) -> tuple[list[HeatZoneRow], int]:
    """Rows ``offset`` .. ``offset + limit`` of the zone table (hottest first), and how many zones there are."""
    table, ref = zone_table(session, threshold_c=threshold_c, settings=settings, stop=stop, cache=cache)
    return table.rows(ref, offset, limit), len(table)
