"""The heat-island raster: format, grid, value range, and the pattern of Omgevingsvisie §3.7."""

from __future__ import annotations

import json

import numpy as np
import rasterio
from rasterio.mask import mask
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.settings import PROJECT_ROOT

RASTER = PROJECT_ROOT / "layers" / "raster" / "hitte-eiland.tif"


def test_raster_format_and_grid() -> None:
    assert RASTER.stat().st_size < 5 * 1024 * 1024
    with rasterio.Env(), rasterio.open(RASTER) as src:
        assert src.crs.to_epsg() == 28992
        assert src.res == (10.0, 10.0)
        assert src.dtypes[0] == "float32"
        assert src.count == 1
        assert src.nodata is not None
        assert src.profile["tiled"] is True
        assert src.overviews(1), "a COG has overviews"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.transform.c % 10 == 0 and src.transform.f % 10 == 0  # grid aligned to 10 m
        data = src.read(1, masked=True)
    values = data.compressed()
    assert np.isfinite(values).all()
    assert values.min() >= 0.0
    assert 2.0 <= values.max() <= 3.5  # the national UHI map's range: 0 to about 3 °C


def test_raster_covers_the_municipality(session: Session) -> None:
    bbox = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(f.geom) e FROM features f "
            "JOIN layers l ON l.current_version_id = f.version_id WHERE l.slug = 'gemeentegrens') s"
        )
    ).one()
    with rasterio.open(RASTER) as src:
        b = src.bounds
    assert b.left <= bbox[0] and b.bottom <= bbox[1] and b.right >= bbox[2] and b.top >= bbox[3]


def zone_mean(session: Session, slug: str, name: str | None = None, where: str = "true") -> float:
    rows = (
        session.execute(
            text(
                "SELECT ST_AsGeoJSON(f.geom) FROM features f JOIN layers l ON l.current_version_id = f.version_id "
                f"WHERE l.slug = :slug AND (CAST(:name AS text) IS NULL OR f.name = CAST(:name AS text)) AND {where}"
            ),
            {"slug": slug, "name": name},
        )
        .scalars()
        .all()
    )
    assert rows, (slug, name)
    with rasterio.Env(), rasterio.open(RASTER) as src:
        out, _ = mask(src, [json.loads(g) for g in rows], crop=True, filled=False)
    return float(out.mean())


def test_heat_pattern_of_section_3_7(session: Session) -> None:
    havenkwartier = zone_mean(session, "havenkwartier")
    witterveld = zone_mean(session, "natura2000", "Witterveld")
    bedrijven = zone_mean(session, "bedrijventerreinen", "Stadsbedrijvenpark")
    winkels = zone_mean(session, "wijkwinkelcentra")
    assert havenkwartier > witterveld + 1.5
    assert havenkwartier >= 2.0
    assert witterveld <= 0.3
    assert bedrijven > 1.5 and winkels > 1.0
    with rasterio.open(RASTER) as src:
        values = src.read(1, masked=True).compressed()
    assert np.percentile(values, 25) < 0.2  # the countryside, most of the municipality, is ~0 °C


def test_northern_binnenstad_hotter_than_southern(session: Session) -> None:
    geojson = session.execute(
        text(
            "SELECT ST_AsGeoJSON(f.geom), ST_Y(ST_Centroid(f.geom)) FROM features f "
            "JOIN layers l ON l.current_version_id = f.version_id WHERE l.slug = 'binnenstad'"
        )
    ).one()
    y_mid = geojson[1]
    with rasterio.open(RASTER) as src:
        out, transform = mask(src, [json.loads(geojson[0])], crop=True, filled=False)
        band = out[0]
        rows = np.arange(band.shape[0])
        ys = transform.f + (rows + 0.5) * transform.e
        north = band[ys > y_mid].mean()
        south = band[ys <= y_mid].mean()
    assert north > south


def test_loaded_raster_version(session: Session, settings) -> None:
    path, meta = session.execute(
        text(
            "SELECT v.raster_path, v.metadata FROM layers l JOIN layer_versions v ON v.id = l.current_version_id "
            "WHERE l.slug = 'hitte-eiland'"
        )
    ).one()
    assert path.startswith(str(settings.raster_store))
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 28992
    assert meta["unit"] == "°C" and meta["cell_size_m"] == [10.0, 10.0]
    assert 0 <= meta["min"] < meta["max"] <= 3.5
