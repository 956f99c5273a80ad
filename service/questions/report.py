"""The quickscan as a readable Dutch report: an HTML page (no scripts, no external assets) and, through the same
template, the page that service.questions.pdf prints to PDF.

Every number a person reads is in Dutch notation (service.core.dutch): ``56,6 %``, ``3.596 m``, ``3,46 ha``, times in
Europe/Amsterdam. The template is Jinja2 with autoescape (names in the report come from the caller's GeoJSON), in
the one environment of service.core.templates.
The screen page embeds the interactive check map (Folium, ``map_html``); the static SVG map (maps.static_map,
``map_svg``) is what a printer and the PDF get, and what the screen shows when there is no interactive map.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core import dutch
from service.core.templates import render
from service.questions.check import CheckReport
from service.questions.heat import HeatAtAnswer

GEOMETRY_TEXT = {"Point": "punt", "Polygon": "vlak", "MultiPolygon": "vlak (meerdelig)"}
MUNICIPALITY_TEXT = {True: "binnen de gemeente", False: "(deels) buiten de gemeente", None: "onbekend"}

VERSIONS_SQL = """
SELECT l.slug, v.number, v.created_at FROM layer_versions v JOIN layers l ON l.id = v.layer_id
WHERE l.slug = ANY(:slugs)
"""


def used_versions(report: CheckReport) -> list[tuple[str, int]]:
    """The (layer, version) pairs a report answered from."""
    pairs = [(z.source.layer, z.source.version) for z in report.zones]
    pairs += [(report.natura2000.source.layer, report.natura2000.source.version)]
    pairs += [(report.heat.raster.layer, report.heat.raster.version)]
    return list(dict.fromkeys(pairs))


def version_dates(session: Session, report: CheckReport) -> dict[tuple[str, int], datetime]:
    """When each layer version the report used was made (for "versie 3 van 12 januari 2026")."""
    wanted = used_versions(report)
    rows = session.execute(text(VERSIONS_SQL), {"slugs": sorted({slug for slug, _ in wanted})}).all()
    return {(r.slug, r.number): r.created_at for r in rows if (r.slug, r.number) in wanted}


def _names(value: Any) -> str:
    """``nested_in`` of a zone (a name, a list of names, or of objects with a name) as one Dutch list."""
    items = value if isinstance(value, list | tuple) else [value]
    names = [str(getattr(i, "name", None) or (i.get("name") if isinstance(i, dict) else i)) for i in items if i]
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + f" en {names[-1]}"


def _version(dates: dict[tuple[str, int], datetime], layer: str, number: int) -> str:
    when = dates.get((layer, number))
    return f"versie {number}" + (f" van {dutch.datum(when)}" if when else "")


def render_check_html(
    report: CheckReport,
    *,
    map_html: str | None = None,
    map_svg: str | None = None,
    version_dates: dict[tuple[str, int], datetime] | None = None,
    for_pdf: bool = False,
) -> str:
    """The report page. ``for_pdf``: the page WeasyPrint prints (no interactive map, fonts for print)."""
    dates = version_dates or {}
    zones = [
        {
            "zone": z,
            "version": _version(dates, z.source.layer, z.source.version),
            "overlap": None if z.overlap_m2 is None else dutch.oppervlakte(z.overlap_m2),
            "nested_in": _names(getattr(z, "nested_in", None)),
        }
        for z in report.zones
    ]
    n = report.natura2000
    outside_pct = getattr(report, "outside_zones_pct", None)
    polygonal = report.initiative.area_m2 is not None
    return render(
        "rapport.html",
        r=report,
        ini=report.initiative,
        title=report.initiative.name or "Initiatief",
        municipality=MUNICIPALITY_TEXT[report.in_municipality],
        geometry_type=GEOMETRY_TEXT.get(report.initiative.geometry_type, report.initiative.geometry_type),
        zones=zones,
        n=n,
        n2k_where="ligt erin" if n.inside else f"op {dutch.meters(n.distance_m)}",
        n2k_version=_version(dates, n.source.layer, n.source.version),
        heat=report.heat,
        heat_is_point=isinstance(report.heat, HeatAtAnswer),
        heat_version=_version(dates, report.heat.raster.layer, report.heat.raster.version),
        nearby=list(getattr(report, "nearby", None) or []),
        nearby_within=getattr(report, "nearby_distance_m", None) or 500.0,
        outside_pct=outside_pct if polygonal else None,
        outside_m2=getattr(report, "outside_zones_m2", None) if polygonal else None,
        map_html=None if for_pdf else map_html,
        map_svg=Markup(map_svg) if map_svg else None,  # drawn by maps.static_map, its text escaped there
        for_pdf=for_pdf,
        generated=dutch.tijd(report.generated_at),
    )
