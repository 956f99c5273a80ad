"""The command line: db init, layers load-defaults, layers list (idempotent, scriptable)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from service.cli.main import app
from service.core.settings import PROJECT_ROOT, get_settings
from service.store.database import drop_database
from tests.conftest import throwaway_url

runner = CliRunner()


@pytest.fixture
def cli_env(server_url: str, tmp_path, monkeypatch):
    url = throwaway_url(server_url, prefix="gebiedscheck_test_cli")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("GEBIEDSCHECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GEBIEDSCHECK_LAYERS_DIR", str(PROJECT_ROOT / "layers"))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    drop_database(url)


def test_init_load_list(cli_env: str) -> None:
    r = runner.invoke(app, ["db", "init"])
    assert r.exit_code == 0, r.output
    assert "aangemaakt" in r.output
    r = runner.invoke(app, ["db", "init"])
    assert r.exit_code == 0 and "bestond al" in r.output

    r = runner.invoke(app, ["layers", "load-defaults"])
    assert r.exit_code == 0, r.output
    assert "nieuwe versie" in r.output
    r = runner.invoke(app, ["layers", "load-defaults"])
    assert r.exit_code == 0 and "nieuwe versie" not in r.output and "ongewijzigd" in r.output

    r = runner.invoke(app, ["layers", "list", "--json"])
    assert r.exit_code == 0, r.output
    layers = json.loads(r.stdout)
    assert {layer["slug"] for layer in layers} >= {"havenkwartier", "trz", "natura2000", "hitte-eiland"}
    assert all(layer["version"] == 1 for layer in layers)

    r = runner.invoke(app, ["layers", "list"])
    assert r.exit_code == 0 and "havenkwartier" in r.output and "indicatief" in r.output


def test_unreachable_database_is_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    get_settings.cache_clear()
    try:
        r = runner.invoke(app, ["db", "init"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 1
    assert "Fout:" in r.output and "PostgreSQL" in r.output


def test_help_is_dutch() -> None:
    r = runner.invoke(app, ["layers", "--help"])
    assert r.exit_code == 0
    assert "Kaartlagen laden en tonen" in r.output
