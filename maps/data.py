"""What the maps draw, read from the store: current versions, simplified for display, in WGS84."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

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


class DisplayLayer(BaseModel):
    slug: str
    title: str
    category: str
    colour: str
    version: int
    label: str
    geojson: dict[str, Any]


def display_layers(session: Session, *, tolerance_m: float = 2.0) -> list[DisplayLayer]:
    """Every vector layer's current features as WGS84 GeoJSON, topology-preserving simplified to
    ``tolerance_m`` (screen resolution at street level), properties HTML-escaped for popups."""
    rows = session.execute(
        text(
            """
            SELECT l.slug, l.title, l.category, l.policy_section, l.policy_summary,
                   coalesce(v.provenance, l.provenance) AS provenance,
                   coalesce(v.indicative, l.indicative) AS indicative,
                   l.accuracy_m, v.number, f.fid, f.name,
                   ST_AsGeoJSON(ST_Transform(ST_SimplifyPreserveTopology(f.geom, :tol), 4326), 6) AS gj
            FROM layers l JOIN layer_versions v ON v.id = l.current_version_id
            JOIN features f ON f.version_id = v.id
            WHERE l.kind = 'vector'
            ORDER BY l.category = 'referentie' DESC, l.category = 'natura2000' DESC, l.slug, f.name
            """
        ),
        {"tol": tolerance_m},
    ).all()
    layers: dict[str, DisplayLayer] = {}
    for r in rows:
        if r.slug not in layers:
            colour = COLOURS.get(r.slug, FALLBACK[len(layers) % len(FALLBACK)])
            layers[r.slug] = DisplayLayer(
                slug=r.slug,
                title=r.title,
                category=r.category,
                colour=colour,
                version=r.number,
                label="indicatief" if r.indicative else "officieel",
                geojson={"type": "FeatureCollection", "features": []},
            )
        props = {
            "laag": escape(r.title),
            "naam": escape(r.name),
            "id": escape(r.fid),
            "beleid": escape(f"{r.policy_section or ''} {r.policy_summary or ''}".strip()) or "–",
            "herkomst": escape(f"{'indicatief' if r.indicative else 'officieel'}: {r.provenance}"),
            "versie": r.number,
        }
        layers[r.slug].geojson["features"].append(
            {"type": "Feature", "id": r.fid, "properties": props, "geometry": json.loads(r.gj)}
        )
    return list(layers.values())
