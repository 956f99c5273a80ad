"""`gebiedscheck db backup` / `db restore`: a round trip keeps every row and geometry; a restore never harms a
database that holds data (refused without --replace, swapped in only after success with it); a broken backup
fails cleanly and a failed backup leaves no file."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service.cli.main import app
from service.core.errors import ConfigurationError
from service.core.settings import Settings, get_settings
from service.loading.versions import activate, load_file
from service.store.access import audit, create_key
from service.store.backup import BackupError, backup_database, find_pg_tool, server_major
from service.store.database import (
    HEAD_REVISION,
    create_database,
    drop_database,
    ensure_postgis,
    init_database,
    libpq_url,
    make_engine,
    make_sessionmaker,
    migrate,
)
from service.store.restore import restore_database
from tests.conftest import DATA, defaults_database, throwaway_url

runner = CliRunner()

TABLES_SQL = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1
"""


def fingerprint(url: str) -> dict[str, Any]:
    """Everything a restore must keep: per table its row count and a checksum of all its rows (every column),
    and, spelled out, the geometries, the versions, the current versions, the activations and the sequences."""
    fp: dict[str, Any] = {}
    with psycopg.connect(libpq_url(url)) as c:
        c.execute("SET TimeZone = 'UTC'")
        for (table,) in c.execute(TABLES_SQL).fetchall():
            fp[f"rows:{table}"] = c.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM \"{table}\" t"
            ).fetchone()
        for table in ("features", "feature_parts", "heat_hotspots"):
            fp[f"geom:{table}"] = c.execute(
                f"SELECT count(*), md5(string_agg(encode(ST_AsEWKB(geom), 'hex'), ',' ORDER BY id)) FROM {table}"
            ).fetchone()
        fp["versions"] = c.execute(
            "SELECT id, layer_id, number, source_sha256, metadata::text, status, provenance, indicative, "
            "feature_count, created_at FROM layer_versions ORDER BY id"
        ).fetchall()
        fp["current"] = c.execute("SELECT slug, current_version_id FROM layers ORDER BY slug").fetchall()
        fp["activations"] = c.execute(
            "SELECT id, layer_id, version_id, at FROM version_activations ORDER BY id"
        ).fetchall()
        fp["sequences"] = {
            name: c.execute(f'SELECT last_value, is_called FROM "{name}"').fetchone()
            for (name,) in c.execute("SELECT relname FROM pg_class WHERE relkind = 'S' ORDER BY 1").fetchall()
        }
        fp["revision"] = c.execute("SELECT version_num FROM alembic_version").fetchone()
    return fp


def databases_like(server_url: str, name: str) -> list[str]:
    """Databases named ``name`` or ``name_…`` (the restore's temporary and replaced ones)."""
    with psycopg.connect(libpq_url(server_url, database="postgres")) as c:
        rows = c.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR starts_with(datname, %s) ORDER BY 1",
            (name, name + "_"),
        ).fetchall()
    return [r[0] for r in rows]


def dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


def cli(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path, *args: str) -> tuple[int, str]:
    """Run the CLI against ``url``; returns the exit code and the output (stdout + stderr, unwrapped)."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("GEBIEDSCHECK_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        r = runner.invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    return r.exit_code, " ".join(r.output.split())


@pytest.fixture(scope="module")
def source(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Default layers, plus a second Natura 2000 version rolled back to the first (history and activations),
    an API key and an audit line."""
    with defaults_database(server_url, tmp_path_factory.mktemp("bdata"), "gebiedscheck_test_b") as settings:
        engine = make_engine(settings)
        with make_sessionmaker(engine)() as s, s.begin():
            load_file(s, DATA / "pdok_natura2000.gpkg", slug="natura2000", settings=settings, note="PDOK")
        with make_sessionmaker(engine)() as s, s.begin():
            activate(s, "natura2000", 1)
            create_key(s, name="gis-team")
            audit(s, actor="pytest", action="activate", target="natura2000/1", result="ok")
        engine.dispose()
        yield settings


@pytest.fixture(scope="module")
def backup_file(source: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backup") / "gebiedscheck.dump"
    backup_database(str(source.database_url), path, settings=source)
    return path


@pytest.fixture
def target(server_url: str) -> Iterator[str]:
    """A database name that does not exist yet; it (and anything named after it) is dropped afterwards."""
    url = throwaway_url(server_url, prefix="gebiedscheck_test_r")
    yield url
    for name in databases_like(server_url, dbname(url)):
        drop_database(make_url(url).set(database=name).render_as_string(hide_password=False))


def test_round_trip_through_the_cli(
    source: Settings, server_url: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = str(source.database_url)
    before = fingerprint(src)
    assert before["rows:layer_versions"][0] == 15  # 14 default layers + the second Natura 2000 version
    assert before["rows:version_activations"][0] == 16  # ... and the rollback to version 1
    assert before["rows:features"][0] == 26  # 23 default features + 3 in the second Natura 2000 version
    assert before["rows:api_keys"][0] == 1 and before["rows:audit_log"][0] == 1

    path = tmp_path / "backup.dump"
    code, output = cli(monkeypatch, src, source.data_dir, "db", "backup", str(path))
    assert code == 0, output
    size = path.stat().st_size
    assert size > 10_000 and oct(path.stat().st_mode)[-3:] == "600"
    assert f"Backup geschreven: {path}" in output
    assert "schemaversie " + HEAD_REVISION in output and "14 lagen, 15 versies, 26 objecten" in output
    assert "rasterbestanden (1) staan niet in de backup" in output
    assert [p.name for p in tmp_path.iterdir()] == ["backup.dump"]  # no temporary file left

    code, output = cli(monkeypatch, target, source.data_dir, "db", "restore", str(path))
    assert code == 0, output
    assert f"teruggezet in database {dbname(target)} (nieuw aangemaakt)" in output
    assert f"Schemaversie {HEAD_REVISION}: 14 lagen, 15 versies, 26 objecten" in output
    after = fingerprint(target)
    assert after == before
    assert databases_like(server_url, dbname(target)) == [dbname(target)]  # no temporary database left
    assert fingerprint(src) == before  # the source is untouched

    # The service reads the restored database: Natura 2000 has its two versions, version 1 current.
    monkeypatch.setenv("DATABASE_URL", target)
    get_settings.cache_clear()
    r = runner.invoke(app, ["layers", "history", "natura2000", "--json"])
    get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    assert sorted((v["number"], v["status"], v["note"]) for v in json.loads(r.stdout)) == [
        (1, "current", "standaardlaag uit layers/manifest.toml"),
        (2, "superseded", "PDOK"),
    ]


def test_restore_into_an_initialised_empty_database(
    source: Settings, backup_file: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_database(target)  # `db init`: our tables, no rows
    code, output = cli(monkeypatch, target, source.data_dir, "db", "restore", str(backup_file))
    assert code == 0, output
    assert "(lege database vervangen)" in output
    assert fingerprint(target) == fingerprint(str(source.database_url))


def test_restore_into_a_database_with_data_is_refused(
    source: Settings, backup_file: Path, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = str(source.database_url)
    before = fingerprint(src)
    code, output = cli(monkeypatch, src, source.data_dir, "db", "restore", str(backup_file))
    assert code == 1
    assert "De database is niet gewijzigd." in output
    assert f"De database {dbname(src)} is niet leeg (14 lagen, 15 versies, 26 objecten" in output
    assert "--replace" in output
    assert fingerprint(src) == before
    assert databases_like(server_url, dbname(src)) == [dbname(src)]

    # Data that arrives while a restore runs is seen at the swap (the target closed, one session left): refused,
    # and the target is open to connections again.
    from service.store.restore import TargetNotEmpty, _swap

    temp = f"{dbname(src)}_herstel_test"
    with psycopg.connect(libpq_url(src, database="postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{temp}"')
        try:
            with pytest.raises(TargetNotEmpty):
                _swap(admin, src, dbname(src), temp, replace=False)
            row = admin.execute("SELECT datallowconn FROM pg_database WHERE datname = %s", (dbname(src),)).fetchone()
            assert row == (True,)
        finally:
            admin.execute(f'DROP DATABASE "{temp}"')
    assert fingerprint(src) == before


def test_replace_swaps_in_the_backup_only_after_success(
    source: Settings, backup_file: Path, target: str, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = fingerprint(str(source.database_url))
    restore_database(target, backup_file, settings=source)
    with psycopg.connect(libpq_url(target), autocommit=True) as c:
        c.execute("INSERT INTO audit_log (actor, action, result) VALUES ('later', 'load', 'ok')")
        c.execute(f'REVOKE CONNECT, TEMPORARY ON DATABASE "{dbname(target)}" FROM PUBLIC')
        acl = c.execute("SELECT datacl::text FROM pg_database WHERE datname = current_database()").fetchone()
    changed = fingerprint(target)
    assert changed != expected

    # A broken backup with --replace: refused, the database keeps its data (and its extra row).
    broken = backup_file.parent / "half.dump"
    broken.write_bytes(backup_file.read_bytes()[: backup_file.stat().st_size // 2])
    code, output = cli(monkeypatch, target, source.data_dir, "db", "restore", "--replace", str(broken))
    assert code == 1 and "De database is niet gewijzigd." in output
    assert fingerprint(target) == changed

    # A session of the running service does not stop it; the database's own grants are carried over.
    service_conn = psycopg.connect(libpq_url(target), autocommit=True)
    try:
        code, output = cli(monkeypatch, target, source.data_dir, "db", "restore", "--replace", str(backup_file))
        assert code == 0, output
        assert "(vervangen, had 14 lagen, 15 versies, 26 objecten)" in output
        with pytest.raises(psycopg.OperationalError):
            service_conn.execute("SELECT 1")
    finally:
        service_conn.close()
    assert fingerprint(target) == expected
    assert databases_like(server_url, dbname(target)) == [dbname(target)]
    with psycopg.connect(libpq_url(target)) as c:
        assert c.execute("SELECT datacl::text FROM pg_database WHERE datname = current_database()").fetchone() == acl


def test_broken_backups_fail_cleanly(
    source: Settings, backup_file: Path, target: str, server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truncated = tmp_path / "afgebroken.dump"
    truncated.write_bytes(backup_file.read_bytes()[: backup_file.stat().st_size * 2 // 3])
    code, output = cli(monkeypatch, target, source.data_dir, "db", "restore", str(truncated))
    assert code == 1
    assert "De database is niet gewijzigd." in output
    assert "Terugzetten van afgebroken.dump is mislukt. pg_restore meldt:" in output
    assert databases_like(server_url, dbname(target)) == []  # nothing created, no temporary database left

    garbage = tmp_path / "onzin.dump"
    garbage.write_bytes(b"PGDMP" + os.urandom(2000))
    code, output = cli(monkeypatch, target, source.data_dir, "db", "restore", str(garbage))
    assert code == 1 and "onzin.dump is geen leesbare backup" in output

    code, output = cli(monkeypatch, target, source.data_dir, "db", "restore", str(tmp_path / "bestaat-niet.dump"))
    assert code == 1 and "bestaat niet" in output

    # The target as `db init` left it stays so through a failed restore.
    init_database(target)
    before = fingerprint(target)
    code, output = cli(monkeypatch, target, source.data_dir, "db", "restore", str(truncated))
    assert code == 1 and "mislukt" in output
    assert fingerprint(target) == before
    assert databases_like(server_url, dbname(target)) == [dbname(target)]


def test_an_archive_of_another_database_is_refused(
    source: Settings, server_url: str, target: str, tmp_path: Path
) -> None:
    other = throwaway_url(server_url, prefix="gebiedscheck_test_ander")
    create_database(other)
    try:
        with psycopg.connect(libpq_url(other), autocommit=True) as c:
            c.execute("CREATE TABLE boeken (id int PRIMARY KEY, titel text)")
            c.execute("INSERT INTO boeken VALUES (1, 'Omgevingsvisie')")
        path = tmp_path / "ander.dump"
        pg_dump = find_pg_tool("pg_dump", server_major(server_url), settings=source)
        subprocess.run([str(pg_dump), "-Fc", "-f", str(path), libpq_url(other)], check=True)
        with pytest.raises(BackupError, match="geen backup van Gebiedscheck"):
            restore_database(target, path, settings=source)
        assert databases_like(server_url, dbname(target)) == []
        with pytest.raises(BackupError, match="geen schema van Gebiedscheck"):
            backup_database(other, tmp_path / "nee.dump", settings=source)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ander.dump"]
    finally:
        drop_database(other)


def test_an_older_backup_is_migrated(source: Settings, server_url: str, target: str, tmp_path: Path) -> None:
    old = throwaway_url(server_url, prefix="gebiedscheck_test_oud")
    create_database(old)
    try:
        ensure_postgis(old)
        migrate(old, "0004")
        with psycopg.connect(libpq_url(old), autocommit=True) as c:
            c.execute("INSERT INTO audit_log (actor, action, result) VALUES ('pytest', 'x', 'ok')")
        backup = backup_database(old, tmp_path / "oud.dump", settings=source)
        assert backup.contents.revision == "0004"
    finally:
        drop_database(old)
    result = restore_database(target, tmp_path / "oud.dump", settings=source)
    assert result.migrated_from == "0004" and result.contents.revision == HEAD_REVISION
    assert result.contents.tables["audit_log"] == 1 and result.contents.tables["version_activations"] == 0


def test_a_failed_backup_leaves_no_file(
    source: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_url: str
) -> None:
    # A pg_dump that writes half an archive and then fails (as when the connection drops).
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "pg_dump"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) {server_major(server_url)}.99"; exit 0; fi\n'
        'for a in "$@"; do case "$a" in --file=*) printf PGDMP-half > "${a#--file=}";; esac; done\n'
        'echo "pg_dump: error: connection to server lost" >&2\nexit 1\n'
    )
    fake.chmod(0o755)
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    path = out_dir / "nacht.dump"
    path.write_bytes(b"the previous backup")
    monkeypatch.setenv("GEBIEDSCHECK_PG_BIN_DIR", str(bindir))
    code, output = cli(monkeypatch, str(source.database_url), source.data_dir, "db", "backup", str(path))
    assert code == 1
    assert f"De backup is mislukt; {path} is niet geschreven. pg_dump meldt: connection to server lost" in output
    assert path.read_bytes() == b"the previous backup"
    assert [p.name for p in out_dir.iterdir()] == ["nacht.dump"]

    code, output = cli(monkeypatch, throwaway_url(server_url), source.data_dir, "db", "backup", str(path))
    assert code == 1 and "bestaat niet" in output and path.read_bytes() == b"the previous backup"


def test_tools_of_another_postgresql_version_are_not_used(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        find_pg_tool("pg_restore", 99, settings=Settings(_env_file=None, pg_bin_dir=tmp_path))
    assert "pg_restore van PostgreSQL 99 (de versie van de server) is niet gevonden" in info.value.detail
    assert "postgresql-client-99" in info.value.detail and "GEBIEDSCHECK_PG_BIN_DIR" in info.value.detail


def test_help_is_dutch() -> None:
    r = runner.invoke(app, ["db", "--help"])
    assert r.exit_code == 0
    assert "Maak een backup van de hele database" in r.output and "Zet een backup terug" in r.output
