"""One safe way to open a geodata file someone gave us: the API's uploads, the CLI's `layers load` and `check`,
and the notebooks all come through here.

GDAL picks its driver by content, not by suffix, and several of its drivers open other files or URLs (VRT, GDAL
algorithms, STAC, WMS, ...). So a file is opened only when:

1. its suffix names a format we support (GeoJSON, GeoPackage, ESRI Shapefile (zipped), STOP GIO GML, GeoTIFF,
   DXF, CSV) and its first bytes confirm that format (a VRT saved as ``.geojson`` is refused, and says so);
2. it lies alone in a directory of ours, under a name of ours (copied there, sha256 computed on the way), so no
   sibling (``.aux.xml``, ``.ovr``, ``.vrt``) that we did not write is ever next to it; a zip is checked entry by
   entry (count, depth, name length, links, ``..``, sizes, compression ratio) and only a Shapefile's own members
   are extracted;
3. the process's GDAL (:mod:`service.formats.gdalguard`) knows only the drivers we use (every other driver
   deregistered, in each GDAL library the process loaded: pyogrio's and rasterio's), with no network (every
   CPLHTTPFetch refused by a callback of ours: a GeoJSON's CRS link is never fetched; PROJ network off;
   ``/vsicurl/`` limited to a suffix nothing has), no directory listing of siblings, no ``.aux.xml`` side files
   and no SQLite external access; and
4. after opening, the driver GDAL used is the one the suffix and content named.

GML of a GIO is parsed by us (defusedxml), CSV by Python's csv module: GDAL never sees them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from service.core.errors import InvalidInput, LayerLoadError, TooLarge
from service.core.settings import Settings, get_settings
from service.formats.filekinds import SUFFIXES, Kind, check_content, confirm, describe, kind_of
from service.formats.gdalguard import ALLOWED_DRIVERS, GDAL_CONFIG, harden, rasterio_env

__all__ = [
    "ALLOWED_DRIVERS",
    "GDAL_CONFIG",
    "SUFFIXES",
    "Kind",
    "Staged",
    "check_content",
    "confirm",
    "describe",
    "harden",
    "kind_of",
    "layer_crs",
    "open_raster",
    "rasterio_env",
    "read_frame",
    "staged",
    "vector_info",
]

log = logging.getLogger(__name__)

DRIVER_OF = {Kind.GEOJSON: "GeoJSON", Kind.GPKG: "GPKG", Kind.SHAPEFILE: "ESRI Shapefile", Kind.DXF: "DXF"}
SHAPEFILE_MEMBERS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed, per entry


# --- staging: the file alone in a directory of ours --------------------------------------------------------


@dataclass
class Staged:
    """A file ready to open: ``path`` (ours) holds the content of ``source_name`` (the user's)."""

    path: Path
    kind: Kind
    source_name: str
    sha256: str
    size: int


def _copy_hashing(source: Path, target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with source.open("rb") as src, target.open("wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
            dst.write(chunk)
    return digest.hexdigest(), size


def _check_zip(archive: zipfile.ZipFile, name: str, settings: Settings) -> list[zipfile.ZipInfo]:
    """Every entry checked before anything is extracted; the members of its one Shapefile."""
    infos = archive.infolist()
    if len(infos) > settings.max_zip_entries:
        raise LayerLoadError(
            f"{name}: the zip holds {len(infos)} entries; at most {settings.max_zip_entries} are accepted"
        )
    total = 0
    for info in infos:
        entry = info.filename
        parts = PurePosixPath(entry.replace("\\", "/")).parts
        if entry.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", entry):
            raise LayerLoadError(f"{name}: entry {entry[:80]!r} has an absolute path or '..'")
        if len(parts) - 1 > settings.max_zip_depth:
            raise LayerLoadError(
                f"{name}: entry {entry[:60]!r}… lies {len(parts) - 1} folders deep; at most {settings.max_zip_depth}"
            )
        if len(entry) > settings.max_zip_name_length:
            raise LayerLoadError(
                f"{name}: an entry name is {len(entry)} characters long; at most {settings.max_zip_name_length}"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise LayerLoadError(f"{name}: entry {entry[:80]!r} is a symbolic link")
        total += info.file_size
        if total > MAX_UNZIPPED_BYTES:
            raise TooLarge(f"{name}: unpacks to more than {MAX_UNZIPPED_BYTES} bytes")
        if info.file_size > 1024 and info.file_size / max(info.compress_size, 1) > MAX_RATIO:
            raise LayerLoadError(f"{name}: entry {entry[:80]!r} is compressed suspiciously well (a zip bomb?)")
    shps = [i for i in infos if not i.is_dir() and PurePosixPath(i.filename).suffix.lower() == ".shp"]
    if len(shps) != 1:
        raise LayerLoadError(f"{name}: the zip holds {len(shps)} shapefiles; it must hold exactly one")
    stem = str(PurePosixPath(shps[0].filename).with_suffix("")).lower()
    members = [
        i
        for i in infos
        if not i.is_dir()
        and str(PurePosixPath(i.filename).with_suffix("")).lower() == stem
        and PurePosixPath(i.filename).suffix.lower() in SHAPEFILE_MEMBERS
    ]
    if not any(PurePosixPath(i.filename).suffix.lower() == ".shx" for i in members):
        raise LayerLoadError(f"{name}: the Shapefile in the zip has no .shx file")
    return members


def _extract_shapefile(zip_path: Path, workdir: Path, name: str, settings: Settings) -> Path:
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LayerLoadError(f"{name}: not a valid zip file", cause=exc) from exc
    with archive:
        members = _check_zip(archive, name, settings)
        for info in members:
            suffix = PurePosixPath(info.filename).suffix.lower()
            target = workdir / f"layer{suffix}"  # our own names: nothing of the zip's paths reaches the disk
            written = 0
            try:
                with archive.open(info) as src, target.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:  # a header that lies about the size
                            raise LayerLoadError(f"{name}: entry {info.filename[:80]!r} is larger than it says")
                        dst.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise LayerLoadError(f"{name}: entry {info.filename[:80]!r} cannot be unpacked", cause=exc) from exc
    shp = workdir / "layer.shp"
    for member in (shp, workdir / "layer.shx"):
        check_content(member, Kind.SHAPEFILE, name=f"{name} ({member.suffix})")
    return shp


def _copy_shapefile(shp: Path, workdir: Path, name: str) -> Path:
    members = {p.suffix.lower(): p for p in shp.parent.glob(shp.stem + ".*") if p.stem == shp.stem}
    if ".shx" not in members:
        raise LayerLoadError(f"{name}: the Shapefile has no .shx file next to it")
    for suffix in SHAPEFILE_MEMBERS:
        if suffix in members and members[suffix].is_file():
            shutil.copyfile(members[suffix], workdir / f"layer{suffix}")
    for member in (workdir / "layer.shp", workdir / "layer.shx"):
        check_content(member, Kind.SHAPEFILE, name=f"{name} ({member.suffix})")
    return workdir / "layer.shp"


@contextmanager
def staged(
    path: Path,
    *,
    allowed: tuple[Kind, ...] | None = None,
    source_name: str | None = None,
    settings: Settings | None = None,
) -> Iterator[Staged]:
    """``path`` copied alone into a fresh directory of ours (a zip: its Shapefile extracted), content checked;
    the directory is removed afterwards."""
    settings = settings or get_settings()
    name = source_name or path.name
    kind = kind_of(name, allowed=allowed)
    if not path.exists():
        raise LayerLoadError(f"{name}: file not found")
    if not path.is_file():
        raise LayerLoadError(f"{name}: not a file")
    workdir = Path(tempfile.mkdtemp(prefix="gebiedscheck-stage-"))
    try:
        suffix = Path(name).suffix.lower()
        own = workdir / f"source{suffix}"
        sha, size = _copy_hashing(path, own)
        check_content(own, kind, name=name)
        target = own
        if suffix == ".shp":  # a Shapefile on disk (CLI, manifest): its own members only, under our names
            target = _copy_shapefile(path, workdir, name)
        elif suffix == ".zip":
            unpack = workdir / "unpacked"
            unpack.mkdir()
            target = _extract_shapefile(own, unpack, name, settings)
        yield Staged(path=target, kind=kind, source_name=name, sha256=sha, size=size)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- opening -----------------------------------------------------------------------------------------------


def vector_info(st: Staged, *, layer: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """The header of a vector file, read by the driver its suffix and content name (checked), with the layer
    to read: feature count and geometry column checked before any feature is read."""
    import pyogrio

    settings = settings or get_settings()
    harden()
    expected = DRIVER_OF.get(st.kind)
    if expected is None:
        raise LayerLoadError(f"{st.source_name}: {st.kind.value} is not a vector layer format")
    try:
        layers = [str(n) for n in pyogrio.list_layers(st.path)[:, 0]]
        if layer is None and len(layers) > 1:
            raise LayerLoadError(f"{st.source_name}: holds {len(layers)} layers ({', '.join(layers)}); choose one")
        if layer is not None and layer not in layers:
            raise LayerLoadError(f"{st.source_name}: has no layer {layer!r} (layers: {', '.join(layers)})")
        info = pyogrio.read_info(st.path, layer=layer, force_feature_count=True)
    except LayerLoadError:
        raise
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise LayerLoadError(f"{st.source_name}: cannot be read as {st.kind.value} ({exc})", cause=exc) from exc
    if info.get("driver") != expected:
        raise LayerLoadError(f"{st.source_name}: read as {info.get('driver')}, not {expected}; the file is refused")
    if not info.get("geometry_type"):
        raise LayerLoadError(f"{st.source_name}: the layer has no geometry column")
    count = int(info.get("features") or 0)
    if count > settings.max_load_features:
        raise TooLarge(
            f"{st.source_name}: {count} features; at most {settings.max_load_features} are accepted in one file"
        )
    return {"layer": layer, "fields": [str(f) for f in info.get("fields", [])], "features": count, "info": info}


def read_frame(st: Staged, *, layer: str | None = None, settings: Settings | None = None) -> Any:
    """A vector file as a GeoDataFrame, after :func:`vector_info`'s checks; the vertex total is checked before
    any geometry is validated or written."""
    import geopandas as gpd
    import numpy as np
    import shapely

    settings = settings or get_settings()
    head = vector_info(st, layer=layer, settings=settings)
    try:
        gdf = gpd.read_file(st.path, layer=layer, engine="pyogrio") if layer else gpd.read_file(st.path)
    except Exception as exc:
        raise LayerLoadError(f"{st.source_name}: cannot be read as {st.kind.value} ({exc})", cause=exc) from exc
    if gdf.geometry is None:
        raise LayerLoadError(f"{st.source_name}: the layer has no geometry column")
    vertices = int(shapely.get_num_coordinates(np.asarray(gdf.geometry.values, dtype=object)).sum())
    if vertices > settings.max_load_vertices:
        raise TooLarge(
            f"{st.source_name}: {vertices} vertices; at most {settings.max_load_vertices} are accepted in one file"
        )
    gdf.attrs["fields"] = head["fields"]
    return gdf


@contextmanager
def open_raster(st: Staged, *, settings: Settings | None = None) -> Iterator[Any]:
    """A GeoTIFF opened by the GTiff driver only, its size checked from the header before any pixel is read."""
    import rasterio
    from rasterio.errors import RasterioIOError

    settings = settings or get_settings()
    if st.kind is not Kind.GTIFF:
        raise LayerLoadError(f"{st.source_name}: {st.kind.value} is not a raster format; load a GeoTIFF")
    with rasterio_env():
        try:
            src = rasterio.open(st.path, driver="GTiff")
        except RasterioIOError as exc:
            raise LayerLoadError(f"{st.source_name}: cannot be read as a GeoTIFF ({exc})", cause=exc) from exc
        with src:
            if src.driver != "GTiff":
                raise LayerLoadError(f"{st.source_name}: read as {src.driver}, not GTiff; the file is refused")
            cells = src.width * src.height * src.count
            if cells > settings.max_raster_cells:
                raise TooLarge(
                    f"{st.source_name}: {src.width} × {src.height} × {src.count} = {cells} cells; at most "
                    f"{settings.max_raster_cells} are accepted (GEBIEDSCHECK_MAX_RASTER_CELLS)"
                )
            yield src


# --- a CRS named for a file --------------------------------------------------------------------------------

_EPSG_FORMS = (
    re.compile(r"^EPSG:(\d{4,6})$", re.I),
    re.compile(r"^urn:ogc:def:crs:EPSG:[0-9.]*:(\d{4,6})$", re.I),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d{4,6})$", re.I),
)
_CRS84 = {"ogc:crs84", "crs84", "urn:ogc:def:crs:ogc:1.3:crs84", "http://www.opengis.net/def/crs/ogc/1.3/crs84"}


def layer_crs(value: str | None) -> str | None:
    """``EPSG:n`` for a CRS given with a file (``--crs``, the upload's ``crs`` field), or None when not given.

    Only EPSG codes (``EPSG:n``, the OGC URN and URI forms) and CRS84 are accepted, and only codes PROJ's own
    database knows: never a PROJ string, WKT, file name or URL, which PROJ or GDAL would act on.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) > 100:
        raise InvalidInput("crs: too long; give an EPSG code such as EPSG:28992")
    if text.lower() in _CRS84:
        return "EPSG:4326"
    code = next((m.group(1) for form in _EPSG_FORMS if (m := form.match(text))), None)
    if code is None:
        raise InvalidInput(
            f"crs {text[:60]!r} is not accepted; give an EPSG code such as EPSG:28992 "
            "(or its OGC URN/URI form); PROJ strings, WKT, files and URLs are refused"
        )
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    harden()
    try:
        CRS.from_epsg(int(code))
    except CRSError as exc:
        raise InvalidInput(f"crs EPSG:{code} is not a known EPSG code", cause=exc) from exc
    return f"EPSG:{code}"
