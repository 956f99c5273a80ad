"""The point question runs with PostgreSQL's generic plan (service/store/generic.py), and nothing else does.

With a national layer PostgreSQL planned `/zones/at` again for every point (3.7 ms instead of 0.8 ms,
benchmarks/README.md, scale); these tests check the mechanism: the statement is executed with the generic plan
only, the setting is back afterwards (after an error too) and a raw driver error reaches the user as a 504.
"""

from __future__ import annotations

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.questions.zones import zones_at
from service.spatial.geo import location
from service.store.database import make_engine, make_sessionmaker
from service.store.generic import one_generic

HAVENKWARTIER = location(lat=52.9995, lon=6.5725)


def plans(session) -> tuple[int, int]:
    row = session.execute(
        text(
            "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) FROM pg_prepared_statements "
            "WHERE statement LIKE '%hit AS MATERIALIZED%'"
        )
    ).one()
    return int(row[0]), int(row[1])


@pytest.mark.parametrize("autocommit", [True, False], ids=["read session", "transaction"])
def test_zones_at_is_planned_once_and_the_setting_comes_back(qsettings, autocommit: bool) -> None:
    """From ``generic_plan_from_rows`` stored parts (here 0: every store) the generic plan, never a custom one."""
    settings = qsettings.model_copy(update={"generic_plan_from_rows": 0})
    engine = make_engine(qsettings)  # fresh connections: pg_prepared_statements counts per connection
    try:
        reads = engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else engine
        with make_sessionmaker(reads)() as session:
            answers = [zones_at(session, HAVENKWARTIER, settings=settings) for _ in range(8)]
            assert len({tuple(z.feature_id for z in a.zones) for a in answers}) == 1
            assert "havenkwartier" in {z.layer for z in answers[0].zones}
            generic, custom = plans(session)
            assert custom == 0 and generic >= 3, (generic, custom)  # psycopg prepares it after 5 executions
            assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"  # others: PG's choice
    finally:
        engine.dispose()


def test_a_small_store_leaves_the_choice_to_postgresql(qsettings) -> None:
    """Below the threshold (the default layers: a few thousand parts) no SET/RESET per question: PostgreSQL makes
    its five custom plans and then keeps the generic one by itself."""
    engine = make_engine(qsettings)
    try:
        with make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))() as session:
            for _ in range(12):  # 5 unprepared (psycopg), then 5 custom plans, then PostgreSQL's generic one
                zones_at(session, HAVENKWARTIER, settings=qsettings)
            generic, custom = plans(session)
            assert custom == 5 and generic == 2, (generic, custom)
    finally:
        engine.dispose()


def test_the_setting_comes_back_after_an_error(qengine) -> None:
    with make_sessionmaker(qengine.execution_options(isolation_level="AUTOCOMMIT"))() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with pytest.raises(psycopg.errors.DivisionByZero):
            one_generic(session, text("SELECT 1 / CAST(:zero AS integer) AS x"), {"zero": 0})
        assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid  # the same, healthy connection
        assert one_generic(session, text("SELECT CAST(:a AS integer) + 1 AS x"), {"a": 41}).x == 42


def test_a_raw_driver_timeout_is_a_504_not_a_500(qsettings) -> None:
    """Statements on psycopg's own cursor (COPY, the pipeline above) fail with psycopg's errors, not SQLAlchemy's:
    the API names them as it names the others."""
    from service.api.app import create_app

    app: FastAPI = create_app(qsettings)

    @app.get("/test/raw-timeout")
    def raw_timeout() -> None:
        raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")

    @app.get("/test/raw-other")
    def raw_other() -> None:
        raise psycopg.errors.InternalError("something else")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/test/raw-timeout")
        assert r.status_code == 504 and "time limit" in r.json()["detail"]
        r = client.get("/test/raw-other")
        assert r.status_code == 500 and r.json()["detail"] == "internal database error"
