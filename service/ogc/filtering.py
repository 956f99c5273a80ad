"""CQL2 filters (OGC API – Features Part 3) as bound SQL over ``features f``.

pygeofilter parses the text (``cql2-text``) or JSON (``cql2-json``) form; this module walks its syntax tree and
writes SQL itself: only fixed SQL words and ``:cqN`` placeholders, every literal, property name and geometry a
bound parameter. Limits come before any work: the filter's length, its nesting depth, the number of nodes, the
size of an ``IN`` list and the vertices of a geometry. Anything not understood is a :class:`BadRequest` naming it.

Properties: ``name`` and ``id`` are the columns ``f.name`` and ``f.fid``; every other one is a key of
``f.properties`` (jsonb), compared with the type of the literal (a number numerically, a string as text, a
boolean as a boolean; a value of another type does not match). ``geometry`` is ``f.geom`` (EPSG:28992); filter
geometries are in ``filter-crs`` and transformed to it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from service.core.errors import BadRequest
from service.ogc.filtergeom import check_geometry

MAX_FILTER_CHARS = 20_000
MAX_DEPTH = 40  # brackets in cql2-text, containers in cql2-json, nodes in the syntax tree
MAX_NODES = 2_000
MAX_IN_LIST = 1_000
GEOMETRY_NAMES = ("geometry", "geom")
COLUMNS = {"name": "f.name", "id": "f.fid"}  # queryables that are columns (text)
LANGS = ("cql2-text", "cql2-json")
SQL_TYPE = {"string": "text", "number": "numeric", "boolean": "boolean", "timestamp": "timestamptz", "date": "date"}
# the JSON types a property may have to compare with a literal of a kind (none holds a time: jsonb has no such type)
JSON_TYPES = {
    "string": ("string",),
    "number": ("number", "integer"),
    "boolean": ("boolean",),
    "timestamp": (),
    "date": (),
}


def parse(text: str, lang: str | None) -> Any:
    """The pygeofilter syntax tree of a filter, or a 400 naming the problem."""
    lang = lang or "cql2-text"
    if lang not in LANGS:
        raise BadRequest(f"filter-lang {lang!r} is not supported; use one of: {', '.join(LANGS)}")
    if len(text) > MAX_FILTER_CHARS:
        raise BadRequest(f"filter is longer than {MAX_FILTER_CHARS} characters (the limit)")
    if not text.strip():
        raise BadRequest("filter is empty")
    try:
        if lang == "cql2-json":
            from pygeofilter.parsers.cql2_json import parse as parse_json

            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise BadRequest(f"filter is not valid JSON (cql2-json): {exc}") from exc
            _json_depth(doc)
            return parse_json(_normalise_json(doc))
        from pygeofilter.parsers.cql2_text import parse as parse_text

        _text_depth(text)
        return parse_text(text)
    except BadRequest:
        raise
    except RecursionError as exc:
        raise BadRequest(f"filter is nested too deeply (at most {MAX_DEPTH} levels)") from exc
    except Exception as exc:  # lark's and pygeofilter's own errors: the input is not CQL2 they understand
        raise BadRequest(f"filter is not valid {lang}: {_syntax_error(exc)}") from exc


def _syntax_error(exc: Exception) -> str:
    """Where and what, from a lark error, without its list of expected grammar terminals (``__ANON_4`` ...)."""
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    token = getattr(exc, "token", None)
    char = getattr(exc, "char", None)
    if token is not None:
        what = "the filter ends too early" if token.type == "$END" else f"unexpected {str(token)!r}"
    elif char is not None:
        what = f"unexpected character {char!r}"
    else:
        return " ".join(str(exc).split())[:300] or type(exc).__name__
    return f"{what} at line {line}, column {column}" if line is not None and line > 0 else what


def _text_depth(text: str) -> None:
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise BadRequest(f"filter is nested too deeply (at most {MAX_DEPTH} levels of brackets)")
        elif not quoted and ch == ")":
            depth -= 1


def _json_depth(doc: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise BadRequest(f"filter is nested too deeply (at most {MAX_DEPTH} levels)")
    children = doc.values() if isinstance(doc, dict) else doc if isinstance(doc, list) else ()
    for child in children:
        _json_depth(child, depth + 1)


def _normalise_json(doc: Any) -> Any:
    """CQL2-JSON as the standard writes it, in the forms pygeofilter 0.4 reads: ``between`` with three arguments
    (pygeofilter wants ``[value, [low, high]]``) and ``{"bbox": [...]}`` as a polygon (pygeofilter swaps its
    numbers)."""
    if isinstance(doc, list):
        return [_normalise_json(d) for d in doc]
    if not isinstance(doc, dict):
        return doc
    if set(doc) == {"bbox"}:
        return _bbox_polygon(doc["bbox"])
    out = {k: _normalise_json(v) for k, v in doc.items()}
    args = out.get("args")
    if out.get("op") == "between" and isinstance(args, list) and len(args) == 3:
        out["args"] = [args[0], [args[1], args[2]]]
    return out


def _bbox_polygon(box: Any) -> dict[str, Any]:
    if not isinstance(box, list) or len(box) not in (4, 6) or not all(_is_number(v) for v in box):
        raise BadRequest("a bbox in the filter must be 4 or 6 numbers")
    x0, y0, x1, y1 = (box[0], box[1], box[2], box[3]) if len(box) == 4 else (box[0], box[1], box[3], box[4])
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


@dataclass
class Where:
    """A filter as SQL: ``sql`` holds only fixed words and ``:cqN`` placeholders, ``params`` their values."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def to_sql(node: Any, *, queryables: Mapping[str, Sequence[str]], srid: int, lat_first: bool) -> Where:
    """The filter tree as a SQL condition on ``features f``. ``queryables``: property name -> its JSON types."""
    return _Writer(queryables, srid, lat_first).where(node)


class _Writer:
    def __init__(self, queryables: Mapping[str, Sequence[str]], srid: int, lat_first: bool) -> None:
        self.queryables = queryables
        self.srid = srid
        self.lat_first = lat_first
        self.params: dict[str, Any] = {}
        self.nodes = 0

    def where(self, node: Any) -> Where:
        return Where(self.condition(node, 0), self.params)

    def bind(self, value: Any) -> str:
        name = f"cq{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def condition(self, node: Any, depth: int) -> str:
        from pygeofilter import ast

        self.nodes += 1
        if depth > MAX_DEPTH:
            raise BadRequest(f"filter is nested too deeply (at most {MAX_DEPTH} levels)")
        if self.nodes > MAX_NODES:
            raise BadRequest(f"filter has more than {MAX_NODES} conditions (the limit)")
        if isinstance(node, ast.And | ast.Or):
            word = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self.condition(node.lhs, depth + 1)} {word} {self.condition(node.rhs, depth + 1)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self.condition(node.sub_node, depth + 1)})"
        if isinstance(node, ast.Include):
            return "false" if node.not_ else "true"
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, ast.Comparison):
            return self.comparison(node)
        if isinstance(node, ast.Like):
            return self.like(node)
        if isinstance(node, ast.In):
            return self.in_list(node)
        if isinstance(node, ast.Between):
            return self.between(node)
        if isinstance(node, ast.IsNull):
            return self.is_null(node)
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self.spatial(node)
        raise BadRequest(f"filter uses {_label(node)}, which this service does not support")

    # --- properties and literals --------------------------------------------------------------------------

    def property_name(self, node: Any) -> str:
        name = str(node.name)
        if name in GEOMETRY_NAMES:
            raise BadRequest(f"property {name!r} is the geometry: use a spatial function (S_INTERSECTS, ...)")
        if name not in COLUMNS and name not in self.queryables:
            raise BadRequest(f"unknown property {name!r}; the queryables are: {', '.join(self.names())}")
        return name

    def names(self) -> list[str]:
        return ["geometry", *COLUMNS, *(k for k in self.queryables if k not in COLUMNS)]

    def typed_property(self, node: Any, kind: str) -> str:
        """The property as SQL of ``kind`` (string, number, boolean); a value of another type gives NULL."""
        name = self.property_name(node)
        if kind in ("timestamp", "date"):
            raise BadRequest(f"property {name!r} is not a time property (these features have none); no {kind} here")
        if name in COLUMNS:
            if kind != "string":
                raise BadRequest(f"property {name!r} is a string; compare it with a string, not a {kind}")
            return COLUMNS[name]
        known = self.queryables.get(name) or ()
        concrete = [t for t in known if t != "null"]
        if concrete and not set(concrete) & set(JSON_TYPES[kind]):
            raise BadRequest(f"property {name!r} is a {'/'.join(concrete)}; compare it with that, not a {kind}")
        key = self.bind(name)
        value = "f.properties ->> " + key
        return (
            f"(CASE WHEN jsonb_typeof(f.properties -> {key}) = '{kind}' THEN ({value})::{SQL_TYPE[kind]} END)"
            if kind != "string"
            else f"(CASE WHEN jsonb_typeof(f.properties -> {key}) = 'string' THEN {value} END)"
        )

    def literal(self, value: Any) -> tuple[str, str]:
        """(kind, SQL) of a literal: a bound parameter cast to its type."""
        kind = _kind(value)
        if kind == "number" and isinstance(value, float) and not math.isfinite(value):
            raise BadRequest("filter numbers must be finite")
        return kind, f"CAST({self.bind(value)} AS {SQL_TYPE[kind]})"

    def operand_kind(self, node: Any) -> str | None:
        from pygeofilter import ast

        if isinstance(node, ast.Attribute):
            name = self.property_name(node)
            if name in COLUMNS:
                return "string"
            concrete = {t for t in self.queryables.get(name) or () if t != "null"}
            kinds = {k for k, types in JSON_TYPES.items() if concrete & set(types)}
            return kinds.pop() if len(kinds) == 1 else None
        return _kind(node)

    def operand(self, node: Any, kind: str) -> str:
        from pygeofilter import ast

        if isinstance(node, ast.Attribute):
            return self.typed_property(node, kind)
        got, sql = self.literal(node)
        if got != kind:
            raise BadRequest(f"filter compares a {kind} with a {got}")
        return sql

    # --- predicates ----------------------------------------------------------------------------------------

    def comparison(self, node: Any) -> str:
        from pygeofilter import ast

        ops = {
            ast.Equal: "=",
            ast.NotEqual: "<>",
            ast.LessThan: "<",
            ast.LessEqual: "<=",
            ast.GreaterThan: ">",
            ast.GreaterEqual: ">=",
        }
        op = ops[type(node)]
        literals = [n for n in (node.lhs, node.rhs) if not isinstance(n, ast.Attribute)]
        kind = _kind(literals[0]) if literals else self.operand_kind(node.lhs) or self.operand_kind(node.rhs)
        if kind is None:
            raise BadRequest("filter compares two properties whose types are not one known type")
        return f"({self.operand(node.lhs, kind)} {op} {self.operand(node.rhs, kind)})"

    def like(self, node: Any) -> str:
        if not isinstance(node.pattern, str):
            raise BadRequest("the pattern of LIKE must be a string literal")
        lhs = self.operand(node.lhs, "string")
        word = "NOT LIKE" if node.not_ else "LIKE"
        # CQL2's wildcards are SQL's: % any characters, _ one character, \ escapes
        return f"({lhs} {word} CAST({self.bind(node.pattern)} AS text))"

    def in_list(self, node: Any) -> str:
        items = list(node.sub_nodes)
        if not items:
            raise BadRequest("IN needs at least one value")
        if len(items) > MAX_IN_LIST:
            raise BadRequest(f"IN lists hold at most {MAX_IN_LIST} values, not {len(items)}")
        kinds = {_kind(v) for v in items}
        if len(kinds) != 1:
            raise BadRequest("the values of an IN list must all be of one type")
        kind = kinds.pop()
        if kind == "number" and any(isinstance(v, float) and not math.isfinite(v) for v in items):
            raise BadRequest("filter numbers must be finite")
        lhs = self.operand(node.lhs, kind)
        test = f"({lhs} = ANY(CAST({self.bind(items)} AS {SQL_TYPE[kind]}[])))"
        return f"(NOT {test})" if node.not_ else test

    def between(self, node: Any) -> str:
        kind = _kind(node.low)
        if kind == "boolean" or _kind(node.high) != kind:
            raise BadRequest("BETWEEN needs two numbers, two strings or two times")
        lhs = self.operand(node.lhs, kind)
        low, high = self.operand(node.low, kind), self.operand(node.high, kind)
        return f"({lhs} {'NOT BETWEEN' if node.not_ else 'BETWEEN'} {low} AND {high})"

    def is_null(self, node: Any) -> str:
        from pygeofilter import ast

        if not isinstance(node.lhs, ast.Attribute):
            raise BadRequest("IS NULL applies to a property")
        if str(node.lhs.name) in GEOMETRY_NAMES:
            test = "(f.geom IS NULL)"
        else:
            name = self.property_name(node.lhs)
            test = (
                f"({COLUMNS[name]} IS NULL)"
                if name in COLUMNS
                else f"(coalesce(jsonb_typeof(f.properties -> {self.bind(name)}), 'null') = 'null')"
            )
        return f"(NOT {test})" if node.not_ else test

    def spatial(self, node: Any) -> str:
        from pygeofilter import ast

        functions = {
            ast.GeometryIntersects: "ST_Intersects",
            ast.GeometryDisjoint: "ST_Disjoint",
            ast.GeometryContains: "ST_Contains",
            ast.GeometryWithin: "ST_Within",
            ast.GeometryTouches: "ST_Touches",
            ast.GeometryCrosses: "ST_Crosses",
            ast.GeometryOverlaps: "ST_Overlaps",
            ast.GeometryEquals: "ST_Equals",
        }
        function = functions.get(type(node))
        if function is None:
            raise BadRequest(f"filter uses {_label(node)}, which this service does not support")
        return f"{function}({self.geometry(node.lhs)}, {self.geometry(node.rhs)})"

    def geometry(self, node: Any) -> str:
        from pygeofilter import ast, values

        if isinstance(node, ast.Attribute):
            if str(node.name) not in GEOMETRY_NAMES:
                raise BadRequest(f"{node.name!r} is not a geometry; the geometry property is 'geometry'")
            return "f.geom"
        if isinstance(node, ast.Function) and str(node.name).lower() == "bbox":
            args = list(node.arguments)
            if len(args) not in (4, 6) or not all(_is_number(v) for v in args):
                raise BadRequest("BBOX in a filter takes 4 or 6 numbers")
            return self.geojson(_bbox_polygon(args))
        if isinstance(node, values.Geometry):
            return self.geojson(node.geometry)
        raise BadRequest(f"a spatial function needs the geometry property and a geometry, not {_label(node)}")

    def geojson(self, geometry: dict[str, Any]) -> str:
        check_geometry(geometry, srid=self.srid, lat_first=self.lat_first)
        g = f"ST_GeomFromGeoJSON({self.bind(json.dumps(geometry))})"
        if self.lat_first:
            g = f"ST_FlipCoordinates({g})"
        return f"ST_Transform(ST_SetSRID({g}, {int(self.srid)}), 28992)"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    if isinstance(value, str):
        return "string"
    if _is_number(value):
        return "number"
    raise BadRequest(f"filter uses {_label(value)} as a value; only strings, numbers and booleans are supported")


def _label(node: Any) -> str:
    from pygeofilter import ast

    if isinstance(node, ast.Node):
        return type(node).__name__
    if type(node).__name__ in ("Interval", "timedelta"):
        return "a time value (these features have no time property)"
    return f"a {type(node).__name__}"
