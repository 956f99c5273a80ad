"""Heat for a whole batch: the cell under every point, and the coverage-weighted mean and share above the threshold
of every polygon, computed for many polygons at once.

The polygons use the single check's method (:func:`service.spatial.coverage.coverage_fractions`, Green's theorem per
cell, the same window of each polygon as :meth:`service.questions.heat.RasterGrid.raw_stats`), vectorised over
polygons: a chunk of polygons, sorted by window width, is one padded array of window rows, so every row's prefix sum
adds the same numbers in the same order as the single check's. One raster open and (for a raster up to
:data:`service.questions.heat.WHOLE_RASTER_CELLS`) one read per batch; otherwise, and for a polygon whose window alone
passes the chunk budget, each polygon reads its own window (:meth:`RasterGrid.raw_stats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from service.questions.heat import WHOLE_RASTER_CELLS, RasterGrid, open_grid
from service.spatial.coverage import cell_pieces

CHUNK_CELLS = 2_000_000  # padded window cells per chunk (float64 arrays of this size: 16 MB each)


def batch_heat(raster_path: str, geoms: Sequence[BaseGeometry], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(heat_c, share_above)`` per geometry (NaN: no data). Points: the cell's value (rounded to 0.001) and 1.0 or
    0.0; polygons: the coverage-weighted mean (rounded to 0.0001, as ``HeatStats.mean_c``) and the covered share of
    cells at or above ``threshold`` (rounded to 1e-6, as ``HeatStats.share_above``)."""
    n = len(geoms)
    values, shares = np.full(n, np.nan), np.full(n, np.nan)
    arr = np.asarray(geoms, dtype=object)
    is_point = shapely.get_type_id(arr) == 0 if n else np.zeros(0, dtype=bool)
    polys = np.nonzero(~is_point)[0]
    with open_grid(raster_path) as grid:
        if is_point.any():
            _points(grid, arr, np.nonzero(is_point)[0], threshold, values, shares)
        if polys.size:
            _polygons(grid, arr, polys, threshold, values, shares)
    return values, shares


def _points(grid: RasterGrid, arr: np.ndarray, pts: np.ndarray, threshold: float, values: Any, shares: Any) -> None:
    """The cell under each point: one windowed read over the points' cells (or the band already read)."""
    src = grid.src
    xy = shapely.get_coordinates(arr[pts])
    cols, rows = ~src.transform * (xy[:, 0], xy[:, 1])
    cols, rows = np.floor(cols).astype(np.int64), np.floor(rows).astype(np.int64)
    ok = (cols >= 0) & (cols < src.width) & (rows >= 0) & (rows < src.height)
    if not ok.any():
        return
    c0, c1, r0, r1 = cols[ok].min(), cols[ok].max() + 1, rows[ok].min(), rows[ok].max() + 1
    data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
    sel = np.nonzero(ok)[0]
    cell = data[rows[sel] - r0, cols[sel] - c0]
    has = ~np.ma.getmaskarray(cell)
    vals = np.asarray(cell.data, dtype="float64")
    values[pts[sel[has]]] = np.round(vals[has], 3)
    shares[pts[sel[has]]] = (vals[has] >= threshold).astype("float64")


def _windows(grid: RasterGrid, arr: np.ndarray) -> np.ndarray | None:
    """``(c0, r0, width, height)`` of each polygon's window, as :meth:`RasterGrid._window` (north-up rasters;
    None otherwise). Width or height 0: the polygon misses the raster."""
    t, src = grid.src.transform, grid.src
    if not (t.b == 0 and t.d == 0 and t.a > 0 and t.e < 0):
        return None
    b = shapely.bounds(arr)
    c0 = np.maximum(np.floor((b[:, 0] - t.c) / t.a), 0)
    c1 = np.minimum(np.ceil((b[:, 2] - t.c) / t.a) + 1, src.width)
    r0 = np.maximum(np.floor((b[:, 3] - t.f) / t.e), 0)
    r1 = np.minimum(np.ceil((b[:, 1] - t.f) / t.e) + 1, src.height)
    win = np.column_stack([c0, r0, np.maximum(c1 - c0, 0), np.maximum(r1 - r0, 0)])
    return np.where(np.isfinite(win), win, 0).astype(np.int64)


def _polygons(grid: RasterGrid, arr: np.ndarray, polys: np.ndarray, threshold: float, values: Any, shares: Any) -> None:
    win = _windows(grid, arr[polys])
    if win is None:  # a rotated raster: each polygon reads its own window
        for i in polys.tolist():
            _one(grid, arr[i], i, threshold, values, shares)
        return
    hits = (win[:, 2] > 0) & (win[:, 3] > 0)
    big = hits & (win[:, 3] * (win[:, 2] + 1) > CHUNK_CELLS)
    todo = np.nonzero(hits & ~big)[0]
    if todo.size:  # one read: the window around all of them (memory bounded as the zone table's whole band)
        c0, r0 = int(win[todo, 0].min()), int(win[todo, 1].min())
        c1, r1 = int((win[todo, 0] + win[todo, 2]).max()), int((win[todo, 1] + win[todo, 3]).max())
        if (c1 - c0) * (r1 - r0) > WHOLE_RASTER_CELLS:
            big, todo = hits, todo[:0]
        else:
            band = np.asarray(grid.src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0)))
    for k in np.nonzero(big)[0].tolist():
        _one(grid, arr[polys[k]], int(polys[k]), threshold, values, shares)
    todo = todo[np.argsort(win[todo, 2], kind="stable")]  # narrow windows together: little padding
    start = 0
    while start < todo.size:
        rows, end = 0, start
        while end < todo.size and (rows + win[todo[end], 3]) * (win[todo[end], 2] + 1) <= CHUNK_CELLS:
            rows += int(win[todo[end], 3])
            end += 1
        chunk = todo[start:end]
        mean, share = _chunk(grid, arr[polys[chunk]], win[chunk], threshold, (band, c0, r0))
        values[polys[chunk]], shares[polys[chunk]] = mean, share
        start = end


def _one(grid: RasterGrid, geom: BaseGeometry, i: int, threshold: float, values: Any, shares: Any) -> None:
    mean, _high, _p90, with_data, above, _hot = grid.raw_stats([geom], threshold)
    if mean is not None:
        values[i] = round(mean, 4)
    if with_data > 0:
        shares[i] = round(above / with_data, 6)


def _segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ring segment ``(a, b)`` of the polygons (exteriors counter-clockwise, holes clockwise, as
    :func:`service.spatial.coverage.coverage_fractions`), and the polygon (index in ``geoms``) of each."""
    parts, part_of = shapely.get_parts(shapely.orient_polygons(geoms), return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, part_of = parts[keep], part_of[keep]
    if not parts.size:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    # Coordinates and ring offsets without making a geometry per ring (shapely.get_rings would).
    _kind, coords, (ring_offsets, part_offsets) = shapely.to_ragged_array(parts)
    ring_of = np.repeat(np.arange(ring_offsets.size - 1), np.diff(ring_offsets))
    ring_part = np.repeat(np.arange(part_offsets.size - 1), np.diff(part_offsets))
    same = ring_of[:-1] == ring_of[1:]
    return coords[:-1][same], coords[1:][same], part_of[ring_part[ring_of[:-1][same]]]


def _chunk(
    grid: RasterGrid, geoms: np.ndarray, win: np.ndarray, threshold: float, read: tuple[np.ndarray, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and share above of each polygon of a chunk: one padded array of all their windows' rows. ``read``: the
    cells read, and the raster column and row of its first cell."""
    t = grid.src.transform
    m = len(geoms)
    width, height = win[:, 2], win[:, 3]
    wmax = int(width.max())
    row_start = np.concatenate([[0], np.cumsum(height)[:-1]])
    total_rows = int(height.sum())
    a, b, poly = _segments(geoms)
    cw, ch = t.a, -t.e
    x0, y0 = t.c + win[poly, 0] * t.a, t.f + win[poly, 1] * t.e  # each window's origin, as Affine of the window
    u0, v0 = (a[:, 0] - x0) / cw, (y0 - a[:, 1]) / ch
    u1, v1 = (b[:, 0] - x0) / cw, (y0 - b[:, 1]) / ch
    s, col, row, um, piece_dv = cell_pieces(u0, v0, u1, v1)
    p = poly[s]
    w, h = width[p], height[p]
    ok = (row >= 0) & (row < h) & (col >= 0)
    row, col, um, piece_dv, p, w = row[ok], col[ok], um[ok], piece_dv[ok], p[ok], w[ok]
    grow = row_start[p] + row  # the piece's row in the padded array
    inside = col < w
    stride = wmax + 1
    partial = (
        np.bincount(
            grow[inside] * stride + col[inside],
            weights=(um[inside] - col[inside]) * piece_dv[inside],
            minlength=total_rows * stride,
        )
        .reshape(total_rows, stride)
        .astype("float64", copy=False)
    )
    deltas = np.bincount(grow * stride + np.minimum(col, w), weights=piece_dv, minlength=total_rows * stride)
    deltas = deltas.reshape(total_rows, stride).astype("float64", copy=False)  # no pieces: bincount gives int64
    right_of = np.cumsum(deltas[:, ::-1], axis=1)[:, ::-1] - deltas  # zeros of the padding add nothing
    frac = -(partial + right_of)[:, :wmax]
    np.clip(frac, 0.0, 1.0, out=frac)
    row_poly = np.repeat(np.arange(m), height)
    local_row = np.arange(total_rows) - row_start[row_poly]
    cols = np.arange(wmax)
    in_win = cols[None, :] < width[row_poly][:, None]
    band, c0, r0 = read
    band_r = (win[row_poly, 1] - r0 + local_row)[:, None]
    band_c = np.minimum(win[row_poly, 0][:, None] - c0 + cols[None, :], band.shape[1] - 1)
    data = band[band_r, band_c]
    nodata = grid.nodata
    has_data = np.isfinite(data) if nodata is None or np.isnan(nodata) else (data != nodata)
    if nodata is not None and not np.isnan(nodata):
        has_data &= np.isfinite(data)
    valid = has_data & (frac > 0) & in_win
    vals = data[valid].astype("float64")
    wts = frac[valid]
    owner = np.broadcast_to(row_poly[:, None], frac.shape)[valid]
    wsum = np.bincount(owner, weights=wts, minlength=m)
    vsum = np.bincount(owner, weights=vals * wts, minlength=m)
    above = np.bincount(owner, weights=np.where(vals >= threshold, wts, 0.0), minlength=m)
    # Python's round, as HeatStats (numpy's rounds differently at a few halves)
    mean = np.array([round(v / w, 4) if w > 0 else np.nan for v, w in zip(vsum.tolist(), wsum.tolist(), strict=True)])
    area = grid.cell_area
    share = np.array(
        [
            round((x * area) / (w * area), 6) if w > 0 else np.nan
            for x, w in zip(above.tolist(), wsum.tolist(), strict=True)
        ]
    )
    return mean, share
