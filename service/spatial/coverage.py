"""Exact coverage of raster cells by polygons, and coverage-weighted percentiles (the heat statistics' core).

Partial cells count by the fraction of them the polygon covers, as exactextract does, computed exactly from the
polygon's rings with Green's theorem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry


def _rings(geoms: Sequence[BaseGeometry]) -> list[np.ndarray]:
    """Every ring, exteriors counter-clockwise and holes clockwise."""
    from shapely.geometry.polygon import orient

    out = []
    for g in geoms:
        for poly in getattr(g, "geoms", [g]):
            if poly.is_empty or poly.geom_type != "Polygon":
                continue
            poly = orient(poly, 1.0)
            out.append(np.asarray(poly.exterior.coords)[:, :2])
            out += [np.asarray(ring.coords)[:, :2] for ring in poly.interiors]
    return out


def coverage_fractions(geoms: Sequence[BaseGeometry], transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """Exact fraction (0..1) of each cell of the grid (``transform``, ``shape``) that the polygons cover.

    Green's theorem per cell: the covered area of cell (r, c) is the integral over the boundary pieces in
    row r of clamp(u - c, 0, 1) dv (grid units). Every ring segment is cut where it crosses grid lines; a
    piece in column k adds (mean u - k)·dv to its own cell and dv to every cell left of it (a prefix sum).
    Fully vectorised, linear in vertices + crossings + cells; polygons partly outside the grid are fine.
    """
    height, width = shape
    cw, ch = transform.a, -transform.e
    x0, y0 = transform.c, transform.f
    rings = _rings(geoms)
    if not rings or height == 0 or width == 0:
        return np.zeros(shape, dtype="float64")
    a = np.concatenate([r[:-1] for r in rings])
    b = np.concatenate([r[1:] for r in rings])
    u0, v0 = (a[:, 0] - x0) / cw, (y0 - a[:, 1]) / ch
    u1, v1 = (b[:, 0] - x0) / cw, (y0 - b[:, 1]) / ch
    _, col, row, um, piece_dv = cell_pieces(u0, v0, u1, v1)
    ok = (row >= 0) & (row < height) & (col >= 0)
    row, col, um, piece_dv = row[ok], col[ok], um[ok], piece_dv[ok]
    inside = col < width
    partial = (
        np.bincount(
            row[inside] * width + col[inside],
            weights=(um[inside] - col[inside]) * piece_dv[inside],
            minlength=height * width,
        )
        .reshape(shape)
        .astype(np.float64, copy=False)
    )  # with no piece inside, bincount gives integers
    dcol = np.minimum(col, width)
    deltas = np.bincount(row * (width + 1) + dcol, weights=piece_dv, minlength=height * (width + 1))
    deltas = deltas.reshape(height, width + 1).astype(np.float64, copy=False)
    right_of = np.cumsum(deltas[:, ::-1], axis=1)[:, ::-1] - deltas  # sum over columns k > c
    frac = -(partial + right_of[:, :width])  # v runs downwards: flip the sign
    np.clip(frac, 0.0, 1.0, out=frac)
    return frac


def cell_pieces(
    u0: np.ndarray, v0: np.ndarray, u1: np.ndarray, v1: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments (u0, v0) → (u1, v1) in grid units, cut where they cross a grid line: for every piece its segment,
    the column and row it lies in, its mean u and its dv (the terms of :func:`coverage_fractions`)."""
    du, dv = u1 - u0, v1 - v0
    n = u0.size
    ts, segs = [np.zeros(n), np.ones(n)], [np.arange(n), np.arange(n)]
    for p0, d, f0, f1 in ((u0, du, np.floor(u0), np.floor(u1)), (v0, dv, np.floor(v0), np.floor(v1))):
        count = np.abs(f1 - f0).astype(np.int64)
        total = int(count.sum())
        if total:
            seg = np.repeat(np.arange(n), count)
            first = np.minimum(f0, f1)[seg] + 1
            offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
            ts.append((first + offset - p0[seg]) / d[seg])
            segs.append(seg)
    t, seg = np.concatenate(ts), np.concatenate(segs)
    # By segment, then t: one float sort of seg·4 + t (t lies in [0, 1]), checked; lexsort where it is not exact.
    order = np.argsort(seg * 4.0 + t)
    t, seg = t[order], seg[order]
    if not np.all((seg[1:] != seg[:-1]) | (t[1:] >= t[:-1])):
        order = np.lexsort((t, seg))
        t, seg = t[order], seg[order]
    keep = (seg[:-1] == seg[1:]) & (t[1:] > t[:-1])
    ta, tb, s = t[:-1][keep], t[1:][keep], seg[:-1][keep]
    ua, ub = u0[s] + ta * du[s], u0[s] + tb * du[s]
    va, vb = v0[s] + ta * dv[s], v0[s] + tb * dv[s]
    um, vm = (ua + ub) / 2, (va + vb) / 2
    col, row = np.floor(um).astype(np.int64), np.floor(vm).astype(np.int64)
    return s, col, row, um, vb - va


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    target = q / 100.0 * cum[-1]
    return float(v[min(np.searchsorted(cum, target), v.size - 1)])


# (cell values as float64, coverage-weighted: mean, max, p90, area with data, area above, hotspot overlap)
