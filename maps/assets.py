"""The scripts and stylesheets of the maps, served by us (no CDN).

They come from the npm registry at install time (``maps/assets/package.json`` and its lock file; the
bootstrap runs ``npm ci``) and are served under ``/static/vendor``. Before a map is rendered,
:func:`use_local_assets` replaces Folium's default asset lists by our copies, by asset name, so no CDN
address is ever written; a page that would still load a script or stylesheet from elsewhere is refused.
Folium's Glyphicons and awesome-rotate stylesheets are not on npm and our maps use neither: left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
NODE_MODULES = ASSETS_DIR / "node_modules"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# URL path under /static/vendor -> directory inside node_modules
VENDOR_DIRS: dict[str, str] = {
    "leaflet": "leaflet/dist",
    "jquery": "jquery/dist",
    "bootstrap": "bootstrap/dist",
    "fontawesome": "@fortawesome/fontawesome-free",
    "awesome-markers": "leaflet.awesome-markers/dist",
    "vectorgrid": "leaflet.vectorgrid/dist",  # big layers from our vector tiles (maps/overview.py)
    "swagger-ui": "swagger-ui-dist",  # /docs
}

# Folium's asset names -> path under the vendor base; None: not loaded.
LOCAL_ASSETS: dict[str, str | None] = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "jquery": "jquery/jquery.min.js",
    "bootstrap": "bootstrap/js/bootstrap.bundle.min.js",
    "bootstrap_css": "bootstrap/css/bootstrap.min.css",
    "awesome_markers_font_css": "fontawesome/css/all.min.css",
    "awesome_markers": "awesome-markers/leaflet.awesome-markers.js",
    "awesome_markers_css": "awesome-markers/leaflet.awesome-markers.css",
    "vectorgrid": "vectorgrid/Leaflet.VectorGrid.bundled.min.js",  # not Folium's: added by maps/overview.py
    "glyphicons_css": None,
    "awesome_rotate_css": None,
}

_TAG = re.compile(
    r"""<(script|link)\b[^>]*?(?:src|href)\s*=\s*["'](https?://[^"']+)["'][^>]*>(?:\s*</script>)?""", re.I
)


class AssetError(RuntimeError):
    """A page would load a script or stylesheet from outside: we do not use CDNs."""


def assets_installed() -> bool:
    return all((NODE_MODULES / d).is_dir() for d in VENDOR_DIRS.values())


def use_local_assets(m: Any, *, base: str = "/static/vendor") -> None:
    """Point the map's scripts and stylesheets at our copies under ``base`` (by Folium's asset names)."""
    for attr in ("default_js", "default_css"):
        local = []
        for name, _url in getattr(m, attr):
            if name not in LOCAL_ASSETS:
                raise AssetError(f"the map needs asset {name!r}; add it to maps/assets (npm) and LOCAL_ASSETS")
            path = LOCAL_ASSETS[name]
            if path is not None:
                local.append((name, f"{base.rstrip('/')}/{path}"))
        setattr(m, attr, local)


def render_local(m: Any, *, base: str = "/static/vendor") -> str:
    """The map as one HTML page whose scripts and stylesheets come from ``base``; never from elsewhere."""
    use_local_assets(m, base=base)
    html: str = m.get_root().render()
    outside = external_urls(html)
    if outside:
        raise AssetError(f"the map would load {outside[0]}; add it to maps/assets (npm)")
    return html


def external_urls(html: str) -> list[str]:
    """Script and stylesheet addresses of a page that are not on our own server."""
    return [m.group(2) for m in _TAG.finditer(html)]


_INLINE_BASE = "gebiedscheck-vendor:"
_LOCAL_TAG = re.compile(
    r"""<(script|link)\b[^>]*?(?:src|href)\s*=\s*["']""" + _INLINE_BASE + r"""/([^"']+)["'][^>]*>(?:\s*</script>)?""",
    re.I,
)


def inline(m: Any) -> str:
    """The map as one self-contained page, scripts and stylesheets inlined from our npm copies: for
    notebooks, where no server serves /static."""
    html = render_local(m, base=_INLINE_BASE)

    def swap(match: re.Match[str]) -> str:
        kind, local = match.group(1).lower(), match.group(2)
        name, _, rest = local.partition("/")
        body = (NODE_MODULES / VENDOR_DIRS[name] / rest).read_text(encoding="utf-8")
        body = body.replace("</script", "<\\/script")
        return f"<script>{body}</script>" if kind == "script" else f"<style>{body}</style>"

    return _LOCAL_TAG.sub(swap, html)
