"""The public viewer page and the files it needs, built from the store (no FastAPI here); and its two Dutch
information pages, /over (sources, `indicatief`, privacy) and /toegankelijkheid (the accessibility statement)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from branca.element import Element
from sqlalchemy import text
from sqlalchemy.orm import Session

from maps.assets import ASSETS_DIR
from maps.heat_png import heat_png
from maps.overview import basemaps, overview_map, render, viewer_boot
from service.core.settings import Settings, get_settings
from service.core.templates import render as render_page
from service.questions.heat import current_raster
from service.store.catalog import list_layers

CATEGORIES = {
    "omgevingsvisie": "Omgevingsvisie",
    "natura2000": "Natura 2000",
    "klimaat": "Klimaat",
    "referentie": "Referentie",
}
ZONE_INDEX_MAX = 2_000  # zone names the viewer's search box gets (the page's search stays small)
ZONE_NAME_MAX = 120
# What tests/test_viewer_ux.py and tests/test_viewer_search.py run axe-core on, at 1400 × 900 and 390 × 844.
AXE_TESTED = [
    "de kaart (/kaart)",
    "de kaart met het zoekvak open en met het meetgereedschap aan",
    "Over deze kaart (/over)",
    "deze verklaring (/toegankelijkheid)",
]


def state_key(session: Session) -> tuple[tuple[str, int | None], ...]:
    """Which layer versions are current: the viewer page is rebuilt when this changes."""
    rows = session.execute(text("SELECT slug, current_version_id FROM layers ORDER BY slug")).all()
    return tuple((r[0], r[1]) for r in rows)


def heat_overlay(session: Session, *, settings: Settings | None = None) -> tuple[bytes, list[list[float]], int]:
    row, ref = current_raster(session, settings=settings)
    png, bounds = heat_png(row.raster_path)
    return png, bounds, ref.version


def viewer_html(
    session: Session,
    *,
    settings: Settings | None = None,
    api: str = "",
    static: str = "/static",
    heat_url: str | None = None,
    heat_bounds: list[list[float]] | None = None,
) -> str:
    """The overview map with click-to-query and URL state; scripts from ``static`` (never a CDN). Layers too
    big to embed are drawn from the vector tiles of the API at ``api`` ("": this server)."""
    settings = settings or get_settings()
    m, groups = overview_map(
        session, settings=settings, heat_url=heat_url, heat_bounds=heat_bounds, popups=False, tiles=api
    )
    root: Any = m.get_root()
    root.header.add_child(
        Element(
            '<meta name="description" content="Gebiedscheck Assen: gebieden van de Omgevingsvisie, Natura 2000 en '
            'hitte-eiland op de kaart (indicatief).">'
        )
    )
    viewer_boot(
        m,
        groups,
        api=api,
        static=static,
        nearby_m=getattr(settings, "nearby_distance_m", None),
        locatieserver=search_base(settings.locatieserver_url),
    )
    html = render(m, base=f"{static}/vendor")
    return html.replace("<head>", "<head>\n<title>Kaart — Gebiedscheck Assen</title>", 1).replace(
        "<html>", '<html lang="nl">', 1
    )


def search_base(url: str) -> str:
    """The Locatieserver base URL the page may call: an http(s) URL without query or fragment ("" otherwise,
    and for ""): the same origin the Content-Security-Policy's connect-src names (service.api.middleware)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return ""
    return url.strip().rstrip("/")


def zone_index(session: Session, *, limit: int = ZONE_INDEX_MAX) -> dict[str, Any]:
    """The names of the current zones for the viewer's search box: per zone its layer, a point inside it (where
    the search asks) and its bounding box (where the map goes), in WGS84. At most ``limit`` zones (the
    Omgevingsvisie's first, the reference layers last), names cut at ``ZONE_NAME_MAX`` characters."""
    rows = session.execute(
        text(
            """
            SELECT z.slug, z.title, z.category, left(z.name, :name_max) AS name,
                   ST_Y(g.p) AS lat, ST_X(g.p) AS lon,
                   ST_XMin(g.b) AS w, ST_YMin(g.b) AS s, ST_XMax(g.b) AS e, ST_YMax(g.b) AS n
            FROM (
                SELECT l.slug, l.title, l.category, f.name, f.geom
                FROM layers l JOIN features f ON f.version_id = l.current_version_id
                WHERE l.kind = 'vector'
                ORDER BY l.category = 'referentie', l.category = 'natura2000', l.slug, f.name, f.id
                LIMIT :limit
            ) AS z
            CROSS JOIN LATERAL (SELECT ST_Transform(ST_PointOnSurface(z.geom), 4326) AS p,
                                       ST_Transform(ST_Envelope(z.geom), 4326)::box2d AS b) AS g
            ORDER BY z.category = 'referentie', z.category = 'natura2000', z.slug, z.name
            """
        ),
        {"limit": limit + 1, "name_max": ZONE_NAME_MAX},
    ).all()
    zones = [
        {
            "name": r.name,
            "layer": r.slug,
            "layer_title": r.title,
            "category": CATEGORIES.get(r.category, r.category),
            "lat": round(r.lat, 6),
            "lon": round(r.lon, 6),
            "bbox": [round(r.w, 6), round(r.s, 6), round(r.e, 6), round(r.n, 6)],
        }
        for r in rows[:limit]
    ]
    return {"zones": zones, "count": len(zones), "truncated": len(rows) > limit}


def about_html(session: Session, *, settings: Settings | None = None, api: str = "") -> str:
    """/over: what the map shows, its sources from the store (each layer's provenance and licence), why it is
    `indicatief`, what is and is not stored (privacy), and a link to the accessibility statement."""
    settings = settings or get_settings()
    name, url, _attribution = basemaps(settings)[0]
    host = urlsplit(url).hostname or "de aanbieder van de achtergrondkaart"
    return render_page(
        "over.html",
        title="Over deze kaart",
        page="over",
        api=api,
        layers=list_layers(session),
        categories=CATEGORIES,
        basemap=name,
        basemap_host=host,
    )


def axe_version() -> str:
    """The axe-core release the accessibility tests use (maps/assets/package.json, a devDependency)."""
    try:
        package = json.loads((ASSETS_DIR / "package.json").read_text(encoding="utf-8"))
        return str(package["devDependencies"]["axe-core"])
    except (OSError, KeyError, ValueError):
        return "(onbekende versie)"


def accessibility_html(*, api: str = "") -> str:
    """/toegankelijkheid: the accessibility statement (what was tested, how, and the known gaps)."""
    return render_page(
        "toegankelijkheid.html",
        title="Toegankelijkheidsverklaring",
        page="toegankelijkheid",
        api=api,
        axe_version=axe_version(),
        tested=AXE_TESTED,
    )
