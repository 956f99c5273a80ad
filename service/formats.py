"""Reading the files GIS staff load: GeoJSON, GeoPackage (one layer chosen), zipped ESRI Shapefile.

Nothing a user sends is handed to GDAL as a path or URL of theirs: bytes go to a temporary directory we own,
zip entries are checked (no absolute paths, no '..', no links, size and compression-ratio limits), and the
directory is removed afterwards. PDOK's Natura 2000 fields (naamN2K, nr) are mapped to ours.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from service.errors import LayerLoadError

MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed, per entry
VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".zip", ".shp"}
GIO_SUFFIXES = {".gml", ".xml"}
# PDOK Natura 2000 (and similar) field names -> ours
FIELD_ALIASES = {"name": ("naamN2K", "naam_n2k", "naam", "NAAM"), "site_number": ("nr", "NR", "sitenummer")}


@contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """The file to open: the file itself, or the one .shp inside a zip, safely extracted to our temp dir."""
    if path.suffix.lower() != ".zip":
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="gebiedscheck-zip-"))
    try:
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise LayerLoadError(f"{path.name}: not a valid zip file", cause=exc) from exc
        with archive:
            total = 0
            for info in archive.infolist():
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts or info.filename.startswith(("/", "\\")):
                    raise LayerLoadError(f"{path.name}: entry {info.filename!r} has an absolute path or '..'")
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise LayerLoadError(f"{path.name}: entry {info.filename!r} is a symbolic link")
                total += info.file_size
                if total > MAX_UNZIPPED_BYTES:
                    raise LayerLoadError(f"{path.name}: unpacks to more than {MAX_UNZIPPED_BYTES} bytes")
                if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                    raise LayerLoadError(f"{path.name}: entry {info.filename!r} is compressed suspiciously well")
            archive.extractall(tmp)
        shps = sorted(p for p in tmp.rglob("*") if p.suffix.lower() == ".shp" and tmp in p.resolve().parents)
        if len(shps) != 1:
            raise LayerLoadError(f"{path.name}: the zip holds {len(shps)} shapefiles; it must hold exactly one")
        yield shps[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mapped_name_field(path: Path, name_field: str | None, layer: str | None) -> tuple[str, dict[str, str]]:
    """The name field to use and a renaming of known foreign fields (PDOK) to ours."""
    import pyogrio

    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:
        raise LayerLoadError(f"{path.name}: cannot be read ({exc})", cause=exc) from exc
    fields = [str(f) for f in info["fields"]]
    rename = {}
    for ours, aliases in FIELD_ALIASES.items():
        if ours not in fields:
            found = next((a for a in aliases if a in fields), None)
            if found:
                rename[found] = ours
    if name_field:
        if name_field not in fields:
            raise LayerLoadError(f"{path.name}: no field {name_field!r} (fields: {', '.join(fields)})")
        return name_field, {k: v for k, v in rename.items() if k != name_field}
    return "name", rename
