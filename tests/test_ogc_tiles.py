"""OGC API – Tiles: tile matrix sets (WebMercatorQuad, NetherlandsRDNewQuad), tile set metadata, tiles in both,
404s, ETags, the disk cache, and GDAL 3.12's OGCAPI driver (API=TILES) reading our tiles in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.core.settings import Settings
from service.ogc import tilecache, tiles
from service.spatial.geo import rd_to_wgs84
from tests.conftest import defaults_database, live_server

RD = "NetherlandsRDNewQuad"
WM = "WebMercatorQuad"
HK = "/collections/havenkwartier/tiles"


@pytest.fixture(scope="module")
def tsettings(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with defaults_database(server_url, tmp_path_factory.mktemp("tdata"), "gebiedscheck_test_t") as s:
        yield s


@pytest.fixture(scope="module")
def client(tsettings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(tsettings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def hk_point(tsettings: Settings) -> tuple[float, float]:
    """A point inside the Havenkwartier (EPSG:28992), from the database."""
    from service.store.database import make_engine

    eng = make_engine(tsettings)
    with eng.connect() as c:
        x, y = c.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(f.geom) p FROM features f "
                "JOIN layers l ON l.current_version_id = f.version_id WHERE l.slug = 'havenkwartier') s"
            )
        ).one()
    eng.dispose()
    return float(x), float(y)


def rd_tile(x: float, y: float, z: int) -> tuple[int, int]:
    """(row, col) of the NetherlandsRDNewQuad tile holding (x, y), computed by hand from the published grid."""
    size = 3440.64 / 2**z * 256
    return int((903401.92 - y) // size), int((x + 285401.92) // size)


def wm_tile(lat: float, lon: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n), int((lon + 180) / 360 * n)


def names(content: bytes, layer: str = "havenkwartier") -> list[str]:
    decoded = mapbox_vector_tile.decode(content)
    return [f["properties"]["name"] for f in decoded[layer]["features"]] if layer in decoded else []


def test_tile_matrix_sets(client: TestClient) -> None:
    listing = client.get("/tileMatrixSets").json()
    ids = [t["id"] for t in listing["tileMatrixSets"]]
    assert ids == [WM, RD]
    for t in listing["tileMatrixSets"]:
        assert t["links"][0]["rel"] == "self" and t["links"][0]["href"].endswith(f"/tileMatrixSets/{t['id']}")
    rd = client.get(f"/tileMatrixSets/{RD}").json()
    assert rd["id"] == RD and rd["crs"] == "http://www.opengis.net/def/crs/EPSG/0/28992"
    m = rd["tileMatrices"]
    assert [t["id"] for t in m] == [str(z) for z in range(17)]
    assert m[0]["pointOfOrigin"] == [-285401.92, 903401.92] and m[0]["cornerOfOrigin"] == "topLeft"
    assert m[0]["cellSize"] == 3440.64 and m[15]["cellSize"] == pytest.approx(0.105, abs=1e-12)
    assert (m[0]["matrixWidth"], m[0]["matrixHeight"], m[5]["matrixWidth"], m[0]["tileWidth"]) == (1, 1, 32, 256)
    assert m[0]["scaleDenominator"] == pytest.approx(12288000.0)
    wm = client.get(f"/tileMatrixSets/{WM}").json()
    assert wm["uri"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    assert wm["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857" and len(wm["tileMatrices"]) == 23
    r = client.get("/tileMatrixSets/GoogleCRS84Quad")
    assert r.status_code == 404 and RD in r.json()["detail"]


def test_tile_set_metadata(client: TestClient, hk_point: tuple[float, float]) -> None:
    sets = client.get(HK).json()["tilesets"]
    assert [s["crs"].rsplit("/", 1)[1] for s in sets] == ["3857", "28992"]
    assert sets[0]["tileMatrixSetURI"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    assert sets[1]["tileMatrixSetURI"] == f"http://testserver/tileMatrixSets/{RD}"  # not in the OGC registry
    for tms_id in (WM, RD):
        meta = client.get(f"{HK}/{tms_id}").json()
        assert meta["dataType"] == "vector" and meta["layers"][0]["id"] == "havenkwartier"
        rels = {link["rel"]: link for link in meta["links"]}
        assert rels["self"]["href"] == f"http://testserver{HK}/{tms_id}"
        assert rels["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"].endswith(
            f"/tileMatrixSets/{tms_id}"
        )
        item = rels["item"]
        assert item["templated"] is True and item["type"] == "application/vnd.mapbox-vector-tile"
        assert item["href"] == f"http://testserver{HK}/{tms_id}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
        lims = {lim["tileMatrix"]: lim for lim in meta["tileMatrixSetLimits"]}
        assert lims["0"] == {"tileMatrix": "0", "minTileRow": 0, "maxTileRow": 0, "minTileCol": 0, "maxTileCol": 0}
        assert len(lims) == (23 if tms_id == WM else 17)
    rd = {lim["tileMatrix"]: lim for lim in client.get(f"{HK}/{RD}").json()["tileMatrixSetLimits"]}
    row, col = rd_tile(*hk_point, 14)
    assert rd["14"]["minTileRow"] <= row <= rd["14"]["maxTileRow"]
    assert rd["14"]["minTileCol"] <= col <= rd["14"]["maxTileCol"]
    assert rd["14"]["maxTileCol"] - rd["14"]["minTileCol"] < 40  # the Havenkwartier, not the country
    assert client.get(f"{HK}/Nope").status_code == 404
    assert client.get("/collections/nope/tiles").status_code == 404
    assert client.get(f"/collections/nope/tiles/{RD}").status_code == 404


def test_a_known_tile_in_both_sets(client: TestClient, hk_point: tuple[float, float]) -> None:
    row, col = rd_tile(*hk_point, 14)
    r = client.get(f"{HK}/{RD}/14/{row}/{col}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert names(r.content) == ["Havenkwartier"]
    assert mapbox_vector_tile.decode(r.content)["havenkwartier"]["extent"] == 4096
    wgs = rd_to_wgs84(*hk_point)
    wrow, wcol = wm_tile(wgs.lat, wgs.lon, 14)
    w = client.get(f"{HK}/{WM}/14/{wrow}/{wcol}")
    assert w.status_code == 200 and names(w.content) == ["Havenkwartier"]
    # Row before column: the same numbers the other way round are another tile (outside the data: 404).
    assert client.get(f"{HK}/{WM}/14/{wcol}/{wrow}").status_code == 404
    # The RD tile's geometry is in tile coordinates of the RD grid: the point lies inside the decoded polygon.
    from shapely.geometry import Point, shape

    size = 3440.64 / 2**14 * 256
    x0, y1 = -285401.92 + col * size, 903401.92 - row * size
    px = ((hk_point[0] - x0) / size * 4096, (hk_point[1] - (y1 - size)) / size * 4096)  # y up: the decoder's default
    geom = shape(mapbox_vector_tile.decode(r.content)["havenkwartier"]["features"][0]["geometry"])
    assert geom.buffer(2).contains(Point(px)), (px, geom.bounds)


def test_out_of_range_and_empty_tiles(client: TestClient, hk_point: tuple[float, float]) -> None:
    r = client.get(f"{HK}/{RD}/17/0/0")
    assert r.status_code == 404 and "tile matrices 0-16" in r.json()["detail"]
    r = client.get(f"{HK}/{RD}/3/8/0")
    assert r.status_code == 404 and "rows 0-7, columns 0-7" in r.json()["detail"]
    r = client.get(f"{HK}/{WM}/3/9/9")
    assert r.status_code == 404 and "rows 0-7" in r.json()["detail"]
    r = client.get(f"{HK}/{RD}/14/0/0")  # inside the matrix, outside the Havenkwartier's limits
    assert r.status_code == 404 and "tiles with data: rows" in r.json()["detail"]
    assert client.get(f"{HK}/{RD}/-1/0/0").status_code == 404
    assert client.get(f"{HK}/Nope/1/0/0").status_code == 404
    assert client.get(f"/collections/nope/tiles/{RD}/1/0/0").status_code == 404
    assert client.get(f"{HK}/{RD}/1/a/0").status_code == 422
    # Inside the limits without a feature (the bounding box's corner): an empty 200.
    meta = client.get(f"{HK}/{RD}").json()
    lim = next(x for x in meta["tileMatrixSetLimits"] if x["tileMatrix"] == "16")
    corners = [(lim[r], lim[c]) for r in ("minTileRow", "maxTileRow") for c in ("minTileCol", "maxTileCol")]
    empties = [client.get(f"{HK}/{RD}/16/{r}/{c}") for r, c in corners]
    assert all(e.status_code == 200 for e in empties)
    assert any(e.content == b"" for e in empties)
    # An empty tile is answered but not kept (a lagging read replica must not leave one under a version's key)
    r, c = next(rc for rc, e in zip(corners, empties, strict=True) if e.content == b"")
    assert list(client.app.state.settings.data_dir.rglob(f"{RD}/16/{r}/{c}.mvt")) == []


def test_etag_and_the_old_template_path(client: TestClient, hk_point: tuple[float, float]) -> None:
    row, col = rd_tile(*hk_point, 12)
    r = client.get(f"{HK}/{RD}/12/{row}/{col}")
    etag = r.headers["etag"]
    assert RD in etag and r.headers["cache-control"] == "public, max-age=300"
    assert client.get(f"{HK}/{RD}/12/{row}/{col}", headers={"If-None-Match": etag}).status_code == 304
    wgs = rd_to_wgs84(*hk_point)
    wrow, wcol = wm_tile(wgs.lat, wgs.lon, 12)
    w = client.get(f"{HK}/{WM}/12/{wrow}/{wcol}")
    assert w.headers["etag"] != etag and WM in w.headers["etag"]
    assert client.get(f"{HK}/{WM}/12/{wrow}/{wcol}", headers={"If-None-Match": etag}).status_code == 200
    tj = client.get(f"{HK}/{WM}/tilejson.json").json()  # the fixed path is not taken for a tile
    assert tj["tiles"][0].endswith(f"{HK}/{WM}/{{z}}/{{y}}/{{x}}") and tj["maxzoom"] == 22
    path = tj["tiles"][0].replace("http://testserver", "").format(z=12, x=wcol, y=wrow)
    assert names(client.get(path).content) == ["Havenkwartier"]


def test_tiles_come_from_the_cache_and_a_new_version_is_a_new_key(
    client: TestClient, tsettings: Settings, hk_point: tuple[float, float]
) -> None:
    from service.store.database import make_engine

    row, col = rd_tile(*hk_point, 13)
    first = client.get(f"{HK}/{RD}/13/{row}/{col}")
    files = list((tsettings.data_dir / "tiles").rglob(f"{RD}/13/{row}/{col}.mvt"))
    assert len(files) == 1 and files[0].read_bytes() == first.content
    # A tile in the cache is what is served: mark it, and the mark comes back (the database is not asked).
    marked = mapbox_vector_tile.encode(
        [{"name": "havenkwartier", "features": [{"geometry": "POINT(1 1)", "properties": {"name": "uit de cache"}}]}]
    )
    files[0].write_bytes(marked)
    assert names(client.get(f"{HK}/{RD}/13/{row}/{col}").content) == ["uit de cache"]
    # Another version in force (here: the previous one, if any; else none) makes the key another one.
    eng = make_engine(tsettings)
    with eng.begin() as c:
        before = c.execute(text("SELECT current_version_id FROM layers WHERE slug = 'havenkwartier'")).scalar_one()
        c.execute(
            text(
                "INSERT INTO layer_versions (layer_id, number, created_by, source_name, source_sha256, feature_count) "
                "SELECT layer_id, number + 100, 'pytest', source_name, source_sha256, feature_count "
                "FROM layer_versions WHERE id = :v RETURNING id"
            ),
            {"v": before},
        )
        new = c.execute(text("SELECT max(id) FROM layer_versions")).scalar_one()
        c.execute(
            text(
                "INSERT INTO features (version_id, fid, name, geom, properties) "
                "SELECT :n, fid, name, geom, properties FROM features WHERE version_id = :v"
            ),
            {"n": new, "v": before},
        )
        c.execute(text("UPDATE layers SET current_version_id = :n WHERE slug = 'havenkwartier'"), {"n": new})
    try:
        time.sleep(tiles.VERSION_TTL_S + 0.1)  # tiles see a new version within VERSION_TTL_S
        fresh = client.get(f"{HK}/{RD}/13/{row}/{col}")
        assert names(fresh.content) == ["Havenkwartier"] and fresh.headers["etag"] != first.headers["etag"]
        assert len(list((tsettings.data_dir / "tiles").rglob(f"{RD}/13/{row}/{col}.mvt"))) == 2
    finally:
        with eng.begin() as c:
            c.execute(text("UPDATE layers SET current_version_id = :v WHERE slug = 'havenkwartier'"), {"v": before})
        eng.dispose()
    time.sleep(tiles.VERSION_TTL_S + 0.1)
    assert names(client.get(f"{HK}/{RD}/13/{row}/{col}").content) == ["uit de cache"]  # rolled back: the old key


def test_a_warm_tile_is_answered_without_the_database(
    client: TestClient, hk_point: tuple[float, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached tile of a version known in the last VERSION_TTL_S is read on the event loop: no query, no worker
    thread (warm tiles at 0.72-0.82x of a constant endpoint went through both)."""
    row, col = rd_tile(*hk_point, 12)
    first = client.get(f"{HK}/{RD}/12/{row}/{col}")
    assert first.status_code == 200 and names(first.content) == ["Havenkwartier"]

    def no_database(*args: object, **kwargs: object) -> None:
        raise AssertionError("a warm tile went to the database")

    monkeypatch.setattr(tiles, "tile", no_database)
    again = client.get(f"{HK}/{RD}/12/{row}/{col}")
    assert (
        again.status_code == 200 and again.content == first.content and again.headers["etag"] == first.headers["etag"]
    )
    time.sleep(tiles.VERSION_TTL_S + 0.1)  # the version is then looked up again, in a worker thread
    assert client.get(f"{HK}/{RD}/12/{row}/{col}").status_code == 500


def test_cache_eviction_by_age(tmp_path: Path) -> None:
    import os

    keys = [tilecache.key("db-1-2", RD, 5, 1, c) for c in range(10)]
    for i, k in enumerate(keys):
        tilecache.put(tmp_path, k, b"x" * 1000, max_bytes=10**9)
        os.utime(tmp_path / k, (1000 + i, 1000 + i))
    assert tilecache.evict(tmp_path, low=4000) == 4000
    assert [tilecache.get(tmp_path, k) is not None for k in keys] == [False] * 6 + [True] * 4  # the newest stay
    tilecache.put(tmp_path, tilecache.key("db-1-2", RD, 5, 2, 0), b"y" * 1000, max_bytes=4500)  # over: evicts
    assert tilecache.size(tmp_path) <= 4500 * 3 // 4


@pytest.fixture(scope="module")
def live(tsettings: Settings) -> Iterator[str]:
    with live_server(create_app(tsettings)) as url:
        yield url


@pytest.fixture(scope="module")
def hk_bounds(tsettings: Settings) -> dict[str, list[float]]:
    """The Havenkwartier's bounds in each tile matrix set's CRS, from the database."""
    from service.store.database import make_engine

    eng = make_engine(tsettings)
    out = {}
    with eng.connect() as c:
        for tms_id, srid in ((RD, 28992), (WM, 3857)):
            out[tms_id] = list(
                c.execute(
                    text(
                        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(ST_Transform("
                        "f.geom, :srid)) e FROM features f JOIN layers l ON l.current_version_id = f.version_id "
                        "WHERE l.slug = 'havenkwartier') s"
                    ),
                    {"srid": srid},
                ).one()
            )
    eng.dispose()
    return out


GDAL_SCRIPT = """
import json, sys
import pyogrio
url, tms, layer, bounds = sys.argv[1:5]
opts = {"API": "TILES", "TILEMATRIXSET": tms, "CACHE": "NO"}
# GDAL 3.12 takes the collection's CRS84 bbox as coordinates of the tile matrix set for vector tiles (it
# reprojects it only for raster tiles), so it finds no tile of ours in RD or Web Mercator; MINX..MAXY (in the tile
# matrix set's CRS, a documented open option) give it the area to read.
opts.update(zip(("MINX", "MINY", "MAXX", "MAXY"), bounds.split(",")))
df = pyogrio.read_dataframe("OGCAPI:" + url, layer=layer, **opts)
print(json.dumps({"names": sorted(set(df["name"])), "crs": df.crs.to_epsg(), "n": len(df),
                  "bounds": [float(b) for b in df.total_bounds]}))
"""


@pytest.mark.parametrize(("tms_id", "epsg"), [(RD, 28992), (WM, 3857)])
def test_gdal_reads_our_tiles(live: str, tms_id: str, epsg: int, hk_bounds: dict[str, list[float]]) -> None:
    """GDAL 3.12 (pyogrio's wheel) with the OGCAPI driver, API=TILES, in a process of its own (ours blocks GDAL's
    HTTP and deregisters the driver): the tiles of level 14 in each tile matrix set."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            GDAL_SCRIPT,
            f"{live}/collections/havenkwartier",
            tms_id,
            "Zoom level 14",
            ",".join(str(b) for b in hk_bounds[tms_id]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "GDAL_HTTP_TIMEOUT": "20"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["names"] == ["Havenkwartier"] and got["crs"] == epsg, got
    x0, y0, x1, y1 = got["bounds"]  # in the set's own coordinates: the polygon's, within MVT precision
    bx0, by0, bx1, by1 = hk_bounds[tms_id]
    assert abs(x0 - bx0) < 5 and abs(y0 - by0) < 5 and abs(x1 - bx1) < 5 and abs(y1 - by1) < 5, (got, hk_bounds)


def test_cache_off_builds_every_tile_from_the_database(
    tsettings: Settings, hk_point: tuple[float, float], tmp_path: Path
) -> None:
    """GEBIEDSCHECK_TILE_CACHE_MB=0: the same tile, nothing written under the data dir."""
    from service.api.app import create_app

    off = tsettings.model_copy(update={"tile_cache_mb": 0, "data_dir": tmp_path / "data"})
    row, col = rd_tile(*hk_point, 13)
    with TestClient(create_app(off)) as c:
        r = c.get(f"{HK}/{RD}/13/{row}/{col}")
    assert r.status_code == 200 and names(r.content) == ["Havenkwartier"]
    assert list((tmp_path / "data").rglob("*.mvt")) == []
