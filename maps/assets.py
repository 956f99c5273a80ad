"""The scripts and stylesheets of the maps, served by us (no CDN).

They come from the npm registry at install time (``maps/assets/package.json`` and its lock file; the
bootstrap runs ``npm ci``) and are served under ``/static/vendor``. Folium writes CDN addresses into its
pages; :func:`localise` rewrites each known one to our copy and refuses a page that still loads anything
from elsewhere. Folium's Glyphicons stylesheet and its awesome-rotate stylesheet are not on npm and our maps
use neither, so they are left out.
"""

from __future__ import annotations

import re
from pathlib import Path

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
}

# CDN address (as Folium writes it) -> path under the vendor base; None: drop the tag.
_JSD = "https://cdn.jsdelivr.net/npm/"
_AWM = "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
CDN_MAP: dict[str, str | None] = {
    _JSD + "leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    _JSD + "leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    _JSD + "bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "bootstrap/js/bootstrap.bundle.min.js",
    _JSD + "bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    _JSD + "@fortawesome/fontawesome-free@6.2.0/css/all.min.css": "fontawesome/css/all.min.css",
    _AWM + "leaflet.awesome-markers.js": "awesome-markers/leaflet.awesome-markers.js",
    _AWM + "leaflet.awesome-markers.css": "awesome-markers/leaflet.awesome-markers.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": None,
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": None,
}

_TAG = re.compile(
    r"""<(script|link)\b[^>]*?(?:src|href)\s*=\s*["'](https?://[^"']+)["'][^>]*>(?:\s*</script>)?""", re.I
)


class AssetError(RuntimeError):
    """A page would load a script or stylesheet from outside: we do not use CDNs."""


def assets_installed() -> bool:
    return all((NODE_MODULES / d).is_dir() for d in VENDOR_DIRS.values())


def localise(html: str, *, base: str = "/static/vendor") -> str:
    """Point every known CDN script/stylesheet of a Folium page at our copy under ``base``."""

    def swap(match: re.Match[str]) -> str:
        tag, url = match.group(0), match.group(2)
        if url not in CDN_MAP:
            raise AssetError(f"the map would load {url}; add it to maps/assets (npm) and CDN_MAP")
        local = CDN_MAP[url]
        return "" if local is None else tag.replace(url, f"{base.rstrip('/')}/{local}")

    return _TAG.sub(swap, html)


def external_urls(html: str) -> list[str]:
    """Script and stylesheet addresses of a page that are not on our own server."""
    return [m.group(2) for m in _TAG.finditer(html)]


def inline(html: str) -> str:
    """A Folium page with every known CDN script/stylesheet inlined from our npm copies: one self-contained
    file, for notebooks (no server there to serve /static)."""

    def swap(match: re.Match[str]) -> str:
        kind, url = match.group(1).lower(), match.group(2)
        if url not in CDN_MAP:
            raise AssetError(f"the map would load {url}; add it to maps/assets (npm) and CDN_MAP")
        local = CDN_MAP[url]
        if local is None:
            return ""
        name, _, rest = local.partition("/")
        body = (NODE_MODULES / VENDOR_DIRS[name] / rest).read_text(encoding="utf-8")
        body = body.replace("</script", "<\\/script")
        return f"<script>{body}</script>" if kind == "script" else f"<style>{body}</style>"

    return _TAG.sub(swap, html)
