"""Backup and restore of the whole database with pg_dump / pg_restore (custom format).

Backup: one ``pg_dump -Fc`` of the database, taken in the same snapshot as a count of what it holds (so the
report matches the file), written to a temporary file next to the target, read back with ``pg_restore
--list``, and only then renamed onto the target: a failed backup never leaves a half file under its name.

Restore: always into a new temporary database on the same server (PostGIS first, then ``pg_restore
--single-transaction --exit-on-error --no-owner``), checked (our schema revision, migrated when older) and
only then swapped in under the target's name by two renames in one transaction. A failed or refused restore
drops the temporary database and leaves the target as it was. Without ``replace`` a target holding data is
refused. The raster files (``data/rasters``) are not in the database and not in the backup.

Messages are Dutch: these functions serve the CLI (``gebiedscheck db backup`` / ``db restore``) only.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from service.core.errors import ConfigurationError, DatabaseUnavailable, GebiedscheckError
from service.core.settings import Settings, get_settings
from service.store.database import database_name, libpq_url

log = logging.getLogger(__name__)


class BackupError(GebiedscheckError):
    """A backup or restore failed (pg_dump/pg_restore error, unreadable file, not our schema)."""


class TargetNotEmpty(BackupError):
    """A restore was refused: the target database already holds data (and ``replace`` was not given)."""


@dataclass(frozen=True)
class Contents:
    """What a database holds: the schema revision, rows per table, and the raster files its versions use."""

    revision: str | None
    tables: dict[str, int]
    rasters: tuple[str, ...] = ()
    transient: tuple[str, ...] = ()  # UNLOGGED tables (rate-limit counters): not backed up, not "data"

    @property
    def layers(self) -> int:
        return self.tables.get("layers", 0)

    @property
    def versions(self) -> int:
        return self.tables.get("layer_versions", 0)

    @property
    def features(self) -> int:
        return self.tables.get("features", 0)

    @property
    def tables_with_data(self) -> list[str]:
        """Tables with rows, the migration bookkeeping (``alembic_version``) and transient tables aside."""
        return [t for t, n in self.tables.items() if n and t != "alembic_version" and t not in self.transient]


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    database: str
    contents: Contents
    overwritten: bool


@dataclass(frozen=True)
class RestoreResult:
    database: str
    source: Path
    contents: Contents
    created: bool  # the target did not exist
    replaced: Contents | None  # what the target held before (None when it did not exist)
    migrated_from: str | None  # the backup's schema revision when it was older and was migrated
    missing_rasters: list[str]
    warnings: list[str]


# ---------------------------------------------------------------------------------------------- tools


def server_major(url: str) -> int:
    """The major version of the PostgreSQL server at ``url``'s host and port."""
    with connect(url, database="postgres", autocommit=True) as conn:
        return server_major_of(conn)


def find_pg_tool(name: str, major: int, *, settings: Settings | None = None) -> Path:
    """``pg_dump``/``pg_restore`` of PostgreSQL ``major`` (the server's): GEBIEDSCHECK_PG_BIN_DIR, Debian's
    ``/usr/lib/postgresql/<major>/bin``, ``pg_config --bindir``, or PATH. Another major version is refused:
    an older pg_dump cannot dump a newer server, and an archive of a newer one an older pg_restore cannot read."""
    settings = settings or get_settings()
    dirs: list[Path] = []
    if settings.pg_bin_dir:
        dirs.append(Path(settings.pg_bin_dir))
    dirs.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    pg_config = shutil.which("pg_config")
    if pg_config:
        res = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if res.returncode == 0 and res.stdout.strip():
            dirs.append(Path(res.stdout.strip()))
    on_path = shutil.which(name)
    if on_path:
        dirs.append(Path(on_path).parent)
    others: list[str] = []
    for d in dict.fromkeys(dirs):
        exe = d / name
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            continue
        found = tool_major(exe)
        if found == major:
            return exe
        others.append(f"{exe} (versie {found or '?'})")
    seen = f" Wel gevonden: {', '.join(others)}." if others else ""
    raise ConfigurationError(
        f"{name} van PostgreSQL {major} (de versie van de server) is niet gevonden.{seen} Installeer het "
        f"(Debian: apt-get install -y postgresql-client-{major}) of zet GEBIEDSCHECK_PG_BIN_DIR op de map "
        f"met {name}."
    )


def format_size(size_bytes: int) -> str:
    """A file size the Dutch way: ``56,6 kB``."""
    value, unit = float(size_bytes), "B"
    for next_unit in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, next_unit
    text = f"{value:.0f}" if unit == "B" else f"{value:.1f}"
    return f"{text.replace('.', ',')} {unit}"


def describe(contents: Contents) -> str:
    """``14 lagen, 16 versies, 32 objecten`` (Dutch singular for one)."""
    parts = [
        (contents.layers, "laag", "lagen"),
        (contents.versions, "versie", "versies"),
        (contents.features, "object", "objecten"),
    ]
    return ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in parts)


# --------------------------------------------------------------------------------------------- backup


def backup_database(url: str, file: Path, *, settings: Settings | None = None) -> BackupResult:
    """Write a ``pg_dump -Fc`` archive of the database at ``url`` to ``file`` (replaced only on success)."""
    settings = settings or get_settings()
    target = Path(file).expanduser().absolute()
    if target.is_dir():
        raise BackupError(f"{target} is een map; geef de naam van het backupbestand.")
    if not target.parent.is_dir():
        raise BackupError(f"De map {target.parent} bestaat niet.")
    name = database_name(url)
    dsn, env = tool_target(url)
    with connect(url) as conn:
        # The count and pg_dump share one snapshot, so the report says exactly what the file holds.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else ""
            major = server_major_of(conn)
            contents = contents_of(conn)
        except psycopg.Error as exc:
            raise BackupError(f"De database {name} kon niet worden gelezen.", cause=exc) from exc
        if contents.revision is None:
            raise BackupError(
                f"De database {name} heeft geen schema van Gebiedscheck (geen alembic_version); "
                "er is geen backup gemaakt."
            )
        pg_dump = find_pg_tool("pg_dump", major, settings=settings)
        pg_restore = find_pg_tool("pg_restore", major, settings=settings)
        fd, part_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
        part = Path(part_name)
        try:
            log.info("pg_dump of %s to %s", name, part)
            run(
                pg_dump,
                [
                    "--format=custom",
                    "--no-password",
                    "--no-unlogged-table-data",
                    f"--snapshot={snapshot}",
                    f"--file={part}",
                    f"--dbname={dsn}",
                ],
                env=env,
                failure=f"De backup is mislukt; {target} is niet geschreven",
            )
            run(
                pg_restore,
                ["--list", str(part)],
                env=env,
                failure=f"De backup is niet leesbaar; {target} is niet geschreven",
            )
            with part.open("rb") as fh:
                os.fsync(fh.fileno())
            overwritten = target.exists()
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
    return BackupResult(
        path=target,
        size_bytes=target.stat().st_size,
        database=name,
        contents=contents,
        overwritten=overwritten,
    )


# -------------------------------------------------------------------------------------------- restore


def connect(url: str, *, database: str | None = None, autocommit: bool = False) -> psycopg.Connection[Any]:
    u = make_url(url)
    db = database or u.database
    try:
        return psycopg.connect(
            libpq_url(url, database=database),
            autocommit=autocommit,
            connect_timeout=5,
            application_name="gebiedscheck-backup",
        )
    except psycopg.OperationalError as exc:
        if f'"{db}" does not exist' in str(exc):
            raise DatabaseUnavailable(f"De database {db} bestaat niet op {u.host}:{u.port}.", cause=exc) from exc
        raise DatabaseUnavailable(
            f"De PostgreSQL-server op {u.host}:{u.port} antwoordt niet (database {db}).", cause=exc
        ) from exc


def execute(conn: psycopg.Connection[Any], statement: sql.Composed) -> None:
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        raise BackupError(f"De database kon niet worden aangepast: {first_line(exc)}", cause=exc) from exc


def tool_target(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL for pg_dump/pg_restore without the password (that goes in PGPASSWORD, not argv)."""
    u = make_url(url)
    env = dict(os.environ, PGAPPNAME="gebiedscheck-backup", PGCONNECT_TIMEOUT="10")
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    return libpq_url(u.set(password=None).render_as_string(hide_password=False)), env


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def side_name(name: str, tag: str) -> str:
    """``<name>_<tag>_<8 hex>``, within PostgreSQL's 63 bytes."""
    return f"{name.encode()[:44].decode(errors='ignore')}_{tag}_{secrets.token_hex(4)}"


def exists(admin: psycopg.Connection[Any], name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def server_major_of(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    return int(row[0]) if row else 0


def tool_major(exe: Path) -> int | None:
    try:
        res = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"PostgreSQL\)\s+(\d+)", res.stdout) or re.search(r"(\d+)\.\d+", res.stdout)
    return int(m.group(1)) if m else None


def run(tool: Path, args: list[str], *, env: dict[str, str], failure: str) -> None:
    res = subprocess.run([str(tool), *args], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        log.info("%s failed (exit %d): %s", tool.name, res.returncode, res.stderr.strip())
        raise BackupError(f"{failure}. {tool.name} meldt: {tool_error(res.stderr, tool.name)}", cause=res.stderr)


def tool_error(stderr: str, tool: str) -> str:
    """The first error line of pg_dump/pg_restore, without the program name."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(f"{tool}: error:")] or lines or ["(geen melding)"]
    return errors[0].removeprefix(f"{tool}: error:").strip()[:400]


def first_line(exc: BaseException) -> str:
    detail = exc.detail if isinstance(exc, GebiedscheckError) else str(exc)
    return (detail.strip().splitlines() or [""])[0][:300]


def contents_at(url: str) -> Contents:
    with connect(url) as conn:
        return contents_of(conn)


def contents_of(conn: psycopg.Connection[Any]) -> Contents:
    """Rows per table of our own (tables of extensions, such as spatial_ref_sys, aside) and the revision."""
    tables = conn.execute(
        """
        SELECT n.nspname, c.relname, c.relpersistence = 'u'
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1, 2
        """
    ).fetchall()
    counts: dict[str, int] = {}
    transient: list[str] = []
    for schema, table, unlogged in tables:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        ).fetchone()
        key = table if schema == "public" else f"{schema}.{table}"
        counts[key] = int(row[0]) if row else 0
        if unlogged:
            transient.append(key)
    revision = None
    if "alembic_version" in counts:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = str(row[0]) if row else None
    rasters: tuple[str, ...] = ()
    if "layer_versions" in counts:
        rasters = tuple(
            str(r[0])
            for r in conn.execute(
                "SELECT raster_path FROM layer_versions WHERE raster_path IS NOT NULL ORDER BY id"
            ).fetchall()
        )
    return Contents(revision=revision, tables=counts, rasters=rasters, transient=tuple(transient))
