"""Build the indicative urban heat island raster ``layers/raster/hitte-eiland.tif``.

Same quantity as the national UHI map of the Atlas Natuurlijk Kapitaal (RIVM): the summer-mean
air-temperature difference between the city and the surrounding countryside, in degrees Celsius.
Here it is MODELLED from an imperviousness grid (see layers/MODEL.md); it is INDICATIVE and meant
to be replaced unchanged by the official raster. Reads the GeoPackages that build_layers.py writes.

Run from the repository root:  .venv/bin/python layers/build_heat.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.shutil
from pyproj import Transformer
from rasterio.features import geometry_mask, rasterize
from rasterio.io import MemoryFile
from rasterio.transform import Affine, from_origin
from scipy.ndimage import gaussian_filter
from shapely import unary_union
from shapely.geometry import LineString, Polygon, box
from shapely.geometry.base import BaseGeometry

HERE = Path(__file__).resolve().parent
VECTOR_DIR = HERE / "vector"
OUT_PATH = HERE / "raster" / "hitte-eiland.tif"
RD_CRS = "EPSG:28992"
INPUT_LAYERS = (
    "gemeentegrens",
    "binnenstad",
    "havenkwartier",
    "bedrijventerreinen",
    "wijkwinkelcentra",
    "natura2000",
)
_TO_RD = Transformer.from_crs("EPSG:4326", RD_CRS, always_xy=True)

# --- grid and output -------------------------------------------------------------------------
CELL_M = 10.0
MARGIN_M = 500.0  # around the municipality bbox; cells beyond municipality + MARGIN_M are nodata
NODATA = -9999.0
QUANTUM = 0.05  # degrees C; values are rounded to multiples of this to compress well

# --- model parameters (documented in MODEL.md) ------------------------------------------------
# fmt: off
IMPERV = {  # imperviousness / heat-storing surface fraction per land-cover class
    "countryside": 0.05, "bebouwd": 0.45, "binnenstad": 0.75, "binnenstad_noord": 0.85,
    "bedrijventerrein": 0.85, "havenkwartier": 0.9, "winkelcentrum": 0.9,
    "forest": 0.0, "natura2000": 0.0, "water": 0.0,
}
# fmt: on
SIGMA_WIDE_M = 300.0  # neighbourhood scale: the city-wide heat dome
SIGMA_LOCAL_M = 40.0  # street/block scale
A_WIDE = 2.9  # degrees C per unit of smoothed imperviousness above the countryside level
B_LOCAL = 0.8
SIGMA_COOL_M = 40.0  # spread of the cooling by water and forest into the neighbouring cells
COOL_WATER = 0.8  # degrees C at the centre of a large water body
COOL_FOREST = 0.3  # degrees C inside a closed forest (Asserbos) or nature area
UHI_MAX = 3.2

# fmt: off
# --- land-cover-only polygons (inputs of the model, not shipped as layers); WGS84 (lon, lat) ---
ASSERBOS = [
    (6.5600, 52.9880), (6.5630, 52.9887), (6.5665, 52.9886), (6.5700, 52.9878), (6.5728, 52.9858),
    (6.5733, 52.9825), (6.5730, 52.9790), (6.5715, 52.9772), (6.5680, 52.9768), (6.5640, 52.9772),
    (6.5612, 52.9785), (6.5598, 52.9815), (6.5595, 52.9850),
]
BEBOUWD_GEBIED = [  # built-up outline of the town of Assen (Kloosterveen to Messchenveld)
    (6.5150, 52.9960), (6.5155, 53.0030), (6.5175, 53.0085), (6.5280, 53.0100), (6.5350, 53.0090),
    (6.5420, 53.0140), (6.5520, 53.0195), (6.5680, 53.0200), (6.5800, 53.0175), (6.5900, 53.0085),
    (6.5980, 52.9990), (6.6080, 52.9865), (6.6200, 52.9835), (6.6210, 52.9700), (6.6080, 52.9660),
    (6.5900, 52.9680), (6.5740, 52.9585), (6.5590, 52.9585), (6.5585, 52.9740), (6.5500, 52.9790),
    (6.5420, 52.9840), (6.5300, 52.9865), (6.5200, 52.9900), (6.5155, 52.9920),
]
BAGGELHUIZERPLAS = [
    (6.5352, 52.9712), (6.5360, 52.9732), (6.5385, 52.9745), (6.5420, 52.9748), (6.5448, 52.9738),
    (6.5455, 52.9718), (6.5435, 52.9700), (6.5400, 52.9694), (6.5370, 52.9698),
]
CANAL_HALF_WIDTH_M = 15.0  # the Vaart and Havenkanaal drawn as centre lines, buffered to ~30 m
VAART = [  # Kop van de Vaart northward (Vaart / Noord-Willemskanaal)
    (6.5590, 52.9947), (6.5596, 52.9972), (6.5603, 52.9995), (6.5615, 53.0018), (6.5622, 53.0060),
    (6.5635, 53.0120), (6.5648, 53.0200), (6.5660, 53.0300), (6.5668, 53.0400),
]
HAVENKANAAL = [(6.5615, 53.0018), (6.5640, 53.0028), (6.5680, 53.0022), (6.5700, 53.0012)]
# fmt: on


def rd_polygon(ring: list[tuple[float, float]]) -> Polygon:
    xs, ys = _TO_RD.transform([p[0] for p in ring], [p[1] for p in ring])
    poly = Polygon([(round(x, 1), round(y, 1)) for x, y in zip(xs, ys, strict=True)])
    assert poly.is_valid
    return poly


def rd_strip(line: list[tuple[float, float]], half_width: float) -> Polygon:
    xs, ys = _TO_RD.transform([p[0] for p in line], [p[1] for p in line])
    return LineString(list(zip(xs, ys, strict=True))).buffer(half_width)


def land_cover() -> dict[str, BaseGeometry]:
    """The model-only land cover in RD: Asserbos, built-up area, Baggelhuizerplas and all water."""
    lake = rd_polygon(BAGGELHUIZERPLAS)
    canals = [rd_strip(VAART, CANAL_HALF_WIDTH_M), rd_strip(HAVENKANAAL, CANAL_HALF_WIDTH_M)]
    return {
        "asserbos": rd_polygon(ASSERBOS),
        "bebouwd": rd_polygon(BEBOUWD_GEBIED),
        "baggelhuizerplas": lake,
        "water": unary_union([lake, *canals]),
    }


def read_layer(slug: str) -> gpd.GeoDataFrame:
    path = VECTOR_DIR / f"{slug}.gpkg"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run layers/build_layers.py first")
    return gpd.read_file(path, layer=slug).to_crs(RD_CRS)


def split_binnenstad(binnenstad: BaseGeometry) -> tuple[BaseGeometry, BaseGeometry]:
    """Northern and southern half of the binnenstad, split at the middle of its bbox."""
    minx, miny, maxx, maxy = binnenstad.bounds
    mid = (miny + maxy) / 2
    return binnenstad.intersection(box(minx, mid, maxx, maxy)), binnenstad.intersection(box(minx, miny, maxx, mid))


def grid_for(bounds: tuple[float, float, float, float]) -> tuple[Affine, int, int]:
    """A 10 m grid aligned to multiples of 10 m covering ``bounds`` plus MARGIN_M."""
    minx, miny, maxx, maxy = bounds
    x0 = np.floor((minx - MARGIN_M) / CELL_M) * CELL_M
    y0 = np.floor((miny - MARGIN_M) / CELL_M) * CELL_M
    x1 = np.ceil((maxx + MARGIN_M) / CELL_M) * CELL_M
    y1 = np.ceil((maxy + MARGIN_M) / CELL_M) * CELL_M
    width, height = int(round((x1 - x0) / CELL_M)), int(round((y1 - y0) / CELL_M))
    return from_origin(float(x0), float(y1), CELL_M, CELL_M), width, height


def burn(geoms: list[tuple[BaseGeometry, float]], shape: tuple[int, int], transform: Affine, fill: float) -> np.ndarray:
    return rasterize(geoms, out_shape=shape, transform=transform, fill=fill, dtype="float32")


def model(
    layers: dict[str, gpd.GeoDataFrame],
    cover: dict[str, BaseGeometry],
    transform: Affine,
    shape: tuple[int, int],
) -> np.ndarray:
    """UHI in degrees C on the whole grid, clipped to [0, UHI_MAX] (nodata is applied later)."""
    binnenstad = layers["binnenstad"].geometry.iloc[0]
    north, _south = split_binnenstad(binnenstad)
    natura = list(layers["natura2000"].geometry)
    order: list[tuple[BaseGeometry, float]] = [(cover["bebouwd"], IMPERV["bebouwd"])]
    order += [(binnenstad, IMPERV["binnenstad"]), (north, IMPERV["binnenstad_noord"])]
    order += [(g, IMPERV["bedrijventerrein"]) for g in layers["bedrijventerreinen"].geometry]
    order += [(layers["havenkwartier"].geometry.iloc[0], IMPERV["havenkwartier"])]
    order += [(g, IMPERV["winkelcentrum"]) for g in layers["wijkwinkelcentra"].geometry]
    order += [(cover["asserbos"], IMPERV["forest"])] + [(g, IMPERV["natura2000"]) for g in natura]
    order += [(cover["water"], IMPERV["water"])]  # later shapes overwrite earlier ones
    imperv = burn(order, shape, transform, IMPERV["countryside"]).astype("float64")

    base = IMPERV["countryside"]
    kw = {"mode": "constant", "cval": base}
    wide = gaussian_filter(imperv, SIGMA_WIDE_M / CELL_M, **kw) - base
    local = gaussian_filter(imperv, SIGMA_LOCAL_M / CELL_M, **kw) - base
    water = burn([(cover["water"], 1.0)], shape, transform, 0.0).astype("float64")
    green = burn([(cover["asserbos"], 1.0)] + [(g, 1.0) for g in natura], shape, transform, 0.0)
    sigma_cool = SIGMA_COOL_M / CELL_M
    cooling = COOL_WATER * gaussian_filter(water, sigma_cool, mode="constant", cval=0.0)
    cooling += COOL_FOREST * gaussian_filter(green.astype("float64"), sigma_cool, mode="constant", cval=0.0)
    uhi = A_WIDE * wide + B_LOCAL * local - cooling
    return np.clip(uhi, 0.0, UHI_MAX)


def write_cog(data: np.ndarray, transform: Affine, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": RD_CRS,
        "transform": transform,
        "nodata": NODATA,
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as tmp:
            tmp.write(data, 1)
            tmp.update_tags(1, unit="degC", quantity="urban heat island, summer mean (indicatief)")
            tmp.units = ("degC",)
            tmp.set_band_description(1, "hitte-eiland (UHI), degC")
        with mem.open() as src:
            # NEAREST overviews keep the 0.05 degC quantisation (and so the compression) intact.
            rasterio.shutil.copy(
                src,
                path,
                driver="COG",
                COMPRESS="DEFLATE",
                PREDICTOR="FLOATING_POINT",
                LEVEL="9",
                BLOCKSIZE="256",
                OVERVIEWS="AUTO",
                OVERVIEW_RESAMPLING="NEAREST",
            )


def zone_mean(arr: np.ndarray, transform: Affine, geom: BaseGeometry) -> float:
    inside = geometry_mask([geom], out_shape=arr.shape, transform=transform, invert=True)
    vals = arr[inside & (arr != NODATA)]
    return float(vals.mean()) if vals.size else float("nan")


def gdalinfo_summary(path: Path) -> None:
    if shutil.which("gdalinfo") is None:
        print("gdalinfo not found; skipped")
        return
    info = json.loads(
        subprocess.run(["gdalinfo", "-json", str(path)], check=True, capture_output=True, text=True).stdout
    )
    band = info["bands"][0]
    print(
        f"gdalinfo: driver={info['driverShortName']} size={info['size']} "
        f"origin={info['geoTransform'][0]},{info['geoTransform'][3]} pixel={info['geoTransform'][1]},"
        f"{info['geoTransform'][5]} epsg={info.get('stac', {}).get('proj:epsg', 'n/a')}"
    )
    print(
        f"gdalinfo: type={band['type']} block={band['block']} nodata={band.get('noDataValue')} "
        f"overviews={[o['size'] for o in band.get('overviews', [])]}"
    )
    print(f"gdalinfo: image structure={info['metadata'].get('IMAGE_STRUCTURE', {})}")


def main() -> None:
    layers = {slug: read_layer(slug) for slug in INPUT_LAYERS}
    cover = land_cover()
    for label, geom in cover.items():
        print(f"land cover {label:<17} {geom.area / 1e4:8.1f} ha")
    gemeente = layers["gemeentegrens"].geometry.iloc[0]
    transform, width, height = grid_for(gemeente.bounds)
    shape = (height, width)
    uhi = model(layers, cover, transform, shape)
    uhi = np.round(uhi / QUANTUM) * QUANTUM
    outside = geometry_mask([gemeente.buffer(MARGIN_M)], out_shape=shape, transform=transform)
    data = np.where(outside, NODATA, uhi).astype("float32")
    write_cog(data, transform, OUT_PATH)

    with rasterio.open(OUT_PATH) as src:
        arr = src.read(1)
        assert src.crs.to_epsg() == 28992 and src.res == (CELL_M, CELL_M) and src.nodata == NODATA
        assert src.transform.c % CELL_M == 0 and src.transform.f % CELL_M == 0
    size = OUT_PATH.stat().st_size
    valid = arr[arr != NODATA]
    gdalinfo_summary(OUT_PATH)
    print(
        f"{OUT_PATH.relative_to(HERE.parent)}: {width}x{height} cells, {size:,} bytes, "
        f"min {valid.min():.2f} max {valid.max():.2f} mean {valid.mean():.2f} degC"
    )
    assert size < 5_000_000, "raster must stay under 5 MB"

    north, south = split_binnenstad(layers["binnenstad"].geometry.iloc[0])
    zones: list[tuple[str, BaseGeometry]] = [
        ("havenkwartier/Havenkwartier", layers["havenkwartier"].geometry.iloc[0]),
        ("binnenstad/Binnenstad", layers["binnenstad"].geometry.iloc[0]),
        ("binnenstad/noordelijke helft", north),
        ("binnenstad/zuidelijke helft", south),
    ]
    for slug in ("bedrijventerreinen", "wijkwinkelcentra", "natura2000"):
        gdf = layers[slug]
        zones += [(f"{slug}/{n}", g) for n, g in zip(gdf["name"], gdf.geometry, strict=True)]
    zones += [("(land cover)/Asserbos", cover["asserbos"])]
    zones += [("(land cover)/Baggelhuizerplas", cover["baggelhuizerplas"])]
    means = {label: zone_mean(arr, transform, g) for label, g in zones}
    for label, value in means.items():
        shown = "outside the raster" if np.isnan(value) else f"{value:5.2f} degC"
        print(f"  mean UHI {label:<56} {shown}")

    assert means["havenkwartier/Havenkwartier"] >= 2.0
    assert means["natura2000/Witterveld"] <= 0.3
    assert means["binnenstad/noordelijke helft"] > means["binnenstad/zuidelijke helft"]
    assert means["(land cover)/Asserbos"] < means["binnenstad/Binnenstad"]
    print("acceptance checks passed")


if __name__ == "__main__":
    main()
