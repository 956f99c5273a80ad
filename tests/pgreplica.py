"""A private PostgreSQL primary with a streaming-replication standby, for tests.

Both clusters are started from the local PostgreSQL + PostGIS binaries (as ``service.embedded`` does for
the single private cluster), never the system cluster on 5432. The standby is made with PostgreSQL's own
``pg_basebackup -R -X stream``. As root (initdb and postgres refuse to run as root) the ``postgres`` OS
user runs the binaries; their directory is under ``tmp_path`` when that user can reach it, else under the
system temp dir (pytest's ``tmp_path`` is private to root, and unix socket paths must stay short).

    with replica_pair(tmp_path) as pair:
        pair.primary_url, pair.standby_url   # postgresql+psycopg://postgres@127.0.0.1:PORT/gebiedscheck
        pair.wait_replayed(lsn, timeout=10)
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from service.core.settings import Settings
from service.store import embedded

DBNAME = "gebiedscheck"
START_TIMEOUT = 30.0


class ReplicaError(RuntimeError):
    """A cluster command failed; the message carries the command's output and the server log's tail."""


def find_pg_bin() -> Path | None:
    """The service's own search for the cluster binaries (:func:`service.store.embedded.find_pg_bin`), with
    ``pg_basebackup`` beside them."""
    found = embedded.find_pg_bin(Settings(_env_file=None))  # type: ignore[call-arg]
    return found if found is not None and (found / "pg_basebackup").exists() else None


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (all sockets held open until every port is picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class _Cluster:
    name: str
    datadir: Path
    port: int
    log: Path


@dataclass
class ReplicaPair:
    """A running primary and its streaming standby; both serve database ``gebiedscheck``."""

    pg_bin: Path
    root: Path
    socket_dir: Path
    owner: str | None
    primary: _Cluster
    standby: _Cluster
    started: list[_Cluster] = field(default_factory=list)

    # --- addresses -------------------------------------------------------------------------------
    @property
    def primary_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.primary.port}/{DBNAME}"

    @property
    def standby_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.standby.port}/{DBNAME}"

    @property
    def primary_conninfo(self) -> str:
        return conninfo(self.primary.port)

    @property
    def standby_conninfo(self) -> str:
        return conninfo(self.standby.port)

    # --- running the binaries ------------------------------------------------------------------
    def run(self, *args: str, check: bool = True, log: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run a cluster binary (as the ``postgres`` user when we are root), in our own directory."""
        cmd = [str(self.pg_bin / args[0]), *args[1:]]
        if self.owner:
            cmd = ["runuser", "-u", self.owner, "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root, timeout=120)
        if check and res.returncode != 0:
            msg = f"{args[0]} failed ({res.returncode}): {(res.stderr or res.stdout).strip()[-1500:]}"
            if log is not None:
                msg += f"\n--- {log.name} ---\n{_tail(log)}"
            raise ReplicaError(msg)
        return res

    def _start(self, c: _Cluster) -> None:
        opts = f"-p {c.port} -c listen_addresses=127.0.0.1 -k {self.socket_dir}"
        if c not in self.started:
            self.started.append(c)
        self.run(
            "pg_ctl",
            "-D",
            str(c.datadir),
            "-l",
            str(c.log),
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
            "start",
            "-o",
            opts,
            log=c.log,
        )

    def _stop(self, c: _Cluster, mode: str) -> None:
        if (c.datadir / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(c.datadir), "-m", mode, "-w", "stop", check=False)
        _kill_leftover(c.datadir)

    def stop_all(self) -> None:
        """Stop every cluster we started (immediate shutdown; the data is thrown away anyway)."""
        for c in reversed(self.started):
            self._stop(c, "immediate")

    # --- the standby ---------------------------------------------------------------------------
    def stop_standby(self) -> None:
        """Stop the standby (fast shutdown); the primary keeps running."""
        self.run("pg_ctl", "-D", str(self.standby.datadir), "-m", "fast", "-w", "stop", log=self.standby.log)

    def start_standby(self, timeout: float = START_TIMEOUT) -> None:
        """Start the standby again and wait until it streams from the primary."""
        self._start(self.standby)
        self.wait_streaming(timeout)

    def wait_streaming(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the standby is in recovery and the primary's ``pg_stat_replication`` shows it streaming."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.standby_conninfo, autocommit=True, connect_timeout=2) as con:
                    row = con.execute(
                        "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"
                    ).fetchone()
                    in_recovery, receiver = row if row else (None, None)
                with psycopg.connect(self.primary_conninfo, autocommit=True, connect_timeout=2) as con:
                    row = con.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()
                    senders = row[0] if row else 0
                if in_recovery and receiver == "streaming" and senders >= 1:
                    return
                last = f"in_recovery={in_recovery}, wal receiver={receiver}, streaming senders={senders}"
            except psycopg.OperationalError as e:
                last = str(e).strip()
            time.sleep(0.1)
        raise ReplicaError(
            f"standby on port {self.standby.port} is not streaming after {timeout}s ({last})\n"
            f"--- standby log ---\n{_tail(self.standby.log)}"
        )

    def current_lsn(self) -> str:
        """``pg_current_wal_lsn()`` on the primary."""
        with psycopg.connect(self.primary_conninfo, autocommit=True, connect_timeout=5) as con:
            row = con.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        return str(row[0])

    def wait_replayed(self, lsn: str, timeout: float = 10.0) -> None:
        """Wait until the standby has replayed the primary's WAL up to ``lsn`` (``pg_wal_lsn_diff`` >= 0)."""
        deadline = time.monotonic() + timeout
        replayed: str | None = None
        error = ""
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.standby_conninfo, autocommit=True, connect_timeout=2) as con:
                    row = con.execute(
                        "SELECT pg_last_wal_replay_lsn()::text, "
                        "coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0, false)",
                        (lsn,),
                    ).fetchone()
                assert row is not None
                replayed, done = row
                if done:
                    return
            except psycopg.OperationalError as e:
                error = f"; last error: {str(e).strip()}"
            time.sleep(0.05)
        raise TimeoutError(f"standby replayed up to {replayed}, not {lsn}, within {timeout}s{error}")


def conninfo(port: int, dbname: str = DBNAME) -> str:
    return f"host=127.0.0.1 port={port} user=postgres dbname={dbname}"


def _kill_leftover(datadir: Path) -> None:
    """Last resort when ``pg_ctl stop`` did not end it: SIGQUIT to the postmaster named in its pid file."""
    pidfile = datadir / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return
    if str(datadir) not in cmdline:  # a recycled pid, not our postmaster
        return
    try:
        os.kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        return
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.05)


def _write_primary_config(datadir: Path) -> None:
    # synchronous_commit stays on: with it off, pg_current_wal_lsn() (the WAL *write* position) lags the
    # commit just made, so waiting for that LSN on the standby would not include it. With fsync off the
    # commit's flush is only a write(), so it costs nothing measurable.
    with (datadir / "postgresql.conf").open("a") as f:
        f.write(
            "\n# tests/pgreplica.py\n"
            "wal_level = replica\n"
            "max_wal_senders = 5\n"
            "wal_keep_size = '128MB'\n"
            "hot_standby = on\n"
            "fsync = off\n"
            "synchronous_commit = on\n"
            "full_page_writes = off\n"
            "wal_writer_delay = '10ms'\n"
            "wal_receiver_status_interval = '1s'\n"
            "max_connections = 30\n"
            "shared_buffers = '32MB'\n"
        )
    (datadir / "pg_hba.conf").write_text(
        "local all all trust\n"
        "host all all 127.0.0.1/32 trust\n"
        "local replication all trust\n"
        "host replication all 127.0.0.1/32 trust\n"
    )


def _work_dir(tmp_path: Path, owner: str | None) -> Path:
    """``tmp_path/pgreplica`` when the cluster user can reach it and unix socket paths stay short, else a new
    directory in the system temp dir (pytest's ``tmp_path`` is private to root when we run as root)."""
    reachable = len(str(tmp_path)) < 70 and (
        owner is None or subprocess.run(["runuser", "-u", owner, "--", "test", "-x", str(tmp_path)]).returncode == 0
    )
    if reachable:
        root = Path(tempfile.mkdtemp(prefix="pgreplica-", dir=tmp_path))
    else:
        root = Path(tempfile.mkdtemp(prefix="pgreplica-"))
    if owner:
        shutil.chown(root, user=owner)
    return root


@contextmanager
def replica_pair(tmp_path: Path) -> Iterator[ReplicaPair]:
    """A started primary + streaming standby; both stopped (immediate) and removed on exit, even on failure.

    Skips the test when the PostgreSQL binaries or PostGIS are missing. The clusters live in a new
    directory under ``tmp_path`` when the cluster user can reach it, else under the system temp dir.
    """
    pg_bin = find_pg_bin()
    if pg_bin is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl, pg_basebackup) on this machine")
    if not embedded.postgis_installed(pg_bin):
        pytest.skip(f"PostgreSQL binaries in {pg_bin}, but PostGIS is not installed")
    owner: str | None = None
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot run PostgreSQL as the postgres user")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres OS user to run the clusters")
        owner = "postgres"

    with ExitStack() as stack:
        root = _work_dir(tmp_path, owner)
        stack.callback(shutil.rmtree, root, True)
        socket_dir = root / "sock"
        socket_dir.mkdir()
        if owner:
            shutil.chown(socket_dir, user=owner)
        primary_port, standby_port = free_ports(2)
        pair = ReplicaPair(
            pg_bin=pg_bin,
            root=root,
            socket_dir=socket_dir,
            owner=owner,
            primary=_Cluster("primary", root / "primary", primary_port, root / "primary.log"),
            standby=_Cluster("standby", root / "standby", standby_port, root / "standby.log"),
        )
        # Registered before anything starts: later callbacks run first, so the clusters stop before rmtree.
        stack.callback(pair.stop_all)

        pair.run(
            "initdb",
            "-D",
            str(pair.primary.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        _write_primary_config(pair.primary.datadir)
        pair._start(pair.primary)
        with psycopg.connect(conninfo(primary_port, "postgres"), autocommit=True, connect_timeout=5) as con:
            con.execute(f"CREATE DATABASE {DBNAME}")
        with psycopg.connect(pair.primary_conninfo, autocommit=True, connect_timeout=5) as con:
            con.execute("CREATE EXTENSION postgis")

        pair.run(
            "pg_basebackup",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            "-D",
            str(pair.standby.datadir),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary_port),
            "-U",
            "postgres",
            log=pair.primary.log,
        )
        pair._start(pair.standby)
        pair.wait_streaming()
        yield pair
