"""What the maps draw, read from the store: current versions, simplified for display, in WGS84.

A page carries at most a fixed amount of geometry, whatever the data: the smallest layers are embedded as
simplified GeoJSON while they fit the budget (``settings.viewer_max_vertices`` vertices and
``EMBED_MAX_FEATURES`` features for the whole page); a bigger layer is drawn from our own vector tiles, a
tile at a time at the scale shown (see :func:`plan_layers`). Deciding costs no more than the budget: the
feature counts are stored per version, and vertices are counted only of the layers that could still fit.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.store.current import label as provenance_label

# Distinct colours per layer (colour-blind-friendly where it matters: Natura 2000 green, heat red).
COLOURS = {
    "binnenstad": "#1f78b4",
    "publiekshart": "#a6cee3",
    "havenkwartier": "#e31a1c",
    "zuidoost-assen": "#6a3d9a",
    "werklandschap-assen-zuid": "#b15928",
    "trz": "#ff7f00",
    "kazerneterrein": "#8c510a",
    "kloosterveen": "#b2df8a",
    "wijkwinkelcentra": "#f781bf",
    "wijkaanpak": "#fdbf6f",
    "bedrijventerreinen": "#cab2d6",
    "natura2000": "#1b7837",
    "gemeentegrens": "#333333",
}
FALLBACK = ["#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f"]


EMBED_MAX_FEATURES = 5_000  # features embedded in one page, all layers together
TILED_MIN_ZOOM = 11  # a tiled layer is drawn from this zoom on (a tile then covers at most ~20 km)
ORDER_SQL = "l.category = 'referentie' DESC, l.category = 'natura2000' DESC, l.slug"


class DisplayLayer(BaseModel):
    slug: str
    title: str
    category: str
    colour: str
    version: int
    label: str
    features: int = 0
    tiled: bool = False  # too big to embed: drawn from /collections/{slug}/tiles (geojson stays empty)
    geojson: dict[str, Any] = {"type": "FeatureCollection", "features": []}


class LayerSize(BaseModel):
    slug: str
    title: str
    category: str
    version_id: int
    number: int
    indicative: bool
    features: int
    vertices: int | None = None  # counted only where it decides something


def layer_sizes(session: Session, *, max_features: int = EMBED_MAX_FEATURES) -> list[LayerSize]:
    """Every vector layer's current version with its stored feature count, in display order; vertices are
    counted (``sum(ST_NPoints)``) only of the smallest layers that fit ``max_features`` together."""
    rows = session.execute(
        text(
            "SELECT l.slug, l.title, l.category, l.version_id, l.number, v.feature_count AS features, l.indicative "
            "FROM gc_versions_in_force l JOIN layer_versions v ON v.id = l.version_id "
            f"WHERE l.kind = 'vector' ORDER BY {ORDER_SQL}"
        )
    ).all()
    sizes = [LayerSize(**r._mapping) for r in rows]
    candidates, total = [], 0
    for size in sorted(sizes, key=lambda s: s.features):
        if total + size.features > max_features:
            break
        total += size.features
        candidates.append(size.version_id)
    if candidates:
        counted: dict[int, int] = dict(
            session.execute(
                text(
                    "SELECT version_id, sum(ST_NPoints(geom))::bigint FROM features "
                    "WHERE version_id = ANY(:ids) GROUP BY version_id"
                ),
                {"ids": candidates},
            ).all()
        )
        for size in sizes:
            if size.version_id in candidates:
                size.vertices = int(counted.get(size.version_id, 0))
    return sizes


def plan_layers(
    sizes: list[LayerSize], *, max_vertices: int, max_features: int = EMBED_MAX_FEATURES
) -> tuple[set[str], set[str]]:
    """(embedded, tiled) slugs: the smallest layers are embedded while the page's budget holds."""
    embedded: set[str] = set()
    vertices = features = 0
    for size in sorted(sizes, key=lambda s: (s.vertices is None, s.vertices or 0, s.features)):
        if size.vertices is None or vertices + size.vertices > max_vertices or features + size.features > max_features:
            continue
        vertices += size.vertices
        features += size.features
        embedded.add(size.slug)
    return embedded, {s.slug for s in sizes} - embedded


def display_layers(
    session: Session,
    *,
    tolerance_m: float = 2.0,
    max_vertices: int = 300_000,
    max_features: int = EMBED_MAX_FEATURES,
    popups: bool = True,
) -> list[DisplayLayer]:
    """Every vector layer, in display order. Those that fit the page's budget carry their current features
    as WGS84 GeoJSON, topology-preserving simplified to ``tolerance_m`` (screen resolution at street level),
    properties HTML-escaped for popups (policy and provenance only with ``popups``); the others are
    ``tiled``, with no features."""
    sizes = layer_sizes(session, max_features=max_features)
    embedded, _ = plan_layers(sizes, max_vertices=max_vertices, max_features=max_features)
    layers: dict[str, DisplayLayer] = {}
    for i, size in enumerate(sizes):
        layers[size.slug] = DisplayLayer(
            slug=size.slug,
            title=size.title,
            category=size.category,
            colour=COLOURS.get(size.slug, FALLBACK[i % len(FALLBACK)]),
            version=size.number,
            label=provenance_label(size.indicative),
            features=size.features,
            tiled=size.slug not in embedded,
            geojson={"type": "FeatureCollection", "features": []},
        )
    if not embedded:
        return list(layers.values())
    rows = session.execute(
        text(
            """
            SELECT l.slug, l.title, l.policy_section, l.policy_summary, l.provenance, l.indicative,
                   l.number, f.fid, f.name,
                   ST_AsGeoJSON(ST_Transform(ST_SimplifyPreserveTopology(f.geom, :tol), 4326), 6) AS gj
            FROM gc_versions_in_force l
            JOIN features f ON f.version_id = l.version_id
            WHERE l.kind = 'vector' AND l.slug = ANY(:slugs)
            ORDER BY l.slug, f.name
            """
        ),
        {"tol": tolerance_m, "slugs": sorted(embedded)},
    ).all()
    for r in rows:
        props: dict[str, Any] = {
            "laag": escape(r.title),
            "naam": escape(r.name),
            "id": escape(r.fid),
            "versie": r.number,
        }
        if popups:
            props["beleid"] = escape(f"{r.policy_section or ''} {r.policy_summary or ''}".strip()) or "–"
            props["herkomst"] = escape(f"{provenance_label(r.indicative)}: {r.provenance}")
        layers[r.slug].geojson["features"].append(
            {"type": "Feature", "id": r.fid, "properties": props, "geometry": json.loads(r.gj)}
        )
    return list(layers.values())
