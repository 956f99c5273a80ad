"""Writes the hostile files of tests/test_hostile_files.py: each is a small file a person could craft by hand.

`python tests/data/make_hostile.py` writes them to tests/data/hostile/ (committed, for reading) with the URL
http://127.0.0.1:9/ (the discard port); the tests call :func:`write_all` with the URL of their own loopback
listener, which must see no request.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
SQUARE_RD = [[233000, 557000], [233100, 557000], [233100, 557100], [233000, 557100], [233000, 557000]]
SQUARE_WGS84 = [[6.5600, 52.9900], [6.5615, 52.9900], [6.5615, 52.9909], [6.5600, 52.9909], [6.5600, 52.9900]]


def ogr_vrt(source: str) -> str:
    """An OGR VRT: GDAL reads the layer from ``source`` (any path or URL) when it opens this file."""
    return (
        '<OGRVRTDataSource><OGRVRTLayer name="plan">'
        f"<SrcDataSource>{source}</SrcDataSource>"
        "<GeometryType>wkbNone</GeometryType>"
        "</OGRVRTLayer></OGRVRTDataSource>\n"
    )


def raster_vrt(source: str) -> str:
    """A raster VRT whose one band is read from ``source`` (a file such as /proc/self/environ, or a URL)."""
    return (
        '<VRTDataset rasterXSize="64" rasterYSize="64"><SRS>EPSG:28992</SRS>'
        "<GeoTransform>233000, 10, 0, 557640, 0, -10</GeoTransform>"
        '<VRTRasterBand dataType="Byte" band="1"><SimpleSource>'
        f'<SourceFilename relativeToVRT="0">{source}</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand></VRTDataset>\n"
    )


def feature_collection(props: dict[str, object], *, crs: dict[str, object] | None = None) -> str:
    doc: dict[str, object] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [SQUARE_WGS84]}}
        ],
    }
    if crs is not None:
        doc["crs"] = crs
    return json.dumps(doc)


def shapefile_zip(path: Path, shp: bytes, *, extra: dict[str, bytes] | None = None) -> None:
    """A zip with a 'Shapefile' whose .shp is ``shp`` (and a .shx of the same bytes, and a .dbf)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("plan.shp", shp)
        zf.writestr("plan.shx", shp)
        zf.writestr("plan.dbf", b"\x03" + b"\x00" * 31 + b"\r")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)


def write_all(target: Path, url: str) -> dict[str, Path]:
    """Every hostile file, in ``target``; ``url`` is where a fetch would go (a loopback listener)."""
    target.mkdir(parents=True, exist_ok=True)
    url = url.rstrip("/")
    files: dict[str, str | bytes] = {
        # H1: GDAL picks the driver by content: an OGR VRT under a vector suffix reads any file or URL.
        "vrt_passwd.geojson": ogr_vrt("CSV:/etc/passwd"),
        "vrt_passwd.gpkg": ogr_vrt("CSV:/etc/passwd"),
        "vrt_url.geojson": ogr_vrt(f"CSV:/vsicurl/{url}/punten.csv"),
        # ... and a raster VRT under .tif reads the process environment (DATABASE_URL) or a URL.
        "vrt_environ.tif": raster_vrt("/proc/self/environ"),
        "vrt_url.tif": raster_vrt(f"/vsicurl/{url}/hitte.tif"),
        # A GDAL algorithm pipeline (GDAL >= 3.11 runs it on open) in a .geojson.
        "gdalg.geojson": json.dumps(
            {"type": "gdal_streamed_alg", "command_line": "gdal vector read CSV:/etc/passwd", "relative_paths": False}
        ),
        # A GeoJSON whose CRS is a link: nothing may fetch it.
        "crs_link.geojson": feature_collection(
            {"name": "Plan"}, crs={"type": "link", "properties": {"href": f"{url}/crs.wkt", "type": "ogcwkt"}}
        ),
        # A GeoJSON whose CRS names a URL.
        "crs_url.geojson": feature_collection({"name": "Plan"}, crs={"type": "name", "properties": {"name": url}}),
    }
    out = {}
    for name, content in files.items():
        path = target / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        out[name] = path
    # H1: a zipped "Shapefile" whose .shp is an OGR VRT.
    out["vrt_in_zip.zip"] = target / "vrt_in_zip.zip"
    shapefile_zip(out["vrt_in_zip.zip"], ogr_vrt("CSV:/etc/passwd").encode())
    # A raster with siblings we did not write (CLI: files next to it): a PAM .aux.xml naming a URL as its CRS.
    out["sibling.tif"] = target / "sibling.tif"
    _small_geotiff(out["sibling.tif"], crs=None)
    (target / "sibling.tif.aux.xml").write_text(f"<PAMDataset><SRS>{url}/srs.wkt</SRS></PAMDataset>\n")
    return out


def _small_geotiff(path: Path, *, crs: str | None, dtype: str = "float32", predictor: int | None = None) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    profile: dict[str, object] = {
        "driver": "GTiff",
        "width": 64,
        "height": 64,
        "count": 1,
        "dtype": dtype,
        "transform": from_origin(233000, 557640, 10, 10),
        "compress": "deflate",
        "nodata": 0 if dtype == "uint8" else -9999.0,
    }
    if crs:
        profile["crs"] = crs
    if predictor:
        profile["predictor"] = predictor
    values = (np.arange(64 * 64).reshape(1, 64, 64) % 4 + 1).astype(dtype)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values)


def sparse_geotiff(path: Path, size: int) -> None:
    """A tiled, compressed GeoTIFF of ``size`` × ``size`` cells with no tile written (SPARSE_OK): a few KB on
    disk, size² cells when read — a decompression bomb."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="float32",
        crs="EPSG:28992",
        transform=from_origin(200000, 600000, 1, 1),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        sparse_ok=True,
        nodata=-9999.0,
    ):
        pass


def ordinary_files(target: Path) -> dict[str, Path]:
    """L1: ordinary files that must load (or be refused with a message), never a 500."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    from shapely.geometry import Polygon

    target.mkdir(parents=True, exist_ok=True)
    out = {}
    # Field names that are no Python identifiers: common in real GIS files.
    fields = target / "odd_fields.geojson"
    fields.write_text(feature_collection({"name": "Plan", "my field": "a", "class": "b", "2020": 7}))
    out["odd_fields.geojson"] = fields
    # A Byte GeoTIFF (a predictor for floats would not fit it), and GeoTIFFs with and without a CRS.
    _small_geotiff(target / "byte.tif", crs="EPSG:28992", dtype="uint8")
    _small_geotiff(target / "no_crs.tif", crs=None)
    out["byte.tif"], out["no_crs.tif"] = target / "byte.tif", target / "no_crs.tif"
    # A GeoPackage whose only table has no geometry.
    pyogrio.write_dataframe(pd.DataFrame({"name": ["Plan"]}), target / "no_geometry.gpkg", layer="tabel")
    out["no_geometry.gpkg"] = target / "no_geometry.gpkg"
    # Zips: a valid Shapefile buried under many folders, with a very long entry name, or among many entries.
    shp_dir = target / "shp"
    shp_dir.mkdir(exist_ok=True)
    gpd.GeoDataFrame({"name": ["Plan"]}, geometry=[Polygon(SQUARE_RD)], crs="EPSG:28992").to_file(shp_dir / "plan.shp")
    members = {p.suffix: p.read_bytes() for p in shp_dir.glob("plan.*")}
    variants = {
        "deep.zip": "/".join(f"d{i}" for i in range(3000)) + "/plan",
        "long_name.zip": "p" * 300,
        "many_entries.zip": "plan",
    }
    for name, stem in variants.items():
        with zipfile.ZipFile(target / name, "w", zipfile.ZIP_DEFLATED) as zf:
            for suffix, data in members.items():
                zf.writestr(f"{stem}{suffix}", data)
            if name == "many_entries.zip":
                for i in range(1000):
                    zf.writestr(f"leeg/{i}.txt", b"")
        out[name] = target / name
    # CSV injection: names a spreadsheet would run as formulas.
    csv = target / "formulas.csv"
    pd.DataFrame(
        {
            "lat": [52.99, 52.991, 52.992, 52.993, 52.994],
            "lon": [6.56, 6.561, 6.562, 6.563, 6.564],
            "naam": ['=HYPERLINK("http://example.invalid","klik")', "=cmd|' /C calc'!A0", "+1+1", "@SUM(1)", "-2+3"],
        }
    ).to_csv(csv, index=False)
    out["formulas.csv"] = csv
    return out


if __name__ == "__main__":
    folder = HERE / "hostile"
    write_all(folder, "http://127.0.0.1:9/")
    ordinary_files(folder)
    print(f"written to {folder}")
