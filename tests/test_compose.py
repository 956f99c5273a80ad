"""docker-compose.yml is correct by construction (Docker does not run here): parse and check it."""

from __future__ import annotations

import yaml

from service.settings import PROJECT_ROOT


def test_compose_structure() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    db, api = compose["services"]["db"], compose["services"]["api"]
    assert db["image"].startswith("postgis/postgis:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@db:5432/" in api["environment"]["DATABASE_URL"]
    assert api["build"] == "."
    assert "8000:8000" in api["ports"]


def test_dockerfile_and_entrypoint() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "ENTRYPOINT" in dockerfile and "HEALTHCHECK" in dockerfile
    entry = (PROJECT_ROOT / "docker" / "entrypoint.sh").read_text()
    assert (
        entry.index("gebiedscheck db init")
        < entry.index("gebiedscheck layers load-defaults")
        < entry.index("exec gebiedscheck serve")
    )
