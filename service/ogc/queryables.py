"""Queryables (OGC API – Features Part 3): the properties of a collection, their JSON types, and the ``sortby`` and
``properties`` parameters checked against them.

A collection's properties are ``id`` and ``name`` (columns), the keys of its features' ``properties`` (jsonb) in
the version in force, and ``geometry``. The keys and their JSON types are read once per version (a version's
features never change) and kept in a small cache keyed by database and version id.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.errors import BadRequest

CACHE_SIZE = 256
MAX_SORT_KEYS = 10
RESERVED = ("id", "name", "geometry", "geom")  # never read from jsonb under these names
_cache: dict[tuple[str, int], dict[str, tuple[str, ...]]] = {}  # (database, version id) -> properties
_lock = threading.Lock()


def property_types(session: Session, version_id: int) -> dict[str, tuple[str, ...]]:
    """The jsonb properties of a version: key -> its JSON Schema types ('integer' when every number is whole)."""
    url = session.get_bind().engine.url
    cache_key = (f"{url.host}:{url.port}/{url.database}", version_id)
    with _lock:
        hit = _cache.get(cache_key)
    if hit is not None:
        return hit
    rows = session.execute(
        text(
            "SELECT e.key, array_agg(DISTINCT jsonb_typeof(e.value)) AS types, "
            "bool_and(CASE WHEN jsonb_typeof(e.value) = 'number' THEN (e.value #>> '{}')::numeric % 1 = 0 END) "
            "AS whole FROM features f CROSS JOIN LATERAL jsonb_each(coalesce(f.properties, '{}'::jsonb)) e "
            "WHERE f.version_id = :v GROUP BY e.key ORDER BY e.key"
        ),
        {"v": version_id},
    ).all()
    found: dict[str, tuple[str, ...]] = {}
    for key, types, whole in rows:
        if key in RESERVED:
            continue
        found[key] = tuple(sorted("integer" if t == "number" and whole else t for t in types))
    with _lock:
        if len(_cache) >= CACHE_SIZE:
            _cache.clear()
        _cache[cache_key] = found
    return found


def queryables_doc(title: str, types: dict[str, tuple[str, ...]], *, href: str) -> dict[str, Any]:
    """The queryables as JSON Schema 2020-12, as Part 3 shows them."""
    props: dict[str, Any] = {
        "geometry": {"title": "geometrie", "format": "geometry-multipolygon", "x-ogc-role": "primary-geometry"},
        "id": {"title": "id", "type": "string", "x-ogc-role": "id"},
        "name": {"title": "naam", "type": "string"},
    }
    for key, kinds in types.items():
        props[key] = {"title": key, "type": kinds[0] if len(kinds) == 1 else list(kinds)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": href,
        "type": "object",
        "title": title,
        "properties": props,
        "additionalProperties": False,
    }


def filter_types(types: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """What the filter writer needs: every queryable but the geometry, with its JSON types."""
    return {"id": ("string",), "name": ("string",), **types}


def parse_sortby(value: str | None, types: dict[str, tuple[str, ...]]) -> list[tuple[str, bool]]:
    """``sortby`` as (property, descending) pairs: ``name``, ``+name`` (a ``+`` may arrive as a space), ``-name``."""
    if value is None:
        return []
    keys = [k.strip() for k in value.split(",")]
    if len(keys) > MAX_SORT_KEYS:
        raise BadRequest(f"sortby takes at most {MAX_SORT_KEYS} properties")
    sortable = ["id", "name", *types]
    out = []
    for key in keys:
        descending = key.startswith("-")
        name = key[1:] if key[:1] in ("+", "-") else key
        if name not in sortable:
            shown = name if len(name) <= 60 else name[:60] + "…"
            raise BadRequest(f"sortby: unknown property {shown!r}; sortable are: {', '.join(sortable)}")
        out.append((name, descending))
    return out


def parse_properties(value: str | None, types: dict[str, tuple[str, ...]]) -> list[str] | None:
    """``properties``: None for all, else the chosen ones (``properties=`` with nothing: none)."""
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    known = ["name", *types]
    unknown = [n for n in names if n not in known]
    if unknown:
        shown = ", ".join(repr(n[:60]) for n in unknown[:5])
        raise BadRequest(f"properties: unknown property {shown}; the properties are: {', '.join(known)}")
    return list(dict.fromkeys(names))
