"""Restoring a backup (:mod:`service.store.backup`): into a missing or empty database, or replacing one only
after the restore has succeeded in a temporary database; older schema revisions are migrated to head."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from service.core.errors import ConfigurationError, GebiedscheckError
from service.core.settings import Settings, get_settings
from service.store.backup import (
    BackupError,
    Contents,
    RestoreResult,
    TargetNotEmpty,
    connect,
    contents_at,
    contents_of,
    describe,
    execute,
    exists,
    find_pg_tool,
    first_line,
    run,
    server_major_of,
    side_name,
    tool_target,
    with_database,
)
from service.store.database import HEAD_REVISION, alembic_config, database_name, ensure_postgis, migrate

log = logging.getLogger(__name__)


def restore_database(url: str, file: Path, *, replace: bool = False, settings: Settings | None = None) -> RestoreResult:
    """Restore the archive ``file`` (from :func:`backup_database`) as the database of ``url``.

    The target may be missing or empty (tables without rows, as after ``db init``); with ``replace`` it may
    hold data, which is replaced only once the restore has succeeded in a temporary database.
    """
    from service.store.current import resolve_raster

    settings = settings or get_settings()
    source = Path(file).expanduser().absolute()
    if not source.is_file():
        raise BackupError(f"Het backupbestand {source} bestaat niet.")
    name = database_name(url)
    if name in ("postgres", "template0", "template1"):
        raise BackupError(f"Terugzetten in de systeemdatabase {name} kan niet; kies een eigen database (DATABASE_URL).")
    _, env = tool_target(url)
    with connect(url, database="postgres", autocommit=True) as admin:
        pg_restore = find_pg_tool("pg_restore", server_major_of(admin), settings=settings)
        run(
            pg_restore,
            ["--list", str(source)],
            env=env,
            failure=f"{source.name} is geen leesbare backup (pg_dump -Fc); er is niets teruggezet",
        )
        if exists(admin, name):
            before = contents_at(url)
            if before.tables_with_data and not replace:
                raise _not_empty(name, before)
        temp = side_name(name, "herstel")
        temp_url = with_database(url, temp)
        temp_dsn, _ = tool_target(temp_url)
        execute(admin, sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(temp)))
        swapped = False
        try:
            _ensure_postgis(temp_url)
            log.info("pg_restore of %s into %s", source, temp)
            run(
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
            contents = contents_at(temp_url)
            warnings = _carry_over(admin, name, temp) if exists(admin, name) else []
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
    with connect(url) as conn:
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
    if not exists(admin, name):
        execute(admin, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(temp_ident, ident))
        return None
    old = side_name(name, "oud")
    closed = False
    try:
        with connect(url) as check:
            execute(admin, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(ident))
            closed = True
            _end_sessions(admin, name, keep=check.info.backend_pid)
            before = contents_of(check)
        if before.tables_with_data and not replace:
            raise _not_empty(name, before)
        _end_sessions(admin, name, keep=None)
        with admin.transaction():
            execute(admin, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident, sql.Identifier(old)))
            execute(admin, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(temp_ident, ident))
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
        warnings.append(f"Eigenaar en rechten van database {name} konden niet worden overgenomen: {first_line(exc)}")
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
            f"De PostGIS-extensie kon niet worden aangemaakt: {first_line(exc)}. Er is niets teruggezet.",
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
