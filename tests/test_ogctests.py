"""OGC's independent conformance tests (``ogctests features/core`` from PyPI) against a running server.

ogctests runs in a venv of its own (``.venv-ogctests``, made by ``make install``: it pins httpx<0.28), as a
subprocess with a ``pytest.ini`` of its own (the tool needs its conftest). One test is deselected, the tool's
own fault, shown here: ``test_ast15`` hands the GeoJSON to geopandas as a *string*; GDAL takes a string for a
file name and cuts it at ``;``, and our features' GIO identifiers hold one (``.../nld@2026-01-05;12452657``).
``test_bbox_response_as_ast15_means_it`` does what ast15 checks, with the bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely

from service.api.app import create_app
from tests.conftest import live_server

ROOT = Path(__file__).resolve().parents[1]
OGC_PYTHON = ROOT / ".venv-ogctests" / "bin" / "python"
TOOL_FAULT = "test_ast15"


@pytest.fixture(scope="module")
def url(qsettings) -> Iterator[str]:
    with live_server(create_app(qsettings)) as base:
        yield base


@pytest.fixture(scope="module")
def ogctests(url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[ET.Element, str]:
    if not OGC_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("ogctests is not installed: make install makes .venv-ogctests")
        pytest.skip("ogctests is not installed (make install makes .venv-ogctests)")
    core = (
        subprocess.run(
            [str(OGC_PYTHON), "-c", "import ogctests, os; print(os.path.dirname(ogctests.__file__))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        + "/features/core"
    )
    run = tmp_path_factory.mktemp("ogctests")
    (run / "pytest.ini").write_text("[pytest]\n")
    report = run / "report.xml"
    proc = subprocess.run(
        [
            str(OGC_PYTHON),
            "-m",
            "pytest",
            "-c",
            str(run / "pytest.ini"),
            "--rootdir",
            str(run),
            "-p",
            "no:cacheprovider",
            "-rfEw",
            "--tb=short",
            f"--junitxml={report}",
            "-k",
            f"not {TOOL_FAULT}",
            core,
        ],
        cwd=run,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "INSTANCE_URL": url},
    )
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return ET.parse(report).getroot(), proc.stdout


def test_every_ogctests_core_test_passes(ogctests) -> None:
    root, out = ogctests
    cases = root.findall(".//testcase")
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert len(cases) >= 28, out[-3000:]
    assert failed == [], out[-5000:]


def test_ogctests_warns_of_no_missing_parameter(ogctests) -> None:
    _, out = ogctests
    missing = [line for line in out.splitlines() if "missing" in line.lower()]
    assert missing == []


def test_bbox_response_as_ast15_means_it(url: str) -> None:
    """ast15's checks: every feature of a bbox answer intersects the bbox, in CRS84."""
    import httpx

    bbox = (6.5, 52.95, 6.6, 53.02)
    with httpx.Client(base_url=url) as c:
        for coll in c.get("/collections").json()["collections"]:
            r = c.get(f"/collections/{coll['id']}/items", params={"bbox": ",".join(map(str, bbox)), "limit": 1000})
            assert r.status_code == 200
            doc = json.loads(r.content)
            box = shapely.box(*bbox)
            for f in doc["features"]:
                assert shapely.geometry.shape(f["geometry"]).intersects(box), (coll["id"], f["id"])
