"""docker-compose.yml is correct by construction (Docker does not run here): parse and check it."""

from __future__ import annotations

import yaml

from service.core.settings import PROJECT_ROOT


def test_compose_structure() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    db, loader, api, beheer = services["db"], services["loader"], services["api"], services["beheer"]
    assert db["image"].startswith("postgis/postgis:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert loader["depends_on"]["db"]["condition"] == "service_healthy" and loader["command"] == ["init"]
    assert api["depends_on"]["loader"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    # The public service reads with the read-only role; the loader and beheer own the data.
    assert api["environment"]["DATABASE_URL"].startswith("postgresql://gebiedscheck_lezer:")
    assert loader["environment"]["DATABASE_URL"].startswith("postgresql://gebiedscheck:")
    assert beheer["environment"]["DATABASE_URL"].startswith("postgresql://gebiedscheck:")
    assert all("@db:5432/" in s["environment"]["DATABASE_URL"] for s in (api, loader, beheer))
    assert api["build"] == "." and "8000:8000" in api["ports"] and api["command"] == ["serve"]
    assert "rasterdata:/data:ro" in api["volumes"]
    init_sql = (PROJECT_ROOT / "docker" / "initdb" / "01-lezer.sql").read_text()
    assert "GRANT SELECT ON TABLES TO gebiedscheck_lezer" in init_sql and "INSERT" not in init_sql


def test_dockerfile_and_entrypoint() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "ENTRYPOINT" in dockerfile and "HEALTHCHECK" in dockerfile and "npm ci" in dockerfile
    entry = (PROJECT_ROOT / "docker" / "entrypoint.sh").read_text()
    assert entry.index("gebiedscheck db init") < entry.index("gebiedscheck layers load-defaults")
    assert "exec gebiedscheck serve" in entry
