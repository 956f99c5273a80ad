"""An installable package (issue 12): a wheel built from the repository carries the npm assets the service serves
(put there at build time by setup.py's build hook), its templates, migrations and static files, and nothing of
node_modules' junk; installed outside the checkout, `gebiedscheck serve` shows /kaart with every asset it loads.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.loadgen import wait_until_up
from maps.assets import CHECKOUT_NODE_MODULES, SERVED_ELSEWHERE, VENDOR_DIRS, assets_installed
from tests.test_embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
MAX_WHEEL_BYTES = 6_000_000  # today about 2.8 MB; node_modules of the lock is over 60 MB
NEEDED = [
    "maps/vendor/leaflet/dist/leaflet.js",
    "maps/vendor/leaflet/dist/leaflet.css",
    "maps/vendor/leaflet/dist/images/marker-icon.png",
    "maps/vendor/jquery/dist/jquery.min.js",
    "maps/vendor/bootstrap/dist/css/bootstrap.min.css",
    "maps/vendor/bootstrap/dist/js/bootstrap.bundle.min.js",
    "maps/vendor/@fortawesome/fontawesome-free/css/all.min.css",
    "maps/vendor/@fortawesome/fontawesome-free/webfonts/fa-solid-900.woff2",
    "maps/vendor/leaflet.awesome-markers/dist/leaflet.awesome-markers.js",
    "maps/vendor/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
    "maps/vendor/swagger-ui-dist/swagger-ui-bundle.js",
    "maps/vendor/swagger-ui-dist/swagger-ui.css",
    "maps/vendor/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js",
    "maps/static/viewer.js",
    "maps/static/ogc.css",
    "maps/assets/package.json",
    "service/core/templates/rapport.html",
    "service/core/templates/fout.html",
    "service/core/templates/kaart_basis.html",
    "service/store/migrations/env.py",
    "service/store/migrations/script.py.mako",
    "service/store/migrations/versions/0001_layer_store.py",
]
JUNK = re.compile(r"(^|/)(readme[^/]*|[^/]*\.map|[^/]*\.d\.ts|package\.json|tests?|__tests__|src|scss|less)(/|$)", re.I)

pytestmark = pytest.mark.skipif(not assets_installed(), reason="map assets not installed (make install runs npm ci)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once like a release: `pip wheel .` with the .venv's pip (setuptools from the .venv)."""
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    subprocess.run(cmd, check=True, cwd=out, timeout=600)
    (built,) = out.glob("gebiedscheck_assen-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)]
    subprocess.run(cmd, check=True, timeout=300)
    return target


def _env(target: Path, **extra: str) -> dict[str, str]:
    """The code from the wheel, the dependencies from the .venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEBIEDSCHECK_") and k != "DATABASE_URL"}
    return {**env, "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]), **extra}


def test_the_wheel_holds_the_served_assets_and_no_junk(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    missing = [n for n in NEEDED if n not in names]
    assert not missing, missing
    vendor = [n for n in names if n.startswith("maps/vendor/")]
    junk = [n for n in vendor if JUNK.search(n.removeprefix("maps/vendor/"))]
    assert not junk, junk[:10]
    assert not [n for n in names if "node_modules" in n or n.startswith(("tests/", "layers/", "benchmarks/"))]
    # Only the served packages' directories, whole except Font Awesome (css, webfonts: not its 20 MB of SVGs)
    served = tuple(f"maps/vendor/{d}/" for d in (*VENDOR_DIRS.values(), *SERVED_ELSEWHERE))
    assert not [n for n in vendor if not n.startswith(served)]
    assert {d for d in served if any(n.startswith(d) for n in vendor)} == set(served)
    assert not [n for n in vendor if "/svgs/" in n or "/sprites/" in n]
    size = wheel.stat().st_size
    assert 1_000_000 < size < MAX_WHEEL_BYTES, size
    # The files are the locked releases, byte for byte
    leaflet = zipfile.ZipFile(wheel).read("maps/vendor/leaflet/dist/leaflet.js")
    assert leaflet == (CHECKOUT_NODE_MODULES / "leaflet/dist/leaflet.js").read_bytes()


def test_installed_wheel_finds_its_own_assets(installed: Path, tmp_path: Path) -> None:
    probe = "import maps.assets as a, service; print(service.__file__, a.NODE_MODULES, a.assets_installed())"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=_env(installed), cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(installed / "service" / "__init__.py"), str(installed / "maps" / "vendor"), "True"], out


@pytest.fixture(scope="module")
def served(installed: Path, qsettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m service.cli.main serve` from the installed wheel, cwd outside the repository."""
    cwd = tmp_path_factory.mktemp("cwd")
    env = _env(
        installed,
        DATABASE_URL=str(qsettings.database_url),
        GEBIEDSCHECK_DATA_DIR=str(qsettings.data_dir),
        GEBIEDSCHECK_LOG_LEVEL="warning",
    )
    # The migrations come with the wheel: `db init` against the (already current) database finds its head.
    init = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "db", "init"], env=env, cwd=cwd, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stdout + init.stderr
    port = free_port()
    cli = [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        cli, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, seconds=60)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


ASSET = re.compile(r"""(?:src|href)\s*=\s*["'](/static/[^"'?#]+)""")


@pytest.mark.parametrize("path", ["/kaart", "/docs", "/over", "/collections?f=html"])
def test_installed_wheel_serves_the_pages_and_every_asset(served: str, path: str) -> None:
    with httpx.Client(base_url=served, timeout=60) as client:
        page = client.get(path)
        assert page.status_code == 200, page.text[:300]
        assets = sorted(set(ASSET.findall(page.text)))
        if path in ("/kaart", "/docs"):
            assert any("/static/vendor/" in a for a in assets), assets
        for asset in assets:
            r = client.get(asset)
            assert r.status_code == 200 and r.content, (asset, r.status_code)
        # The icons and fonts that the stylesheets load
        if path == "/kaart":
            assert client.get("/static/vendor/fontawesome/webfonts/fa-solid-900.woff2").status_code == 200
            assert client.get("/static/vendor/leaflet/images/layers.png").status_code == 200


def test_installed_wheel_renders_the_report(served: str) -> None:
    square = {
        "type": "Polygon",
        "coordinates": [[[6.562, 52.992], [6.565, 52.992], [6.565, 52.994], [6.562, 52.994], [6.562, 52.992]]],
    }
    r = httpx.post(f"{served}/check?f=html", json=square, timeout=60)
    assert r.status_code == 200 and "<html" in r.text and "Omgevingsvisie" in r.text, r.text[:300]
