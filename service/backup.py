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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from service.database import HEAD_REVISION, alembic_config, database_name, ensure_postgis, libpq_url, migrate
from service.errors import ConfigurationError, DatabaseUnavailable, GebiedscheckError
from service.settings import Settings, get_settings

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
    with _connect(url, database="postgres", autocommit=True) as conn:
        return _server_major(conn)


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
        found = _tool_major(exe)
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
    dsn, env = _tool_target(url)
    with _connect(url) as conn:
        # The count and pg_dump share one snapshot, so the report says exactly what the file holds.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else ""
            major = _server_major(conn)
            contents = _contents(conn)
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
            _run(
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
            _run(
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


def restore_database(url: str, file: Path, *, replace: bool = False, settings: Settings | None = None) -> RestoreResult:
    """Restore the archive ``file`` (from :func:`backup_database`) as the database of ``url``.

    The target may be missing or empty (tables without rows, as after ``db init``); with ``replace`` it may
    hold data, which is replaced only once the restore has succeeded in a temporary database.
    """
    from service.loading import resolve_raster

    settings = settings or get_settings()
    source = Path(file).expanduser().absolute()
    if not source.is_file():
        raise BackupError(f"Het backupbestand {source} bestaat niet.")
    name = database_name(url)
    if name in ("postgres", "template0", "template1"):
        raise BackupError(f"Terugzetten in de systeemdatabase {name} kan niet; kies een eigen database (DATABASE_URL).")
    _, env = _tool_target(url)
    with _connect(url, database="postgres", autocommit=True) as admin:
        pg_restore = find_pg_tool("pg_restore", _server_major(admin), settings=settings)
        _run(
            pg_restore,
            ["--list", str(source)],
            env=env,
            failure=f"{source.name} is geen leesbare backup (pg_dump -Fc); er is niets teruggezet",
        )
        if _exists(admin, name):
            before = _contents_at(url)
            if before.tables_with_data and not replace:
                raise _not_empty(name, before)
        temp = _side_name(name, "herstel")
        temp_url = _with_database(url, temp)
        temp_dsn, _ = _tool_target(temp_url)
        _execute(admin, sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(temp)))
        swapped = False
        try:
            _ensure_postgis(temp_url)
            log.info("pg_restore of %s into %s", source, temp)
            _run(
                pg_restore,
                [
                    "--single-transaction",
                    "--exit-on-error",
                    "--no-owner",
                    "--no-password",
                    f"--dbname={temp_dsn}",
                    str(source),
                ],
                env=env,
                failure=f"Terugzetten van {source.name} is mislukt",
            )
            migrated_from = _bring_to_head(temp_url)
            contents = _contents_at(temp_url)
            warnings = _carry_over(admin, name, temp) if _exists(admin, name) else []
            swap = _swap(admin, url, name, temp, replace=replace)
            swapped = True
        finally:
            if not swapped:
                _drop_quietly(admin, temp)
        replaced = None
        if swap is not None:
            replaced, old = swap
            if not _drop_quietly(admin, old):
                warnings.append(f"De vervangen database {old} kon niet worden verwijderd; verwijder haar zelf.")
    missing = [p for p in contents.rasters if not ((path := resolve_raster(p, settings)) and path.exists())]
    return RestoreResult(
        database=name,
        source=source,
        contents=contents,
        created=replaced is None,
        replaced=replaced,
        migrated_from=migrated_from,
        missing_rasters=missing,
        warnings=warnings,
    )


def _not_empty(name: str, held: Contents) -> TargetNotEmpty:
    return TargetNotEmpty(
        f"De database {name} is niet leeg ({describe(held)}; tabellen met gegevens: "
        f"{', '.join(held.tables_with_data)}). Er is niets teruggezet. Kies een lege database "
        "(DATABASE_URL), of gebruik --replace om haar te vervangen."
    )


def _bring_to_head(url: str) -> str | None:
    """Check the restored schema revision; migrate an older one. Returns the revision it was migrated from."""
    with _connect(url) as conn:
        has = conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone() if has and has[0] else None
    revision = str(row[0]) if row else None
    if revision is None:
        raise BackupError(
            "Dit bestand is geen backup van Gebiedscheck (er is geen schemaversie in); er is niets teruggezet."
        )
    if revision == HEAD_REVISION:
        return None
    from alembic.script import ScriptDirectory

    known = {s.revision for s in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()}
    if revision not in known:
        raise BackupError(
            f"De backup heeft schemaversie {revision}, die deze versie van Gebiedscheck niet kent (nieuwste: "
            f"{HEAD_REVISION}). Werk Gebiedscheck bij en probeer het opnieuw; er is niets teruggezet."
        )
    log.info("migrating the restored schema from %s to %s", revision, HEAD_REVISION)
    try:
        migrate(url)
    except Exception as exc:  # alembic / SQLAlchemy errors of any kind
        raise BackupError(
            f"De backup (schemaversie {revision}) kon niet naar {HEAD_REVISION} worden gemigreerd; "
            "er is niets teruggezet.",
            cause=exc,
        ) from exc
    return revision


def _swap(
    admin: psycopg.Connection[Any], url: str, name: str, temp: str, *, replace: bool
) -> tuple[Contents, str] | None:
    """Put ``temp`` in place of ``name``; returns what ``name`` held and the name it now has (closed to
    connections, to be dropped), or None when ``name`` did not exist.

    The target is closed to new connections, the others are ended, its contents are checked once more from
    the one session left (no write can slip in between), and the two renames happen in one transaction.
    """
    ident, temp_ident = sql.Identifier(name), sql.Identifier(temp)
    if not _exists(admin, name):
        _execute(admin, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(temp_ident, ident))
        return None
    old = _side_name(name, "oud")
    closed = False
    try:
        with _connect(url) as check:
            _execute(admin, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(ident))
            closed = True
            _end_sessions(admin, name, keep=check.info.backend_pid)
            before = _contents(check)
        if before.tables_with_data and not replace:
            raise _not_empty(name, before)
        _end_sessions(admin, name, keep=None)
        with admin.transaction():
            _execute(admin, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident, sql.Identifier(old)))
            _execute(admin, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(temp_ident, ident))
    except BaseException:
        if closed:
            try:
                admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident))
            except psycopg.Error:
                log.exception("could not reopen database %s to connections", name)
        raise
    return before, old


def _carry_over(admin: psycopg.Connection[Any], name: str, temp: str) -> list[str]:
    """Give the new database the old one's owner and database-level grants (not in a pg_dump archive)."""
    warnings: list[str] = []
    target = sql.Identifier(temp)
    row = admin.execute(
        "SELECT pg_get_userbyid(datdba), datacl IS NOT NULL, current_user FROM pg_database WHERE datname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return warnings
    owner, has_acl, me = row
    try:
        if owner != me:
            admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(target, sql.Identifier(owner)))
        if has_acl:
            grants = admin.execute(
                "SELECT a.grantee = 0, pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable "
                "FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = %s",
                (name,),
            ).fetchall()
            admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(target))
            for public, grantee, privilege, grantable in grants:
                admin.execute(
                    sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                        sql.SQL(privilege),
                        target,
                        sql.SQL("PUBLIC") if public else sql.Identifier(grantee),
                        sql.SQL(" WITH GRANT OPTION" if grantable else ""),
                    )
                )
    except psycopg.Error as exc:
        log.warning("could not carry over owner/grants of %s: %s", name, exc)
        warnings.append(f"Eigenaar en rechten van database {name} konden niet worden overgenomen: {_first_line(exc)}")
    settings = admin.execute(
        "SELECT array_to_string(s.setconfig, ', ') FROM pg_db_role_setting s JOIN pg_database d "
        "ON d.oid = s.setdatabase WHERE d.datname = %s AND s.setrole = 0",
        (name,),
    ).fetchone()
    if settings and settings[0]:
        warnings.append(
            f"Instellingen van database {name} ({settings[0]}) zijn niet overgenomen (ALTER DATABASE … SET)."
        )
    return warnings


def _ensure_postgis(url: str) -> None:
    try:
        ensure_postgis(url)
    except ConfigurationError as exc:
        raise ConfigurationError(
            "PostGIS is niet geïnstalleerd op deze PostgreSQL-server. Installeer het (Debian: apt-get install -y "
            "postgresql-15-postgis-3) of kies een server die het heeft; er is niets teruggezet.",
            cause=exc,
        ) from exc
    except (GebiedscheckError, psycopg.Error) as exc:
        raise BackupError(
            f"De PostGIS-extensie kon niet worden aangemaakt: {_first_line(exc)}. Er is niets teruggezet.",
            cause=exc,
        ) from exc


def _end_sessions(admin: psycopg.Connection[Any], name: str, *, keep: int | None, wait_s: float = 10.0) -> None:
    """End every session on ``name`` but ``keep`` and wait until they are gone."""
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() AND pid IS DISTINCT FROM %s"
    )
    deadline = time.monotonic() + wait_s
    while True:
        pids = [r[0] for r in admin.execute(query, (name, keep)).fetchall()]
        if not pids:
            return
        if time.monotonic() > deadline:
            raise BackupError(f"Er blijven verbindingen met database {name} open; er is niets teruggezet.")
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.1)


def _drop_quietly(admin: psycopg.Connection[Any], name: str) -> bool:
    try:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    except psycopg.Error:
        log.exception("could not drop database %s", name)
        return False
    return True


# -------------------------------------------------------------------------------------------- helpers


def _connect(url: str, *, database: str | None = None, autocommit: bool = False) -> psycopg.Connection[Any]:
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


def _execute(conn: psycopg.Connection[Any], statement: sql.Composed) -> None:
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        raise BackupError(f"De database kon niet worden aangepast: {_first_line(exc)}", cause=exc) from exc


def _tool_target(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL for pg_dump/pg_restore without the password (that goes in PGPASSWORD, not argv)."""
    u = make_url(url)
    env = dict(os.environ, PGAPPNAME="gebiedscheck-backup", PGCONNECT_TIMEOUT="10")
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    return libpq_url(u.set(password=None).render_as_string(hide_password=False)), env


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _side_name(name: str, tag: str) -> str:
    """``<name>_<tag>_<8 hex>``, within PostgreSQL's 63 bytes."""
    return f"{name.encode()[:44].decode(errors='ignore')}_{tag}_{secrets.token_hex(4)}"


def _exists(admin: psycopg.Connection[Any], name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _server_major(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    return int(row[0]) if row else 0


def _tool_major(exe: Path) -> int | None:
    try:
        res = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"PostgreSQL\)\s+(\d+)", res.stdout) or re.search(r"(\d+)\.\d+", res.stdout)
    return int(m.group(1)) if m else None


def _run(tool: Path, args: list[str], *, env: dict[str, str], failure: str) -> None:
    res = subprocess.run([str(tool), *args], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        log.info("%s failed (exit %d): %s", tool.name, res.returncode, res.stderr.strip())
        raise BackupError(f"{failure}. {tool.name} meldt: {_tool_error(res.stderr, tool.name)}", cause=res.stderr)


def _tool_error(stderr: str, tool: str) -> str:
    """The first error line of pg_dump/pg_restore, without the program name."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(f"{tool}: error:")] or lines or ["(geen melding)"]
    return errors[0].removeprefix(f"{tool}: error:").strip()[:400]


def _first_line(exc: BaseException) -> str:
    detail = exc.detail if isinstance(exc, GebiedscheckError) else str(exc)
    return (detail.strip().splitlines() or [""])[0][:300]


def _contents_at(url: str) -> Contents:
    with _connect(url) as conn:
        return _contents(conn)


def _contents(conn: psycopg.Connection[Any]) -> Contents:
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
