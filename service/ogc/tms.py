"""The tile matrix sets of our vector tiles (OGC Two Dimensional Tile Matrix Set 2.0, maths by morecantile).

``WebMercatorQuad`` is the OGC registry's, as morecantile ships it. ``NetherlandsRDNewQuad`` is the Dutch grid PDOK
and Geonovum publish (EPSG:28992, top-left origin (-285401.92, 903401.92), 3440.64 m per pixel at level 0 halving
per level, 256-pixel tiles, 1 x 1 tiles at level 0 doubling per level, levels 0-16). It is not in the OGC registry
(Geonovum's vector tiling guideline lists its URI as still to be published), so its document carries no ``uri`` and
tile sets point to our own definition at ``/tileMatrixSets/NetherlandsRDNewQuad``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import morecantile
from morecantile import TileMatrixSet

from service.core.errors import NotFound

WEB_MERCATOR_QUAD = "WebMercatorQuad"
RD_NEW_QUAD = "NetherlandsRDNewQuad"
RD_ORIGIN = (-285401.92, 903401.92)
RD_CELL_SIZE_0 = 3440.64
SCREEN_PIXEL = 0.00028  # m: the standardized rendering pixel size of the 2D TMS standard
CRS_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
# The levels we serve: WebMercatorQuad to 22 (as before), the RD grid to 16 (its published depth).
MAX_LEVEL = {WEB_MERCATOR_QUAD: 22, RD_NEW_QUAD: 16}
SRID = {WEB_MERCATOR_QUAD: 3857, RD_NEW_QUAD: 28992}


def _rd_definition() -> dict[str, Any]:
    top = MAX_LEVEL[RD_NEW_QUAD]
    size0 = RD_CELL_SIZE_0 * 256
    x0, y1 = RD_ORIGIN
    return {
        "id": RD_NEW_QUAD,
        "title": "Amersfoort / RD New scheme for the Netherlands",
        "crs": CRS_URI.format(28992),
        "orderedAxes": ["X", "Y"],
        "boundingBox": {
            "lowerLeft": [x0, round(y1 - size0, 2)],
            "upperRight": [round(x0 + size0, 2), y1],
            "crs": CRS_URI.format(28992),
        },
        "tileMatrices": [
            {
                "id": str(z),
                "scaleDenominator": RD_CELL_SIZE_0 / 2**z / SCREEN_PIXEL,
                "cellSize": RD_CELL_SIZE_0 / 2**z,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [x0, y1],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": 2**z,
                "matrixHeight": 2**z,
            }
            for z in range(top + 1)
        ],
    }


@cache
def get(tms_id: str) -> TileMatrixSet:
    """The tile matrix set ``tms_id``; 404 naming the ones we have for any other."""
    if tms_id == WEB_MERCATOR_QUAD:
        return morecantile.tms.get(WEB_MERCATOR_QUAD)
    if tms_id == RD_NEW_QUAD:
        return TileMatrixSet.model_validate(_rd_definition())
    raise NotFound(f"tile matrix set {tms_id!r} does not exist; use one of: {', '.join(MAX_LEVEL)}")


def ids() -> list[str]:
    return list(MAX_LEVEL)


def document(tms_id: str) -> dict[str, Any]:
    """The full 2D TMS 2.0 JSON document as morecantile writes it (levels beyond the ones we serve left out)."""
    doc: dict[str, Any] = json.loads(get(tms_id).model_dump_json(exclude_none=True))
    doc["tileMatrices"] = [m for m in doc["tileMatrices"] if int(m["id"]) <= MAX_LEVEL[tms_id]]
    return doc


def listing(base: str) -> dict[str, Any]:
    """``/tileMatrixSets``: every set with its id, title, URI (when registered), CRS and a link to its definition."""
    sets = []
    for tms_id in ids():
        t = get(tms_id)
        entry: dict[str, Any] = {"id": tms_id, "title": t.title, "crs": CRS_URI.format(SRID[tms_id])}
        if t.uri:
            entry["uri"] = t.uri
        entry["links"] = [
            {
                "rel": "self",
                "type": "application/json",
                "title": f"{tms_id} (definitie)",
                "href": f"{base}/tileMatrixSets/{tms_id}",
            }
        ]
        sets.append(entry)
    self_link = {"rel": "self", "type": "application/json", "href": f"{base}/tileMatrixSets"}
    return {"links": [self_link], "tileMatrixSets": sets}


def set_uri(tms_id: str, base: str) -> str:
    """The ``tileMatrixSetURI`` of a tile set: the OGC registry URI, or our own definition for the RD grid."""
    return get(tms_id).uri or f"{base}/tileMatrixSets/{tms_id}"


@dataclass(frozen=True)
class Limits:
    """The tiles of one tile matrix: rows and columns from min to max, both included."""

    level: int
    min_row: int
    max_row: int
    min_col: int
    max_col: int

    def holds(self, row: int, col: int) -> bool:
        return self.min_row <= row <= self.max_row and self.min_col <= col <= self.max_col

    def doc(self) -> dict[str, Any]:
        return {
            "tileMatrix": str(self.level),
            "minTileRow": self.min_row,
            "maxTileRow": self.max_row,
            "minTileCol": self.min_col,
            "maxTileCol": self.max_col,
        }

    def text(self) -> str:
        return f"rows {self.min_row}-{self.max_row}, columns {self.min_col}-{self.max_col}"


def matrix_limits(tms_id: str, level: int) -> Limits:
    m = get(tms_id).matrix(level)
    return Limits(level, 0, m.matrixHeight - 1, 0, m.matrixWidth - 1)


def check_tile(tms_id: str, level: int, row: int, col: int) -> None:
    """404 naming the matrix's limits for a tile outside the tile matrix set."""
    get(tms_id)  # 404 for an unknown set
    top = MAX_LEVEL[tms_id]
    if not 0 <= level <= top:
        raise NotFound(f"tile matrix {level} does not exist in {tms_id}; tile matrices 0-{top}")
    lim = matrix_limits(tms_id, level)
    if not lim.holds(row, col):
        raise NotFound(f"tile {level}/{row}/{col} is outside tile matrix {level} of {tms_id}: {lim.text()}")


def data_limits(tms_id: str, bounds: tuple[float, float, float, float] | None) -> list[Limits]:
    """Per tile matrix, the tiles that intersect ``bounds`` (xmin, ymin, xmax, ymax in the set's CRS); none without."""
    if bounds is None:
        return []
    t = get(tms_id)
    xmin, ymin, xmax, ymax = bounds
    out = []
    for level in range(MAX_LEVEL[tms_id] + 1):
        m = t.matrix(level)
        x0, y0 = m.pointOfOrigin
        w, h = m.cellSize * m.tileWidth, m.cellSize * m.tileHeight

        def clamp(v: float, n: int) -> int:
            return min(max(int(math.floor(v)), 0), n - 1)

        out.append(
            Limits(
                level,
                clamp((y0 - ymax) / h, m.matrixHeight),
                clamp((y0 - ymin) / h - 1e-9, m.matrixHeight),
                clamp((xmin - x0) / w, m.matrixWidth),
                clamp((xmax - x0) / w - 1e-9, m.matrixWidth),
            )
        )
    return out


def envelope(tms_id: str, level: int, row: int, col: int) -> tuple[float, float, float, float]:
    """The tile's bounds in the set's CRS (xmin, ymin, xmax, ymax)."""
    b = get(tms_id).xy_bounds(morecantile.Tile(x=col, y=row, z=level))
    return b.left, b.bottom, b.right, b.top
