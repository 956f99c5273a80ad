"""What a file is: the format its suffix announces, confirmed (or not) by its first bytes."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from service.core.errors import InvalidInput, LayerLoadError

_HEAD = 4096


class Kind(StrEnum):
    GEOJSON = "GeoJSON"
    GPKG = "GeoPackage"
    SHAPEFILE = "ESRI Shapefile"
    GIO = "GIO GML"
    GTIFF = "GeoTIFF"
    DXF = "DXF"
    CSV = "CSV"


SUFFIXES: dict[str, Kind] = {
    ".geojson": Kind.GEOJSON,
    ".json": Kind.GEOJSON,
    ".gpkg": Kind.GPKG,
    ".zip": Kind.SHAPEFILE,
    ".shp": Kind.SHAPEFILE,
    ".gml": Kind.GIO,
    ".xml": Kind.GIO,
    ".tif": Kind.GTIFF,
    ".tiff": Kind.GTIFF,
    ".dxf": Kind.DXF,
    ".csv": Kind.CSV,
}


def kind_of(name: str, *, allowed: tuple[Kind, ...] | None = None) -> Kind:
    """The format a file name's suffix announces (422 for any other suffix)."""
    suffix = Path(name).suffix.lower()
    kind = SUFFIXES.get(suffix)
    if kind is None or (allowed is not None and kind not in allowed):
        kinds = allowed or tuple(Kind)
        wanted = ", ".join(sorted({s for s, k in SUFFIXES.items() if k in kinds}))
        raise InvalidInput(f"{Path(name).name}: unknown format {suffix or '(no suffix)'}; accepted: {wanted}")
    return kind


def describe(head: bytes) -> str:
    """What the first bytes of a file look like, in words for a message."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if b"<VRTDataset" in head or b"<OGRVRTDataSource" in head:
        return "a GDAL virtual dataset (VRT XML), which makes GDAL open other files and is never accepted"
    if text.startswith(b"<"):
        return "XML"
    if text.startswith((b"{", b"[")):
        return "JSON"
    if head.startswith(b"SQLite format 3\x00"):
        return "an SQLite database" + ("" if head[68:72] in (b"GPKG", b"GP10", b"GP11") else " that is no GeoPackage")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a zip archive"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "a TIFF image"
    if head[:4] == b"\x00\x00\x27\x0a":
        return "an ESRI Shapefile"
    if b"\x00" in head:
        return "binary data of an unknown kind"
    return "text"


def _is_dxf(head: bytes) -> bool:
    if head.startswith(b"AutoCAD Binary DXF\r\n\x1a\x00"):
        return True
    lines = head.lstrip(b"\xef\xbb\xbf").splitlines()[:4]
    stripped = [ln.strip() for ln in lines]
    if len(stripped) < 2 or stripped[0] not in (b"0", b"999"):
        return False
    return b"SECTION" in stripped[1:] or stripped[0] == b"999"


def confirm(kind: Kind, head: bytes) -> bool:
    """Whether the first bytes of a file are what its suffix says."""
    if b"<VRTDataset" in head or b"<OGRVRTDataSource" in head:
        return False
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if kind is Kind.GEOJSON:
        return text.startswith(b"{")
    if kind is Kind.GPKG:
        return head.startswith(b"SQLite format 3\x00") and head[68:72] in (b"GPKG", b"GP10", b"GP11")
    if kind is Kind.SHAPEFILE:
        return head.startswith((b"PK\x03\x04", b"PK\x05\x06")) or head[:4] == b"\x00\x00\x27\x0a"
    if kind is Kind.GIO:
        return text.startswith(b"<")
    if kind is Kind.GTIFF:
        return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
    if kind is Kind.DXF:
        return _is_dxf(head)
    if kind is Kind.CSV:
        if b"\x00" in head or text.startswith((b"<", b"{")):
            return False
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            return exc.start > len(head) - 4  # a character cut at the end of the sample
        return True
    return False


def check_content(path: Path, kind: Kind, *, name: str | None = None) -> None:
    """Refuse a file whose first bytes are not what its suffix (``kind``) says."""
    with path.open("rb") as fh:
        head = fh.read(_HEAD)
    if not confirm(kind, head):
        shown = name or path.name
        raise LayerLoadError(
            f"{shown}: the name says {kind.value}, but the content is {describe(head)}; the file is refused"
        )
