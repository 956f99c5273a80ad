"""Hostile files (issue 11: H1, H2, M4, M6, L1): no file makes GDAL read another file or fetch a URL, no raster
exhausts the server, every refusal is a 4xx naming the problem (and audited), ordinary files load.

Every door is tried: the API's upload (dry run and load), the CLI's `layers load` and `check`. A loopback
listener stands where a fetch would go; it must see no request.
"""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from service.api.app import create_app
from service.cli.main import app as cli
from service.core.settings import Settings, get_settings
from service.formats.safeopen import ALLOWED_DRIVERS, harden
from service.store.database import make_engine, make_sessionmaker
from tests.conftest import api_key, defaults_database
from tests.data import make_hostile


class Listener:
    """A TCP listener on loopback that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    self.hits.append(conn.recv(1024))
                except OSError:
                    self.hits.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture(scope="module")
def hsettings(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with defaults_database(server_url, tmp_path_factory.mktemp("hdata"), "gebiedscheck_test_h") as settings:
        yield settings


@pytest.fixture(scope="module")
def client(hsettings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(hsettings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def key(hsettings: Settings) -> str:
    return api_key(hsettings, "gis-team")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, listener: Listener) -> dict[str, Path]:
    return make_hostile.write_all(tmp_path_factory.mktemp("hostile"), listener.url)


@pytest.fixture(scope="module")
def ordinary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_hostile.ordinary_files(tmp_path_factory.mktemp("ordinary"))


@pytest.fixture
def cli_env(hsettings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", str(hsettings.database_url))
    monkeypatch.setenv("GEBIEDSCHECK_DATA_DIR", str(hsettings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def upload(client: TestClient, key: str, slug: str, path: Path, **form: str):  # type: ignore[no-untyped-def]
    with path.open("rb") as fh:
        return client.post(
            f"/layers/{slug}/versions",
            files={"file": (path.name, fh)},
            data=form,
            headers={"Authorization": f"Bearer {key}"},
        )


def state(hsettings: Settings) -> tuple[int, int, int]:
    engine = make_engine(hsettings)
    with engine.connect() as c:
        versions = c.execute(text("SELECT count(*) FROM layer_versions")).scalar_one()
        features = c.execute(text("SELECT count(*) FROM features")).scalar_one()
        audits = c.execute(text("SELECT count(*) FROM audit_log WHERE result = 'failed'")).scalar_one()
    engine.dispose()
    return int(versions), int(features), int(audits)


def test_gdal_knows_only_our_drivers() -> None:
    """Every GDAL library in the process (pyogrio's and rasterio's) keeps only the drivers we use."""
    libraries = harden()
    assert libraries, "no GDAL library found in the process"
    for name, drivers in libraries.items():
        assert set(drivers) <= ALLOWED_DRIVERS, name
        assert "GPKG" in drivers and "OGR_VRT" not in drivers and "GDALG" not in drivers, name
    import pyogrio
    import rasterio

    assert set(pyogrio.list_drivers()) <= ALLOWED_DRIVERS
    with rasterio.Env() as env:  # a new environment registers drivers again: the others stay out
        assert set(env.drivers()) <= ALLOWED_DRIVERS


VECTOR_ATTACKS = {
    "vrt_passwd.geojson": "the name says GeoJSON, but the content is a GDAL virtual dataset",
    "vrt_passwd.gpkg": "the name says GeoPackage, but the content is a GDAL virtual dataset",
    "vrt_url.geojson": "the name says GeoJSON, but the content is a GDAL virtual dataset",
    "vrt_in_zip.zip": "the name says ESRI Shapefile, but the content is a GDAL virtual dataset",
    "gdalg.geojson": "cannot be read as GeoJSON",
}


@pytest.mark.parametrize(("name", "message"), sorted(VECTOR_ATTACKS.items()))
def test_h1_vector_attacks_are_refused_by_the_api(client, key, hsettings, hostile, listener, name, message) -> None:
    before = state(hsettings)
    r = upload(client, key, "havenkwartier", hostile[name], dry_run="true")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert message in detail and "root:" not in detail  # names the problem, shows nothing of /etc/passwd
    versions, features, failed = state(hsettings)
    assert (versions, features) == before[:2] and failed == before[2] + 1  # refused, changed nothing, audited
    assert listener.hits == []


@pytest.mark.parametrize("name", ["vrt_environ.tif", "vrt_url.tif"])
def test_h1_raster_vrt_is_refused_by_the_api(client, key, hsettings, hostile, listener, name) -> None:
    before = state(hsettings)
    r = upload(client, key, "hitte-eiland", hostile[name])
    assert r.status_code == 422, r.text
    assert "the name says GeoTIFF, but the content is a GDAL virtual dataset" in r.json()["detail"]
    assert "DATABASE_URL" not in r.text and state(hsettings)[:2] == before[:2]
    assert listener.hits == []
    heat = client.get("/heat/at?lat=52.995&lon=6.562").json()  # the public answer comes from our raster
    assert heat["raster"]["version"] == 1 and "environ" not in str(heat)


@pytest.mark.parametrize("name", ["crs_link.geojson", "crs_url.geojson"])
def test_h1_a_crs_that_names_a_url_is_never_fetched(client, key, hostile, listener, name) -> None:
    r = upload(client, key, "havenkwartier", hostile[name], dry_run="true")
    assert r.status_code in (201, 422), r.text  # read as RFC 7946 WGS84, or refused: never a fetch, never a 500
    assert listener.hits == []


@pytest.mark.parametrize("name", sorted(VECTOR_ATTACKS))
def test_h1_cli_layers_load_refuses_the_same_files(cli_env, hostile, listener, name) -> None:
    result = CliRunner().invoke(cli, ["layers", "load", str(hostile[name]), "--layer", "havenkwartier", "--dry-run"])
    assert result.exit_code == 1, result.output
    assert VECTOR_ATTACKS[name] in " ".join(result.output.split()) and "root:" not in result.output
    assert listener.hits == []


@pytest.mark.parametrize("name", ["vrt_passwd.geojson", "vrt_url.geojson", "vrt_in_zip.zip", "crs_url.geojson"])
def test_h1_cli_check_refuses_the_same_files(cli_env, hostile, listener, name) -> None:
    """`gebiedscheck check FILE`: the path for files planners receive from initiators."""
    result = CliRunner().invoke(cli, ["check", str(hostile[name])])
    assert listener.hits == []
    assert "Traceback" not in result.output and "root:" not in result.output
    if name != "crs_url.geojson":
        assert result.exit_code == 1 and "virtual dataset" in " ".join(result.output.split()), result.output


def test_h1_siblings_we_did_not_write_are_not_read(cli_env, hostile, listener, hsettings) -> None:
    """A GeoTIFF next to an .aux.xml naming a URL as its CRS (CLI: files in the user's folder)."""
    result = CliRunner().invoke(cli, ["layers", "load", str(hostile["sibling.tif"]), "--layer", "hitte-eiland"])
    assert listener.hits == []
    assert result.exit_code == 1 and "states no CRS" in " ".join(result.output.split()), result.output


def test_h2_a_raster_over_the_cell_limit_is_refused_from_its_header(client, key, tmp_path, hsettings) -> None:
    bomb = tmp_path / "bom.tif"
    make_hostile.sparse_geotiff(bomb, 100_000)  # 10,000,000,000 cells in a few hundred KB
    assert bomb.stat().st_size < 1_000_000
    before = state(hsettings)
    started = time.perf_counter()
    r = upload(client, key, "hitte-eiland", bomb)
    assert r.status_code == 413, r.text
    assert "100000 × 100000 × 1 = 10000000000 cells" in r.json()["detail"]
    assert time.perf_counter() - started < 10  # from the header: no pixel was read
    assert state(hsettings)[:2] == before[:2]


def test_h2_raster_work_is_windowed(tmp_path, hsettings) -> None:
    """Describing, converting and polygonising a 6,000² raster never holds a whole band (144 MB as float32)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from service.loading.rasterload import prepare_raster_file, write_hotspots

    src = tmp_path / "groot.tif"
    size = 6000
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:28992",
        "transform": from_origin(225000, 565000, 2, 2),
        "tiled": True,
        "compress": "deflate",
        "nodata": -9999.0,
    }
    with rasterio.open(src, "w", **profile) as dst:
        for row in range(0, size, 1000):
            block = np.zeros((1000, size), dtype="float32")
            block[:, 2000:2400] = 2.5  # a hot strip
            dst.write(block, 1, window=rasterio.windows.Window(0, row, size, 1000))
    work = tmp_path / "work"
    work.mkdir()
    tracemalloc.start()
    try:
        prepared = prepare_raster_file(src, work, settings=hsettings)
        engine = make_engine(hsettings)
        with make_sessionmaker(engine)() as s, s.begin():
            vid = s.execute(text("SELECT id FROM layer_versions ORDER BY id LIMIT 1")).scalar_one()
            n = write_hotspots(s, version_id=vid, raster_path=prepared.path, threshold_c=1.5)
            s.rollback()
        engine.dispose()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert prepared.metadata["max"] == pytest.approx(2.5) and prepared.metadata["width"] == size
    assert n >= 3  # the strip, cut at window edges
    assert peak < 100_000_000, peak  # a whole band alone is 144,000,000 bytes


def test_h2_a_load_can_be_cancelled(tmp_path, hsettings) -> None:
    from service.core.errors import LoadCancelled
    from service.loading.rasterload import prepare_raster_file

    work = tmp_path / "w"
    work.mkdir()
    src = tmp_path / "r.tif"
    make_hostile._small_geotiff(src, crs="EPSG:28992")
    with pytest.raises(LoadCancelled):
        prepare_raster_file(src, work, settings=hsettings, cancel=lambda: True)


@pytest.mark.parametrize(
    "crs",
    ["http://127.0.0.1:{port}/crs.wkt", "+proj=longlat +nadgrids=/etc/shadow", "/etc/passwd", "EPSG:99999999"],
)
def test_m6_a_raster_crs_is_an_epsg_code_only(client, key, ordinary, listener, crs) -> None:
    port = listener.url.rsplit(":", 1)[1].strip("/")
    r = upload(client, key, "hitte-eiland", ordinary["no_crs.tif"], crs=crs.format(port=port))
    assert r.status_code == 422, r.text
    assert "crs" in r.json()["detail"] and "shadow" not in r.json()["detail"].replace(crs, "")
    assert listener.hits == []


def test_m6_epsg_28992_for_a_raster_without_one_works(client, key, ordinary, hsettings) -> None:
    r = upload(client, key, "hitte-eiland", ordinary["no_crs.tif"], crs="EPSG:28992")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "created"
    assert client.get("/heat/at?lat=52.9955&lon=6.5622").status_code == 200


def test_l1_a_byte_geotiff_loads(client, key, ordinary) -> None:
    r = upload(client, key, "hitte-eiland", ordinary["byte.tif"])
    assert r.status_code == 201, r.text


def test_l1_field_names_are_kept_as_they_are(client, key, ordinary, hsettings) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    body = {"slug": "vreemde-velden", "title": "Vreemde velden", "provenance": "test"}
    assert client.post("/layers", json=body, headers=auth).status_code == 201
    r = upload(client, key, "vreemde-velden", ordinary["odd_fields.geojson"])
    assert r.status_code == 201, r.text
    props = client.get("/collections/vreemde-velden/items").json()["features"][0]["properties"]
    assert props["my field"] == "a" and props["class"] == "b" and props["2020"] == 7


def test_l1_cli_check_keeps_odd_field_names(cli_env, ordinary, tmp_path) -> None:
    out = tmp_path / "uit.gpkg"
    result = CliRunner().invoke(cli, ["check", str(ordinary["odd_fields.geojson"]), "--uit", str(out)])
    assert result.exit_code == 0, result.output
    import geopandas as gpd

    assert gpd.read_file(out)["name"].tolist() == ["Plan"]  # read (by column name), checked and written


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_geometry.gpkg", "has no geometry column"),
        ("deep.zip", "3000 folders deep; at most 8"),
        ("long_name.zip", "characters long; at most 200"),
        ("many_entries.zip", "1005 entries; at most 200"),
    ],
)
def test_l1_odd_files_are_refused_with_a_message(client, key, ordinary, hsettings, name, message) -> None:
    before = state(hsettings)
    r = upload(client, key, "havenkwartier", ordinary[name], dry_run="true")
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]
    assert state(hsettings)[2] == before[2] + 1  # in the audit log


def test_m4_csv_output_escapes_formulas(cli_env, ordinary, tmp_path) -> None:
    import csv

    out = tmp_path / "uit.csv"
    result = CliRunner().invoke(cli, ["check", str(ordinary["formulas.csv"]), "--uit", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as fh:
        names = [row["name"] for row in csv.DictReader(fh)]
    assert names == [
        '\'=HYPERLINK("http://example.invalid","klik")',
        "'=cmd|' /C calc'!A0",
        "'+1+1",
        "'@SUM(1)",
        "'-2+3",
    ]
    gpkg = tmp_path / "uit.gpkg"  # a GeoPackage holds the values as they are
    assert CliRunner().invoke(cli, ["check", str(ordinary["formulas.csv"]), "--uit", str(gpkg)]).exit_code == 0
    import geopandas as gpd

    assert gpd.read_file(gpkg)["name"].tolist()[1] == "=cmd|' /C calc'!A0"


@pytest.mark.parametrize("how", [["--dry-run"], []], ids=["dry-run", "load"])
def test_m3_a_layer_load_has_the_same_validation_budget(cli_env, tmp_path, hsettings, how) -> None:
    """The 250,000-vertex star in a layer file: refused within the budget (5 s), not minutes of GEOS. A real load
    copies the rows under twice the validation budget of their vertices, then names the star the same way."""
    import geopandas as gpd

    from tests.test_budgets import star

    path = tmp_path / "ster.gpkg"
    gpd.GeoDataFrame({"name": ["Ster"]}, geometry=[star()], crs="EPSG:28992").to_file(path)
    before = state(hsettings)
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["layers", "load", str(path), "--layer", "havenkwartier", *how])
    took = time.perf_counter() - started
    assert result.exit_code == 1, result.output
    assert "too complex to validate within 5 s" in " ".join(result.output.split()), result.output
    assert took < 60, took  # shapely alone needed 144 s for this polygon
    assert state(hsettings)[:2] == before[:2]


def test_h2_sigterm_stops_a_running_load_and_nothing_is_written(hsettings, key, tmp_path) -> None:
    """`gebiedscheck serve` gets SIGTERM while a raster load runs: the process ends within the graceful
    shutdown plus one window of work (it no longer waits for the load), and no version is written."""
    import os
    import signal
    import subprocess
    import sys

    import httpx
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from benchmarks.loadgen import wait_until_up
    from tests.test_embedded import free_port

    size = 9000  # a checkerboard of 8-cell squares: a tiny file, 1.2 million hotspot polygons to make
    tif = tmp_path / "dambord.tif"
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:28992",
        "transform": from_origin(225000, 565000, 2, 2),
        "tiled": True,
        "compress": "deflate",
        "nodata": 255,
    }
    rows = ((np.arange(1000)[:, None] // 8 + np.arange(size)[None, :] // 8) % 2 * 2).astype("uint8")
    with rasterio.open(tif, "w", **profile) as dst:
        for row in range(0, size, 1000):
            dst.write(rows, 1, window=rasterio.windows.Window(0, row, size, 1000))
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": str(hsettings.database_url),
        "GEBIEDSCHECK_DATA_DIR": str(hsettings.data_dir),
        "GEBIEDSCHECK_GRACEFUL_SHUTDOWN_S": "2",
        "GEBIEDSCHECK_LOG_LEVEL": "warning",
    }
    cmd = [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    before = state(hsettings)
    answers: list[object] = []

    def load() -> None:
        try:
            with tif.open("rb") as fh:
                answers.append(
                    httpx.post(
                        f"http://127.0.0.1:{port}/layers/hitte-eiland/versions",
                        files={"file": ("dambord.tif", fh)},
                        headers={"Authorization": f"Bearer {key}"},
                        timeout=120,
                    ).status_code
                )
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)

    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        time.sleep(4)
        assert loader.is_alive(), answers  # the load is still running
        started = time.perf_counter()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        took = time.perf_counter() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    loader.join(10)
    assert took < 20, took  # 2 s of grace, then the load stops at its next window
    assert answers and answers[0] != 201, answers
    assert state(hsettings)[:2] == before[:2]  # rolled back: no version, no features


def test_a_stored_raster_is_opened_as_a_geotiff_only(tmp_path, hostile) -> None:
    """Rasters of our own store are read through the same guard: a VRT in their place is not followed."""
    import rasterio

    from service.formats.gdalguard import open_stored_raster

    fake = tmp_path / f"{'a' * 64}.tif"
    fake.write_bytes(hostile["vrt_environ.tif"].read_bytes())
    with pytest.raises(rasterio.errors.RasterioIOError), open_stored_raster(fake):
        pass
