"""The embedded default: a private cluster from the local PostgreSQL + PostGIS binaries."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from service.core.errors import ConfigurationError
from service.core.settings import Settings
from service.store.database import init_database
from service.store.embedded import (
    cluster_dir,
    find_pg_bin,
    resolve_database_url,
    start_private_cluster,
    stop_private_cluster,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(find_pg_bin(Settings(_env_file=None)) is None, reason="no PostgreSQL binaries on this machine")
def test_private_cluster_starts_with_postgis() -> None:
    base = Path(tempfile.mkdtemp(prefix="gebiedscheck-embedded-"))
    settings = Settings(_env_file=None, data_dir=base / "data", embedded_port=free_port())
    try:
        url = start_private_cluster(settings)
        assert url.endswith(f":{settings.embedded_port}/gebiedscheck")
        info = init_database(url)
        assert info["created"] is True and info["postgis"].startswith("3.")
        # A second start finds it running.
        assert start_private_cluster(settings) == url
        assert (cluster_dir(settings) / "PG_VERSION").exists()
    finally:
        cdir = cluster_dir(settings)
        stop_private_cluster(settings)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(cdir.parent if "/var/tmp/gebiedscheck/" in str(cdir) else cdir, ignore_errors=True)


def test_explicit_database_url_wins(tmp_path) -> None:
    s = Settings(_env_file=None, database_url="postgresql://u@db.example:5432/x", data_dir=tmp_path)
    assert resolve_database_url(s) == "postgresql://u@db.example:5432/x"


def test_no_binaries_names_the_ways_out(tmp_path, monkeypatch) -> None:
    import service.store.embedded as embedded

    monkeypatch.setattr(embedded, "find_pg_bin", lambda settings: None)
    with pytest.raises(ConfigurationError) as info:
        start_private_cluster(Settings(_env_file=None, data_dir=tmp_path, embedded_port=free_port()))
    msg = info.value.detail
    assert "DATABASE_URL" in msg and "docker compose up" in msg and "postgis" in msg.lower()
