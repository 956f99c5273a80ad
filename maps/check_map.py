"""The check map: the initiative, the zones it touches, the shortest line to Natura 2000, and the heat."""

from __future__ import annotations

import json
from html import escape
from typing import Any

import folium
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from maps.data import COLOURS
from maps.overview import CSS, DutchControls, ImageUrlOverlay, basemaps
from service.core.dutch import meters, oppervlakte, procent
from service.core.settings import Settings, get_settings
from service.questions.check import CheckReport
from service.spatial.geo import to_wgs84_geojson

LINE_SQL = """
SELECT ST_AsGeoJSON(ST_Transform(ST_ShortestLine(ST_GeomFromWKB(:wkb, 28992), f.geom), 4326), 7)
FROM features f JOIN gc_versions_in_force l ON l.version_id = f.version_id
WHERE l.slug = 'natura2000' AND f.fid = :fid
"""

ZONE_SQL = """
SELECT ST_AsGeoJSON(ST_Transform(ST_SimplifyPreserveTopology(f.geom, :tol), 4326), 6)
FROM features f JOIN gc_versions_in_force l ON l.version_id = f.version_id
WHERE l.slug = :slug AND f.fid = :fid
"""


def check_map(
    session: Session,
    report: CheckReport,
    geom: BaseGeometry,
    *,
    settings: Settings | None = None,
    heat_url: str | None = None,
    heat_bounds: list[list[float]] | None = None,
) -> folium.Map:
    """A map of one quickscan (``geom`` is the initiative in RD)."""
    settings = settings or get_settings()
    m = folium.Map(tiles=None, control_scale=False, zoom_control=False)  # Dutch controls below
    for i, (name, url, attribution) in enumerate(basemaps(settings)):
        folium.TileLayer(url, name=name, attr=attribution, max_zoom=19, show=i == 0, overlay=False).add_to(m)
    if heat_url and heat_bounds:
        heat = folium.FeatureGroup(name="Hitte-eiland (°C)", show=True)
        ImageUrlOverlay(heat_url, heat_bounds).add_to(heat)
        heat.add_to(m)
    zones = folium.FeatureGroup(name="Geraakte gebieden", show=True)
    for z in report.zones:
        gj = session.execute(
            text(ZONE_SQL), {"slug": z.layer, "fid": z.feature_id, "tol": settings.display_tolerance_m}
        ).scalar()
        if gj is None:
            continue
        colour = COLOURS.get(z.layer, "#ff7f00")
        overlap = (
            "punt ligt erin" if z.overlap_m2 is None else f"{oppervlakte(z.overlap_m2)} ({procent(z.overlap_pct)})"
        )
        popup = (
            f"<strong>{escape(z.name)}</strong><br>{escape(z.layer_title)} · {escape(z.source.label)}<br>"
            f"Overlap: {escape(overlap)}<br><small>{escape(z.policy.section or '')} "
            f"{escape(z.policy.summary or '')}</small>"
        )
        layer = folium.GeoJson(
            json.loads(gj),
            style_function=lambda _f, c=colour: {"color": c, "weight": 3, "fillColor": c, "fillOpacity": 0.2},
            tooltip=escape(z.name),
        )
        folium.Popup(popup, max_width=360).add_to(layer)
        layer.add_to(zones)
    zones.add_to(m)
    n = report.natura2000
    site_gj = session.execute(
        text(ZONE_SQL), {"slug": "natura2000", "fid": n.nearest.feature_id, "tol": settings.display_tolerance_m}
    ).scalar()
    if site_gj and not any(z.layer == "natura2000" for z in report.zones):
        folium.GeoJson(
            json.loads(site_gj),
            name=f"Natura 2000: {escape(n.nearest.name)}",
            style_function=lambda _f: {"color": "#1b7837", "weight": 2, "fillColor": "#1b7837", "fillOpacity": 0.2},
            tooltip=escape(f"Natura 2000: {n.nearest.name}"),
        ).add_to(m)
    line_gj = session.execute(text(LINE_SQL), {"wkb": shapely.to_wkb(geom), "fid": n.nearest.feature_id}).scalar()
    bounds_geoms = [geom]
    if line_gj:
        label = f"Natura 2000: {n.nearest.name} — " + ("ligt erin" if n.inside else meters(n.distance_m))
        line = json.loads(line_gj)
        folium.GeoJson(
            line,
            name="Afstand tot Natura 2000",
            style_function=lambda _f: {"color": "#1b7837", "weight": 3, "dashArray": "8 6"},
            tooltip=folium.Tooltip(escape(label), permanent=True, sticky=False, class_name="gc-n2k-label"),
        ).add_to(m)
        bounds_geoms.append(shapely.geometry.shape(line))
    ini_gj = to_wgs84_geojson(geom)
    name = escape(report.initiative.name or "Initiatief")
    style = {"color": "#000000", "weight": 3, "fillColor": "#ffffff", "fillOpacity": 0.35}
    if geom.geom_type == "Point":
        folium.CircleMarker(
            location=[ini_gj["coordinates"][1], ini_gj["coordinates"][0]],
            radius=8,
            color="#000",
            fill=True,
            fill_color="#fff",
            fill_opacity=1,
            tooltip=name,
        ).add_to(m)
    else:
        folium.GeoJson(ini_gj, name="Initiatief", style_function=lambda _f: style, tooltip=name).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    DutchControls().add_to(m)  # zoom titles, metric scale and attribution in Dutch, as on /kaart
    root: Any = m.get_root()
    root.header.add_child(folium.Element(CSS))
    wgs = [shapely.geometry.shape(ini_gj)] + bounds_geoms[1:]
    x0, y0, x1, y1 = shapely.total_bounds(wgs)
    m.fit_bounds([[y0, x0], [y1, x1]], padding=(30, 30), max_zoom=16)
    return m
