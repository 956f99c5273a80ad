"""The HTTP API: /health, /layers, /docs, errors as clear 4xx/503 JSON."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.core.settings import Settings
from service.store.database import HEAD_REVISION


@pytest.fixture(scope="module")
def client(settings: Settings, loaded) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def test_health_ok(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["database"]["postgis"].startswith("3.")
    assert body["database"]["schema_revision"] == HEAD_REVISION
    assert body["database"]["layers_loaded"] == 14


def test_health_503_when_database_unreachable(tmp_path) -> None:
    down = Settings(_env_file=None, database_url="postgresql://postgres@127.0.0.1:1/nothing", data_dir=tmp_path)
    with TestClient(create_app(down)) as c:
        r = c.get("/health")
    assert r.status_code == 503
    assert r.json()["database"]["reachable"] is False
    assert "127.0.0.1" not in r.text  # no connection details leak


def test_layers_lists_every_layer_with_raster(client: TestClient) -> None:
    r = client.get("/layers")
    assert r.status_code == 200
    layers = {layer["slug"]: layer for layer in r.json()}
    assert len(layers) == 14
    hk = layers["havenkwartier"]
    assert (hk["kind"], hk["version"], hk["feature_count"]) == ("vector", 1, 1)
    assert hk["provenance"]["label"] == "indicatief"
    assert hk["provenance"]["gio"] == "/join/id/regdata/gm0106/2025/23cfc5881b0347258af6b8807ce76be1"
    assert hk["policy"]["section"] == "§4.4.2"
    assert layers["natura2000"]["feature_count"] == 3
    assert layers["bedrijventerreinen"]["feature_count"] >= 3
    heat = layers["hitte-eiland"]
    assert heat["kind"] == "raster" and heat["version"] == 1
    assert heat["raster"]["crs"] == "EPSG:28992"
    assert heat["raster"]["cell_size_m"] == [10.0, 10.0]
    assert heat["raster"]["unit"] == "°C"
    for layer in layers.values():
        assert layer["provenance"]["indicative"] is True
        assert "indicatief" in layer["provenance"]["statement"]


def test_layer_detail_and_errors(client: TestClient) -> None:
    r = client.get("/layers/trz")
    assert r.status_code == 200 and r.json()["title"].startswith("Toeristisch")
    r = client.get("/layers/bestaat-niet")
    assert r.status_code == 404
    assert r.json()["detail"] == "layer 'bestaat-niet' does not exist"
    r = client.get("/layers/Not_A_Slug!")
    assert r.status_code == 422
    assert "slug" in r.json()["detail"] or "pattern" in r.json()["detail"]


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/health", "/layers", "/layers/{slug}"} <= set(spec["paths"])
