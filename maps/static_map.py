"""The check map as a static SVG, drawn by us from the geometries in RD (for the PDF and the printed report).

A PDF cannot run Leaflet, and the report may fetch nothing at run time: no basemap tiles, no fonts, no images.
The map shows the plan (outlined), the zones it touches (filled, semi-transparent), the nearest Natura 2000 site
and the shortest line to it labelled with its distance, a scale bar in metres, a north arrow and a legend. RD
(EPSG:28992) is a conformal projection in metres with grid north within a degree of true north in Assen, so the
map is RD scaled to the page, y flipped. Geometries are clipped to the map's extent and simplified to about half
a pixel in the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

import shapely
from shapely.geometry import LineString, box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from maps.data import COLOURS
from service.core.dutch import getal, meters
from service.core.settings import Settings, get_settings
from service.questions.check import CheckReport

N2K_COLOUR = "#1b7837"
FALLBACK_COLOUR = "#ff7f00"
FILL_OPACITY = 0.35
WIDTH, MAP_HEIGHT = 680, 440
LEGEND_ROW = 18
MIN_EXTENT_M = 400.0

LINE_SQL = """
SELECT ST_AsBinary(ST_ShortestLine(ST_GeomFromWKB(:wkb, 28992), f.geom))
FROM features f JOIN gc_versions_in_force l ON l.version_id = f.version_id
WHERE l.slug = 'natura2000' AND f.fid = :fid
"""

CLIPPED_SQL = """
SELECT ST_AsBinary(ST_ClipByBox2D(ST_SimplifyPreserveTopology(f.geom, :tol),
                                  ST_MakeEnvelope(:x0, :y0, :x1, :y1, 28992)))
FROM features f JOIN gc_versions_in_force l ON l.version_id = f.version_id
WHERE l.slug = :slug AND f.fid = :fid AND f.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 28992)
"""


@dataclass
class Area:
    label: str
    colour: str
    geom: BaseGeometry


@dataclass
class MapData:
    """What the static map draws, in RD: the extent (x0, y0, x1, y1) and the geometries clipped to it."""

    plan: BaseGeometry
    extent: tuple[float, float, float, float]
    areas: list[Area] = field(default_factory=list)
    line: BaseGeometry | None = None
    line_label: str = ""


def _extent(geoms: list[BaseGeometry], aspect: float) -> tuple[float, float, float, float]:
    """The bounds of ``geoms``, padded by 12 %, at least MIN_EXTENT_M across, widened to ``aspect`` (w/h)."""
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = max((x1 - x0) * 1.24, MIN_EXTENT_M)
    h = max((y1 - y0) * 1.24, MIN_EXTENT_M)
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _zone_label(name: str, layer_title: str) -> str:
    return name if name.strip().lower() == layer_title.strip().lower() else f"{name} ({layer_title})"


def map_data(session: Session, report: CheckReport, geom: BaseGeometry, *, settings: Settings | None = None) -> MapData:
    """The geometries of one quickscan's map (``geom`` is the initiative in RD, as checked)."""
    settings = settings or get_settings()
    n = report.natura2000
    wkb = session.execute(text(LINE_SQL), {"wkb": shapely.to_wkb(geom), "fid": n.nearest.feature_id}).scalar()
    line = shapely.from_wkb(bytes(wkb)) if wkb is not None else None
    extent = _extent([geom] + ([line] if line is not None else []), WIDTH / MAP_HEIGHT)
    x0, y0, x1, y1 = extent
    tol = max(settings.display_tolerance_m, (x1 - x0) / WIDTH / 2)
    params = {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "tol": tol}
    areas: list[Area] = []
    wanted = [
        (z.layer, z.feature_id, _zone_label(z.name, z.layer_title), COLOURS.get(z.layer, FALLBACK_COLOUR))
        for z in report.zones
    ]
    if not any(z.layer == "natura2000" and z.feature_id == n.nearest.feature_id for z in report.zones):
        wanted.append(("natura2000", n.nearest.feature_id, f"Natura 2000: {n.nearest.name}", N2K_COLOUR))
    for slug, fid, label, colour in wanted:
        part = session.execute(text(CLIPPED_SQL), {**params, "slug": slug, "fid": fid}).scalar()
        if part is not None:
            areas.append(Area(label=label, colour=colour, geom=shapely.from_wkb(bytes(part))))
    label = f"Natura 2000: {n.nearest.name} — " + ("ligt erin" if n.inside else meters(n.distance_m))
    plan = geom if geom.geom_type == "Point" else geom.simplify(tol, preserve_topology=True)  # the page's detail
    return MapData(plan=plan, extent=extent, areas=areas, line=line, line_label=label)


class _Page:
    """RD → SVG pixels for one extent drawn into a WIDTH × MAP_HEIGHT box."""

    def __init__(self, extent: tuple[float, float, float, float]) -> None:
        self.x0, self.y0, self.x1, self.y1 = extent
        self.scale = min(WIDTH / (self.x1 - self.x0), MAP_HEIGHT / (self.y1 - self.y0))

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.x0) * self.scale, (self.y1 - y) * self.scale

    def path(self, geom: BaseGeometry) -> str:
        parts: list[str] = []
        for g in getattr(geom, "geoms", [geom]):
            if g.geom_type in ("Polygon", "MultiPolygon", "GeometryCollection", "MultiLineString"):
                if g.geom_type != "Polygon":
                    parts.append(self.path(g))
                    continue
                for ring in [g.exterior, *g.interiors]:
                    parts.append(self._ring(ring.coords, close=True))
            elif g.geom_type in ("LineString", "LinearRing"):
                parts.append(self._ring(g.coords, close=False))
        return " ".join(p for p in parts if p)

    def _ring(self, coords: object, *, close: bool) -> str:
        pts = [self.xy(x, y) for x, y, *_ in coords]  # type: ignore[attr-defined]
        if not pts:
            return ""
        body = " L".join(f"{x:.1f} {y:.1f}" for x, y in pts)
        return f"M{body}{' Z' if close else ''}"


def _nice_length(max_m: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres not over ``max_m``."""
    exp = math.floor(math.log10(max_m))
    for step in (5, 2, 1):
        if step * 10**exp <= max_m:
            return float(step * 10**exp)
    return float(10**exp)


def _length_label(m: float) -> str:
    return f"{getal(m / 1000, 0 if m % 1000 == 0 else 1)} km" if m >= 1000 else meters(m)


def _scale_bar(page: _Page) -> str:
    length = _nice_length((WIDTH / 4) / page.scale)
    px = length * page.scale
    x, y = 14.0, MAP_HEIGHT - 18.0
    half = px / 2
    return (
        f"<g class='schaal'><rect x='{x - 6:.1f}' y='{y - 20:.1f}' width='{px + 12:.1f}' height='30' fill='#ffffff' "
        f"fill-opacity='0.85'/>"
        f"<rect x='{x:.1f}' y='{y:.1f}' width='{half:.1f}' height='5' fill='#000000' stroke='#000000'/>"
        f"<rect x='{x + half:.1f}' y='{y:.1f}' width='{half:.1f}' height='5' fill='#ffffff' stroke='#000000'/>"
        f"<text x='{x:.1f}' y='{y - 5:.1f}' font-size='11'>0</text>"
        f"<text x='{x + px:.1f}' y='{y - 5:.1f}' font-size='11' text-anchor='end'>{_length_label(length)}</text></g>"
    )


def _north_arrow() -> str:
    x, y = WIDTH - 28.0, 14.0
    return (
        f"<g class='noordpijl'><rect x='{x - 14}' y='{y - 6}' width='28' height='50' fill='#ffffff' "
        f"fill-opacity='0.85'/><path d='M{x} {y + 8} L{x + 8} {y + 38} L{x} {y + 31} L{x - 8} {y + 38} Z' "
        f"fill='#000000'/><text x='{x}' y='{y + 6}' font-size='12' font-weight='bold' text-anchor='middle'>N</text>"
        "</g>"
    )


def _line_label(page: _Page, line: BaseGeometry, label: str) -> str:
    if line.is_empty:
        return ""
    mid = line.interpolate(0.5, normalized=True) if isinstance(line, LineString) else line.centroid
    x, y = page.xy(mid.x, mid.y)
    width = 6.6 * len(label) + 10
    x = min(max(x + 8, 4.0), WIDTH - width - 4)
    y = min(max(y - 10, 20.0), MAP_HEIGHT - 40)
    return (
        f"<g class='n2k-label'><rect x='{x:.1f}' y='{y - 13:.1f}' width='{width:.1f}' height='18' rx='3' "
        f"fill='#ffffff' fill-opacity='0.9' stroke='{N2K_COLOUR}'/>"
        f"<text x='{x + 5:.1f}' y='{y:.1f}' font-size='12' fill='#0b3d1a'>{escape(label)}</text></g>"
    )


def _legend(data: MapData, top: float) -> tuple[str, float]:
    rows = [("plan", "#000000", "Plan (initiatief)")]
    rows += [("vlak", a.colour, a.label) for a in data.areas]
    if data.line is not None:
        rows.append(("lijn", N2K_COLOUR, f"Kortste lijn tot {data.line_label}"))
    out = [f"<g class='legenda' font-size='12'><text x='0' y='{top + 13:.1f}' font-weight='bold'>Legenda</text>"]
    for i, (kind, colour, label) in enumerate(rows, start=1):
        y = top + i * LEGEND_ROW + 4
        if kind == "plan":
            out.append(
                f"<rect x='2' y='{y:.1f}' width='22' height='12' fill='none' stroke='#000000' stroke-width='2.5'/>"
            )
        elif kind == "vlak":
            out.append(
                f"<rect x='2' y='{y:.1f}' width='22' height='12' fill='{colour}' fill-opacity='{FILL_OPACITY}' "
                f"stroke='{colour}' stroke-width='1.5'/>"
            )
        else:
            out.append(
                f"<line x1='2' y1='{y + 6:.1f}' x2='24' y2='{y + 6:.1f}' stroke='{colour}' stroke-width='3' "
                "stroke-dasharray='6 4'/>"
            )
        out.append(f"<text x='32' y='{y + 10:.1f}'>{escape(label)}</text>")
    out.append("</g>")
    return "".join(out), top + (len(rows) + 1) * LEGEND_ROW + 8


def draw_svg(data: MapData) -> str:
    """The map as an inline SVG element (no external references, no scripts)."""
    page = _Page(data.extent)
    body: list[str] = [f"<rect width='{WIDTH}' height='{MAP_HEIGHT}' fill='#ffffff'/>"]
    frame = box(*data.extent)
    for area in data.areas:
        d = page.path(area.geom.intersection(frame))
        if d:
            body.append(
                f"<path d='{d}' fill='{area.colour}' fill-opacity='{FILL_OPACITY}' fill-rule='evenodd' "
                f"stroke='{area.colour}' stroke-width='1.5'><title>{escape(area.label)}</title></path>"
            )
    if data.line is not None and not data.line.is_empty and data.line.length > 0:
        body.append(
            f"<path d='{page.path(data.line)}' fill='none' stroke='{N2K_COLOUR}' stroke-width='3' "
            "stroke-dasharray='8 6'/>"
        )
    if data.plan.geom_type == "Point":
        x, y = page.xy(data.plan.x, data.plan.y)
        body.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='7' fill='#ffffff' stroke='#000000' stroke-width='3'/>")
    else:
        body.append(
            f"<path d='{page.path(data.plan)}' fill='#ffffff' fill-opacity='0.25' fill-rule='evenodd' "
            "stroke='#000000' stroke-width='3'/>"
        )
    if data.line is not None:
        body.append(_line_label(page, data.line, data.line_label))
    body += [_scale_bar(page), _north_arrow()]
    body.append(f"<rect width='{WIDTH}' height='{MAP_HEIGHT}' fill='none' stroke='#888888'/>")
    legend, height = _legend(data, MAP_HEIGHT + 8)
    return (
        f"<svg class='statische-kaart' role='img' aria-label='Kaart van het plan, de gebieden en Natura 2000' "
        f"viewBox='0 0 {WIDTH} {height:.0f}' width='{WIDTH}' height='{height:.0f}' "
        f"font-family='DejaVu Sans, Liberation Sans, Arial, sans-serif'>"
        f"<clipPath id='kaartvlak'><rect width='{WIDTH}' height='{MAP_HEIGHT}'/></clipPath>"
        f"<g clip-path='url(#kaartvlak)'>{''.join(body)}</g>{legend}</svg>"
    )


def plan_map_svg(session: Session, report: CheckReport, geom: BaseGeometry, *, settings: Settings | None = None) -> str:
    """The static map of one quickscan as inline SVG."""
    return draw_svg(map_data(session, report, geom, settings=settings))
