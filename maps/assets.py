"""The scripts and stylesheets of the maps, served by us (no CDN).

They come from the npm registry (``maps/assets/package.json`` and its lock file) and are served under
``/static/vendor``: in a checkout from ``maps/assets/node_modules`` (the bootstrap runs ``npm ci``), in an installed
wheel from ``maps/vendor`` (the same layout, only the files we serve; setup.py's build hook puts them there at
build time). :func:`find_node_modules` decides which. Before a map is rendered,
:func:`use_local_assets` replaces Folium's default asset lists by our copies, by asset name, so no CDN
address is ever written; a page that would still load a script or stylesheet from elsewhere is refused.
Folium's Glyphicons and awesome-rotate stylesheets are not on npm and our maps use neither: left out.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    from service.core.errors import ConfigurationError
except ModuleNotFoundError:  # setup.py loads this file alone to build a wheel, without the service on its path
    ConfigurationError = RuntimeError  # type: ignore[misc,assignment]

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
CHECKOUT_NODE_MODULES = ASSETS_DIR / "node_modules"  # npm ci (scripts/bootstrap.sh)
WHEEL_NODE_MODULES = PACKAGE_DIR / "vendor"  # an installed wheel (setup.py's build hook)
STATIC_DIR = PACKAGE_DIR / "static"

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
# Served besides VENDOR_DIRS, by their own routes: the quickscan page's drawing tools (service/api/routes_quickscan.py)
SERVED_ELSEWHERE = ("@geoman-io/leaflet-geoman-free/dist",)
# What a wheel carries of a package directory when not all of it: Font Awesome's stylesheets and fonts (not its
# 20 MB of SVGs, JS and sources); every other directory whole, less WHEEL_SKIP.
WHEEL_PARTS: dict[str, tuple[str, ...]] = {"@fortawesome/fontawesome-free": ("css", "webfonts", "LICENSE.txt")}
# Never in a wheel: source maps, type declarations, READMEs, npm metadata, build logs, tests, ES-module bundles
# (our pages load the UMD/bundled builds).
WHEEL_SKIP = (
    "*.map", "*.d.ts", "*.md", "package.json", "log.*.txt", "*.esm.js", "*.esm.min.js", "swagger-ui-es-bundle*",
    "test", "tests", "__tests__", "docs", "src", "less", "scss",
)  # fmt: skip

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


class AssetError(ConfigurationError):
    """A page would load a script or stylesheet from outside (we do not use CDNs), or the npm assets are not
    installed: the installation's fault, so a 503 in the API and a Dutch ``Fout:`` line in the CLI."""


def find_node_modules() -> Path:
    """Where the npm packages are: the checkout's ``maps/assets/node_modules`` when it holds them (``npm ci``),
    else an installed wheel's ``maps/vendor``; the checkout's path when neither does (the viewer then answers 503)."""
    for candidate in (CHECKOUT_NODE_MODULES, WHEEL_NODE_MODULES):
        if all((candidate / d).is_dir() for d in VENDOR_DIRS.values()):
            return candidate
    return CHECKOUT_NODE_MODULES


NODE_MODULES = find_node_modules()


def assets_installed() -> bool:
    return all((NODE_MODULES / d).is_dir() for d in VENDOR_DIRS.values())


def served_files(node_modules: Path) -> Iterator[Path]:
    """The files of ``node_modules`` the service serves, relative to it: what a wheel carries under maps/vendor."""
    for directory in (*VENDOR_DIRS.values(), *SERVED_ELSEWHERE):
        root = node_modules / directory
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is missing: npm ci in maps/assets did not install it")
        parts = [root / p for p in WHEEL_PARTS.get(directory, ("",))]
        for part in parts:
            for path in [part] if part.is_file() else sorted(part.rglob("*")):
                rel = path.relative_to(root)
                if path.is_file() and not any(fnmatch.fnmatch(n, pat) for n in rel.parts for pat in WHEEL_SKIP):
                    yield path.relative_to(node_modules)


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
