"""The one Jinja2 environment of every HTML page the service writes (service/core/templates/*.html): the report, the
error page, the quickscan page, /over, /toegankelijkheid and the OGC API HTML views.

Autoescape is on for ``.html`` (a name from a caller's GeoJSON or a layer file is text, never markup); an
undefined variable is an error (StrictUndefined), and block tags take their own line's whitespace with them
(``trim_blocks``, ``lstrip_blocks``). The Dutch number filters of service.core.dutch (``getal``, ``procent``, ...)
are available to every template, and three of its own: ``text`` (None as nothing), ``waarde`` (a property value as a
reader expects it: ja/nee, a decimal comma) and ``json_data`` (data for a ``<script type="application/json">``
element). No FastAPI here: routes and domain modules call :func:`render`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from service.core import dutch

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DUTCH_FILTERS = ("getal", "procent", "meters", "oppervlakte", "graden", "tijd", "datum", "in_tekst")

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
for _name in DUTCH_FILTERS:
    ENV.filters[_name] = getattr(dutch, _name)


def text(value: Any) -> str:
    """A value as text, None as nothing (``{{ None }}`` alone would print "None"); escaped by autoescape."""
    return "" if value is None else str(value)


def waarde(value: Any) -> str:
    """A feature property for a reader: ``ja``/``nee`` for a boolean, a decimal comma in a fraction (``0,25``),
    a whole number as it is (codes and years: no thousands dot), a list or object as JSON, None as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, float):
        return repr(value).replace(".", ",")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def json_data(value: Any) -> Markup:
    """``value`` as JSON for a non-executing ``<script type="application/json">`` element: ``<``, ``>`` and ``&``
    are written as ``\\u`` escapes, so nothing in the data can close the element or read as markup."""
    raw = json.dumps(value, ensure_ascii=False)
    return Markup(raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


ENV.filters["text"] = text
ENV.filters["waarde"] = waarde
ENV.filters["json_data"] = json_data


def render(name: str, /, **context: Any) -> str:
    """The template ``name`` (under service/templates) rendered with ``context``."""
    return ENV.get_template(name).render(**context)
