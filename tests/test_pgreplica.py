"""The test replica pair: a private primary with a streaming standby (``pg_basebackup -R``)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import create_engine, text

from tests.pgreplica import ReplicaPair, replica_pair


def insert(pair: ReplicaPair, name: str) -> str:
    """Insert a row on the primary; returns the primary's WAL position after the commit."""
    with psycopg.connect(pair.primary_conninfo, autocommit=True) as con:
        con.execute(
            "INSERT INTO zone (name, geom) VALUES (%s, ST_GeomFromText('POINT(233000 557000)', 28992))", (name,)
        )
    return pair.current_lsn()


def names_on_standby(pair: ReplicaPair) -> list[str]:
    with psycopg.connect(pair.standby_conninfo, autocommit=True, connect_timeout=5) as con:
        return [r[0] for r in con.execute("SELECT name FROM zone ORDER BY id").fetchall()]


def test_standby_streams_is_read_only_and_catches_up(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with replica_pair(tmp_path) as pair:
        assert pair.primary_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
        assert pair.primary_url.endswith(f":{pair.primary.port}/gebiedscheck")
        assert pair.standby_url.endswith(f":{pair.standby.port}/gebiedscheck")
        assert 5432 not in (pair.primary.port, pair.standby.port)
        assert pair.primary.port != pair.standby.port

        with psycopg.connect(pair.primary_conninfo, autocommit=True) as con:
            con.execute("CREATE TABLE zone (id serial PRIMARY KEY, name text NOT NULL, geom geometry(Point, 28992))")
            row = con.execute("SELECT pg_is_in_recovery()").fetchone()
            assert row == (False,)
        lsn = insert(pair, "centrum")
        pair.wait_replayed(lsn, timeout=10)
        assert names_on_standby(pair) == ["centrum"]

        # The standby is a hot standby: readable (PostGIS included), in recovery, and read-only.
        with psycopg.connect(pair.standby_conninfo, autocommit=True) as con:
            row = con.execute("SELECT pg_is_in_recovery(), ST_SRID(geom), ST_X(geom) FROM zone").fetchone()
            assert row == (True, 28992, 233000.0)
            with pytest.raises(errors.ReadOnlySqlTransaction, match="read-only transaction"):
                con.execute("INSERT INTO zone (name) VALUES ('mag niet')")
        with psycopg.connect(pair.primary_conninfo, autocommit=True) as con:
            row = con.execute("SELECT host(client_addr), state FROM pg_stat_replication").fetchone()
            assert row == ("127.0.0.1", "streaming")
        # The SQLAlchemy URLs reach the same clusters.
        for url, in_recovery in ((pair.primary_url, False), (pair.standby_url, True)):
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    got = conn.execute(text("SELECT pg_is_in_recovery(), count(*) FROM zone")).one()
                    assert tuple(got) == (in_recovery, 1)
            finally:
                engine.dispose()

        # Stopped, it refuses connections; the primary goes on writing meanwhile.
        pair.stop_standby()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pair.standby_conninfo, connect_timeout=2).close()
        lsn = insert(pair, "kloosterveen")
        with pytest.raises(TimeoutError):
            pair.wait_replayed(lsn, timeout=0.3)

        # Started again, it streams and replays what it missed.
        pair.start_standby()
        pair.wait_replayed(lsn, timeout=15)
        assert names_on_standby(pair) == ["centrum", "kloosterveen"]
        datadirs = [pair.primary.datadir, pair.standby.datadir]
    assert not any(d.exists() for d in datadirs)
    assert time.monotonic() - t0 < 60


def test_pair_is_removed_when_the_body_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), replica_pair(tmp_path) as pair:
        ports = (pair.primary.port, pair.standby.port)
        root = pair.root
        raise RuntimeError("boom")
    assert not root.exists()
    for port in ports:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", connect_timeout=2).close()
