"""The ``self`` and ``alternate`` links OGC API – Features Part 1 asks of every resource: one per format the resource
is offered in, ``self`` for the format of this answer, each with an explicit ``f`` so the link leads to that format
whatever the client's ``Accept`` header."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
CSV = "text/csv"
TITLES = {"json": "Dit document als JSON", "html": "Dit document als HTML", "csv": "Dit document als CSV"}
PAGE = {"json": JSON, "html": HTML}  # landing, conformance, collections, one collection
ITEMS = {"json": GEOJSON, "html": HTML, "csv": CSV}
ITEM = {"json": GEOJSON, "html": HTML}


def with_format(href: str, fmt: str) -> str:
    """``href`` with its ``f`` parameter set to ``fmt`` (any other parameters kept, in order)."""
    path, _, query = href.partition("?")
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "f"]
    return f"{path}?{urlencode([*pairs, ('f', fmt)])}"


def format_links(href: str, current: str, offers: dict[str, str]) -> list[dict[str, Any]]:
    """``self`` (the format answered, first) and an ``alternate`` for each other format of ``offers``."""
    ordered = [current, *(f for f in offers if f != current)]
    return [
        {
            "rel": "self" if fmt == current else "alternate",
            "type": offers[fmt],
            "title": TITLES[fmt],
            "href": with_format(href, fmt),
        }
        for fmt in ordered
    ]


def query_without(query: str, *names: str) -> list[tuple[str, str]]:
    """The request's query pairs without ``names`` (e.g. paging and ``f``), blanks kept (``properties=``)."""
    return [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in names]
