"""Showing maps inline in Jupyter without any CDN: the page is self-contained (assets inlined)."""

from __future__ import annotations

from html import escape
from typing import Any

import folium

from maps.assets import inline


def show(m: folium.Map, *, height: int = 480) -> Any:
    """An IPython HTML object holding the map in an iframe (scripts and styles inlined from maps/assets)."""
    from IPython.display import HTML

    page = inline(m)
    return HTML(
        f'<iframe srcdoc="{escape(page, quote=True)}" style="width:100%;height:{height}px;border:0" '
        'title="Kaart"></iframe>'
    )
