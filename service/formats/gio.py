"""Reading a STOP Geo-Informatieobject (GIO) GML of the Omgevingswet.

`geo:GeoInformatieObjectVaststelling` (https://standaarden.overheid.nl/stop/imop/geo/) holds a
`geo:GeoInformatieObjectVersie` with `geo:FRBRWork`/`geo:FRBRExpression` and `geo:Locatie` elements, each with
`geo:naam` and `geo:geometrie/basisgeo:Geometrie` (http://www.geostandaarden.nl/basisgeometrie/1.0) holding GML
3.2 surfaces in EPSG:28992. The expression becomes the version's source identifier, so answers cite the GIO.

Parsing is safe: a DOCTYPE (and so any entity) is refused before parsing, and the parser (defusedxml, which
forbids DTDs, entities and external references) resolves nothing and fetches nothing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # types only: parsing goes through defusedxml
from pathlib import Path

import shapely
from pydantic import BaseModel

from service.core.errors import LayerLoadError

NS = {
    "geo": "https://standaarden.overheid.nl/stop/imop/geo/",
    "basisgeo": "http://www.geostandaarden.nl/basisgeometrie/1.0",
    "gml": "http://www.opengis.net/gml/3.2",
}
RD_SRS = re.compile(r"(EPSG::?28992|EPSG/0/28992|epsg:28992)$", re.I)
MAX_BYTES = 200 * 1024 * 1024


class Gio(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    work: str
    expression: str
    names: list[str]
    geometries: list[object]


def _poslist(el: ET.Element, name: str) -> list[tuple[float, float]]:
    pos_list = el.find("gml:posList", NS)
    if pos_list is not None and pos_list.text:
        dim = int(pos_list.get("srsDimension", "2"))
        values = [float(v) for v in pos_list.text.split()]
        if len(values) % dim:
            raise LayerLoadError(f"{name}: a gml:posList has an odd number of coordinates")
        return [(values[i], values[i + 1]) for i in range(0, len(values), dim)]
    points = [tuple(float(v) for v in p.text.split()[:2]) for p in el.findall("gml:pos", NS) if p.text]
    if not points:
        raise LayerLoadError(f"{name}: a gml:LinearRing has no coordinates")
    return points  # type: ignore[return-value]


def _polygon(el: ET.Element, name: str) -> shapely.Polygon:
    ext = el.find("gml:exterior/gml:LinearRing", NS)
    if ext is None:
        raise LayerLoadError(f"{name}: a gml:Polygon without gml:exterior/gml:LinearRing")
    holes = [_poslist(r, name) for r in el.findall("gml:interior/gml:LinearRing", NS)]
    return shapely.Polygon(_poslist(ext, name), holes)


def _surfaces(geom_el: ET.Element, name: str) -> list[shapely.Polygon]:
    polys = [_polygon(p, name) for p in geom_el.iter(f"{{{NS['gml']}}}Polygon")]
    polys += [_polygon(p, name) for p in geom_el.iter(f"{{{NS['gml']}}}PolygonPatch")]
    if not polys:
        raise LayerLoadError(f"{name}: a basisgeo:geometrie holds no GML surface (gml:Polygon/gml:PolygonPatch)")
    return polys


def read_gio(path: Path, *, name: str | None = None) -> Gio:
    """The GIO in ``path`` (``name``: the file name to use in messages)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    shown = name or path.name
    if path.stat().st_size > MAX_BYTES:
        raise LayerLoadError(f"{shown}: larger than {MAX_BYTES} bytes")
    data = path.read_bytes()
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise LayerLoadError(f"{shown}: a DOCTYPE or ENTITY declaration is not accepted in a GIO")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ET.ParseError as exc:
        raise LayerLoadError(f"{shown}: not well-formed XML ({exc})", cause=exc) from exc
    except DefusedXmlException as exc:
        raise LayerLoadError(f"{shown}: the XML declares what a GIO may not ({exc})", cause=exc) from exc
    if root.tag != f"{{{NS['geo']}}}GeoInformatieObjectVaststelling":
        raise LayerLoadError(f"{shown}: not a geo:GeoInformatieObjectVaststelling (root is {root.tag})")
    version = root.find(".//geo:GeoInformatieObjectVersie", NS)
    if version is None:
        raise LayerLoadError(f"{shown}: no geo:GeoInformatieObjectVersie")
    work, expr = version.findtext("geo:FRBRWork", None, NS), version.findtext("geo:FRBRExpression", None, NS)
    if not work or not expr:
        raise LayerLoadError(f"{shown}: geo:FRBRWork and geo:FRBRExpression are required")
    names, geoms = [], []
    for i, loc in enumerate(version.iter(f"{{{NS['geo']}}}Locatie"), start=1):
        label = f"{shown}, locatie {i}"
        name = (loc.findtext("geo:naam", None, NS) or "").strip() or f"Locatie {i}"
        geom_el = loc.find("geo:geometrie/basisgeo:Geometrie/basisgeo:geometrie", NS)
        if geom_el is None or len(geom_el) == 0:
            raise LayerLoadError(f"{label} ({name}): no geo:geometrie/basisgeo:Geometrie/basisgeo:geometrie")
        srs = next((e.get("srsName") for e in geom_el.iter() if e.get("srsName")), None)
        if not srs or not RD_SRS.search(srs):
            raise LayerLoadError(f"{label} ({name}): srsName must be urn:ogc:def:crs:EPSG::28992, not {srs!r}")
        names.append(name)
        geoms.append(shapely.MultiPolygon(_surfaces(geom_el, label)))
    if not geoms:
        raise LayerLoadError(f"{shown}: the GIO has no geo:Locatie")
    return Gio(work=work.strip(), expression=expr.strip(), names=names, geometries=geoms)
