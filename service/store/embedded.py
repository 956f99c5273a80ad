"""Finding a database: the configured one, the local server, or a private cluster of our own.

With no ``DATABASE_URL`` the local PostgreSQL on 127.0.0.1:5432 is used. Where none answers, a private
cluster is started from the local PostgreSQL + PostGIS binaries in ``<data_dir>/pg`` (as
pytest-postgresql does). Where there are no binaries, we stop with a message naming the ways out.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from service.core.errors import ConfigurationError
from service.core.settings import Settings, get_settings
from service.store.database import server_answers

log = logging.getLogger(__name__)

WAYS_OUT = (
    "Ways out: install PostgreSQL with PostGIS (Debian: apt-get install -y postgresql-15 "
    "postgresql-15-postgis-3), or set DATABASE_URL=postgresql://user@host:port/db to a server with "
    "PostGIS, or run `docker compose up`."
)


def find_pg_bin(settings: Settings) -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: configured, Debian's layout, or PATH."""
    candidates: list[Path] = []
    if settings.pg_bin_dir:
        candidates.append(settings.pg_bin_dir)
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")), reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    return None


def postgis_installed(pg_bin: Path) -> bool:
    try:
        share = subprocess.run(
            [str(pg_bin / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        share = str(pg_bin.parent / "share")
    return bool(glob.glob(f"{share}/extension/postgis.control")) or bool(
        glob.glob(f"/usr/share/postgresql/{pg_bin.parent.name}/extension/postgis.control")
    )


def _run_as_owner(cmd: list[str], owner: str | None) -> subprocess.CompletedProcess[str]:
    if owner:
        cmd = ["runuser", "-u", owner, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True)


def cluster_dir(settings: Settings) -> Path:
    """``<data_dir>/pg``; as root (postgres refuses to run as root, so the ``postgres`` user runs it) a
    directory under /var/tmp when the ``postgres`` user cannot reach the project's data directory."""
    datadir = (settings.data_dir / "pg").resolve()
    if os.geteuid() != 0:
        return datadir
    probe = datadir.parent
    while not probe.exists():
        probe = probe.parent
    reachable = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(probe)]).returncode == 0
    if reachable:
        return datadir
    key = hashlib.sha256(str(datadir).encode()).hexdigest()[:12]
    return Path("/var/tmp/gebiedscheck") / key / "pg"


def start_private_cluster(settings: Settings) -> str:
    """Start (initialising when needed) a cluster in ``<data_dir>/pg``; returns its DATABASE_URL."""
    pg_bin = find_pg_bin(settings)
    if pg_bin is None:
        raise ConfigurationError(
            "No PostgreSQL answers on 127.0.0.1:5432 and no PostgreSQL binaries were found. " + WAYS_OUT
        )
    if not postgis_installed(pg_bin):
        raise ConfigurationError(f"PostgreSQL binaries found in {pg_bin}, but PostGIS is not installed. " + WAYS_OUT)
    datadir = cluster_dir(settings)
    port = settings.embedded_port
    url = f"postgresql://postgres@127.0.0.1:{port}/gebiedscheck"
    if server_answers(url, timeout=2):
        return url
    # initdb and postgres refuse to run as root: run them as the postgres user then.
    owner = "postgres" if os.geteuid() == 0 else None
    datadir.mkdir(parents=True, exist_ok=True)
    if owner:
        shutil.chown(datadir, user=owner)
    if not (datadir / "PG_VERSION").exists():
        log.info("initialising a private PostgreSQL cluster in %s", datadir)
        res = _run_as_owner(
            [str(pg_bin / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"], owner
        )
        if res.returncode != 0:
            raise ConfigurationError(f"initdb failed: {res.stderr.strip()[-400:]}. " + WAYS_OUT)
    res = _run_as_owner(
        [
            str(pg_bin / "pg_ctl"),
            "-D",
            str(datadir),
            "-l",
            str(datadir / "server.log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -k {datadir}",
        ],
        owner,
    )
    if res.returncode != 0:
        raise ConfigurationError(f"pg_ctl start failed: {res.stderr.strip()[-400:]}. " + WAYS_OUT)
    for _ in range(50):
        if server_answers(url, timeout=1):
            log.info("private PostgreSQL cluster runs on 127.0.0.1:%d", port)
            return url
        time.sleep(0.2)
    raise ConfigurationError(f"the private cluster in {datadir} did not start. " + WAYS_OUT)


def stop_private_cluster(settings: Settings) -> None:
    """Stop the private cluster in ``<data_dir>/pg`` if it runs (fast shutdown)."""
    pg_bin = find_pg_bin(settings)
    datadir = cluster_dir(settings)
    if pg_bin is None or not (datadir / "postmaster.pid").exists():
        return
    owner = "postgres" if os.geteuid() == 0 else None
    _run_as_owner([str(pg_bin / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"], owner)


def resolve_database_url(settings: Settings | None = None) -> str:
    """The database to use: ``DATABASE_URL`` if set, else the local server, else a private cluster."""
    settings = settings or get_settings()
    if settings.explicit_database:
        return settings.effective_database_url
    if server_answers(settings.effective_database_url):
        return settings.effective_database_url
    log.warning("no PostgreSQL answers on 127.0.0.1:5432; using a private cluster (port %d)", settings.embedded_port)
    return start_private_cluster(settings)
