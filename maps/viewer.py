"""The public viewer page and the files it needs, built from the store (no FastAPI here)."""

from __future__ import annotations

from typing import Any

from branca.element import Element
from sqlalchemy import text
from sqlalchemy.orm import Session

from maps.heat_png import heat_png
from maps.overview import overview_map, render, viewer_boot
from service.heat import current_raster
from service.settings import Settings, get_settings


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
    viewer_boot(m, groups, api=api, static=static)
    html = render(m, base=f"{static}/vendor")
    return html.replace("<head>", "<head>\n<title>Kaart — Gebiedscheck Assen</title>", 1).replace(
        "<html>", '<html lang="nl">', 1
    )
