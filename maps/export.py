"""Maps as files: the overview map (`gebiedscheck map --out`) and a static viewer (`gebiedscheck maps export`).

Both carry their own copies of the scripts and stylesheets (from the npm packages in maps/assets), so they
work with no internet except basemap tiles, and any web server (or the file system) can publish them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from maps.assets import NODE_MODULES, STATIC_DIR, AssetError, assets_installed
from maps.overview import overview_map, render, viewer_boot
from maps.viewer import heat_overlay
from service.core.settings import Settings, get_settings

# What a page needs of each package (relative to node_modules), and where it goes under vendor/.
NEEDED = {
    "leaflet": ("leaflet/dist", ["leaflet.js", "leaflet.css", "images"]),
    "jquery": ("jquery/dist", ["jquery.min.js"]),
    "bootstrap": ("bootstrap/dist", ["css/bootstrap.min.css", "js/bootstrap.bundle.min.js"]),
    "fontawesome": ("@fortawesome/fontawesome-free", ["css/all.min.css", "webfonts"]),
    "awesome-markers": (
        "leaflet.awesome-markers/dist",
        ["leaflet.awesome-markers.js", "leaflet.awesome-markers.css", "images"],
    ),
}


def copy_assets(static: Path) -> None:
    if not assets_installed():
        raise AssetError("the map assets are not installed: run `make install` (npm ci in maps/assets)")
    for name, (src_dir, parts) in NEEDED.items():
        for part in parts:
            src, dst = NODE_MODULES / src_dir / part, static / "vendor" / name / part
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dst)
    (static / "gebiedscheck").mkdir(parents=True, exist_ok=True)
    for f in STATIC_DIR.iterdir():
        shutil.copy2(f, static / "gebiedscheck" / f.name)


def write_map(
    session: Session,
    out: Path,
    *,
    settings: Settings | None = None,
    viewer: bool = False,
    api: str = "",
    static_name: str | None = None,
) -> Path:
    """Write ``out`` (HTML) with its files in ``<static_name>/`` next to it; returns the HTML path."""
    settings = settings or get_settings()
    static_name = static_name or f"{out.stem}_bestanden"
    static = out.parent / static_name
    copy_assets(static)
    png, bounds, _ = heat_overlay(session, settings=settings)
    (static / "hitte-eiland.png").write_bytes(png)
    m, groups = overview_map(
        session, settings=settings, heat_url=f"{static_name}/hitte-eiland.png", heat_bounds=bounds, popups=not viewer
    )
    if viewer:
        viewer_boot(m, groups, api=api.rstrip("/"), static=static_name)
    html = render(m, base=f"{static_name}/vendor")
    html = html.replace("<html>", '<html lang="nl">', 1).replace(
        "<head>", "<head>\n<title>Kaart — Gebiedscheck Assen</title>", 1
    )
    out.write_text(html, encoding="utf-8")
    return out


def write_check_map(session: Session, report: Any, geom: Any, out: Path, *, settings: Settings | None = None) -> Path:
    """The check map of one quickscan as ``out`` (HTML) with its files next to it."""
    from maps.check_map import check_map

    static_name = f"{out.stem}_bestanden"
    static = out.parent / static_name
    copy_assets(static)
    png, bounds, _ = heat_overlay(session, settings=settings)
    (static / "hitte-eiland.png").write_bytes(png)
    m = check_map(
        session, report, geom, settings=settings, heat_url=f"{static_name}/hitte-eiland.png", heat_bounds=bounds
    )
    html = render(m, base=f"{static_name}/vendor").replace("<html>", '<html lang="nl">', 1)
    out.write_text(html, encoding="utf-8")
    return out
