"""Complexity budgets (issue 11): a geometry too complex to validate in time is a 422 within the budget, never a
500 after the whole statement timeout; other cancellations are 504; the CLI ends a database error with one
Dutch line."""

from __future__ import annotations

import threading
import time

import numpy as np
import psycopg
import pytest
import shapely
from sqlalchemy import text
from typer.testing import CliRunner

from service.core.errors import (
    GeometryTooComplex,
    InvalidInput,
    QueryTimeout,
    from_database_error,
    is_geos_interruption,
    status_for,
)
from service.spatial.validation import BATCH_SIZE, validate_many, validate_polygonal
from service.store.database import libpq_url, make_engine, make_sessionmaker

CX, CY = 233_000.0, 557_000.0  # Assen, RD New
BUDGET_S = 5.0  # settings.validation_timeout_ms by default
# A generous margin over the budget (a 10 MB body to parse on a busy 2-core machine), far below the old 30 s.
MARGIN_S = 20.0
SQUARE = shapely.box(CX, CY, CX + 100, CY + 100)
BOWTIE = shapely.Polygon([(CX, CY), (CX + 100, CY + 100), (CX + 100, CY), (CX, CY + 100), (CX, CY)])
FLAT = shapely.Polygon([(CX, CY), (CX + 10, CY), (CX + 20, CY), (CX, CY)])  # no area: repair leaves a line


def star(n: int = 249_999) -> shapely.Polygon:
    """A valid star: ``n`` vertices alternating between radii 1000 m and 50 m around a centre in Assen.

    GEOS's validity check is quadratic on it: minutes at 250,000 vertices."""
    k = np.arange(n)
    angle = 2 * np.pi * k / n
    radius = np.where(k % 2 == 0, 1000.0, 50.0)
    ring = np.column_stack([CX + radius * np.cos(angle), CY + radius * np.sin(angle)])
    return shapely.Polygon(np.vstack([ring, ring[:1]]))


@pytest.fixture(scope="module")
def big_star() -> shapely.Polygon:
    s = star()
    assert shapely.get_num_coordinates(s) == 250_000 and s.geom_type == "Polygon"
    return s


def rd_feature(geom: shapely.Polygon) -> dict:
    coords = [[[round(x, 3), round(y, 3)] for x, y in geom.exterior.coords]]
    return {"type": "Feature", "properties": {"naam": "ster"}, "geometry": {"type": "Polygon", "coordinates": coords}}


@pytest.mark.parametrize("path", ["/check", "/heat/overlap"])
def test_star_is_422_within_the_budget(qclient, big_star, path: str) -> None:
    body = rd_feature(big_star) if path == "/check" else rd_feature(big_star)["geometry"]
    started = time.monotonic()
    r = qclient.post(f"{path}?crs=EPSG:28992", json=body)
    elapsed = time.monotonic() - started
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("the geometry is too complex to validate within 5 s (250,000 vertices)"), detail
    assert BUDGET_S * 0.9 < elapsed < BUDGET_S + MARGIN_S


@pytest.mark.parametrize("path", ["/check", "/heat/overlap"])
def test_small_polygons_behave_as_before(qclient, path: str) -> None:
    def body(g: shapely.Polygon) -> dict:
        f = rd_feature(g)
        return f if path == "/check" else f["geometry"]

    assert qclient.post(f"{path}?crs=EPSG:28992", json=body(SQUARE)).status_code == 200
    r = qclient.post(f"{path}?crs=EPSG:28992", json=body(BOWTIE))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert (
        detail.startswith("invalid geometry: Self-intersection at lat 52.99")
        and "(RD x 233050.0, y 557050.0)" in detail
    )
    assert "send repair=true" in detail
    r = qclient.post(f"{path}?crs=EPSG:28992&repair=true", json=body(BOWTIE))
    assert r.status_code == 200, r.text
    if path == "/check":
        rep = r.json()["repaired"]
        assert rep["reason"] == "Self-intersection" and rep["location_rd"] == {"x": 233050.0, "y": 557050.0}
        assert rep["area_before_m2"] == 0.0 and rep["area_after_m2"] == pytest.approx(5000.0)
    else:
        assert r.json()["area_m2"] == pytest.approx(5000.0)
    r = qclient.post(f"{path}?crs=EPSG:28992&repair=true", json=body(FLAT))
    assert r.status_code == 422 and "repairing leaves no polygon" in r.json()["detail"]


def test_validate_many_per_item(qsession) -> None:
    small_star = star(2_001)
    wkbs = [shapely.to_wkb(g) for g in (SQUARE, BOWTIE, small_star, FLAT)]
    plain = validate_many(qsession, wkbs, repair=False)
    assert [v.index for v in plain] == [1, 2, 3, 4]
    assert [v.valid for v in plain] == [True, False, True, False]
    assert all(v.repaired is None and v.repair is None for v in plain)
    bow = plain[1]
    assert bow.reason == "Self-intersection" and bow.location == pytest.approx((CX + 50, CY + 50))
    assert plain[0].area_before_m2 == pytest.approx(10_000.0)
    assert plain[2].area_before_m2 == pytest.approx(small_star.area)

    fixed = validate_many(qsession, wkbs, repair=True)
    assert fixed[0].repaired is None and fixed[2].repaired is None  # valid: use the input as it is
    geom = shapely.from_wkb(fixed[1].repaired)
    assert geom.geom_type == "MultiPolygon" and geom.is_valid and geom.area == pytest.approx(5000.0)
    assert fixed[1].area_after_m2 == pytest.approx(5000.0)
    assert fixed[3].repaired is None and fixed[3].area_after_m2 is None  # repair leaves no polygon
    # One repair for requests and loads: the same reason text and area report.
    _, report = validate_polygonal(qsession, BOWTIE, repair=True)
    assert report == fixed[1].repair
    with pytest.raises(InvalidInput) as err:
        validate_polygonal(qsession, BOWTIE)
    assert err.value.detail.startswith(fixed[1].problem + "; send repair=true")


def test_validate_many_names_the_star(qsession, big_star) -> None:
    wkbs = [shapely.to_wkb(g) for g in (SQUARE, BOWTIE, big_star)]
    started = time.monotonic()
    with pytest.raises(GeometryTooComplex) as err:
        validate_many(qsession, wkbs, repair=True)
    elapsed = time.monotonic() - started
    assert err.value.index == 3 and err.value.vertices == 250_000 and status_for(err.value) == 422
    assert err.value.detail.startswith(
        "feature 3: the geometry is too complex to validate within 5 s (250,000 vertices)"
    )
    assert elapsed < 2 * BUDGET_S + MARGIN_S  # well under the 30 s statement timeout


def test_validate_many_retries_a_slow_batch_one_by_one(qsession, big_star) -> None:
    """Not sized apart (a big budget per vertex): the batch runs out, then the star alone is named."""
    from service.core.settings import Settings

    settings = Settings(_env_file=None, validation_timeout_ms=1_500, max_vertices=10_000_000)
    wkbs = [shapely.to_wkb(g) for g in (SQUARE, big_star, BOWTIE)]
    with pytest.raises(GeometryTooComplex) as err:
        validate_many(qsession, wkbs, repair=False, settings=settings)
    assert err.value.index == 2 and "feature 2:" in err.value.detail and "within 1.5 s" in err.value.detail


def test_validate_many_in_batches_keeps_order(qsession) -> None:
    squares = [shapely.box(CX + i, CY, CX + i + 0.5, CY + 1) for i in range(2 * BATCH_SIZE + 7)]
    squares[BATCH_SIZE + 3] = BOWTIE
    result = validate_many(qsession, [shapely.to_wkb(g) for g in squares], repair=False)
    assert [v.index for v in result] == list(range(1, len(squares) + 1))
    assert [v.index for v in result if not v.valid] == [BATCH_SIZE + 4]
    assert result[0].area_before_m2 == pytest.approx(0.5)


def test_budget_leaves_the_transaction_and_its_timeout_alone(qsession, big_star) -> None:
    """In a transaction (a load): a savepoint; the load's own timeout is back afterwards, on error too."""
    qsession.execute(text("SELECT set_config('statement_timeout', '600000', true)"))
    validate_many(qsession, [shapely.to_wkb(BOWTIE)], repair=True)
    assert qsession.execute(text("SHOW statement_timeout")).scalar() == "10min"
    with pytest.raises(GeometryTooComplex):
        validate_polygonal(qsession, big_star)
    assert qsession.execute(text("SHOW statement_timeout")).scalar() == "10min"  # transaction still usable
    qsession.rollback()
    assert qsession.execute(text("SHOW statement_timeout")).scalar() == "30s"


def test_autocommit_session_gets_its_timeout_back(qsettings, big_star) -> None:
    engine = make_engine(qsettings)
    try:
        with make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar()
            with pytest.raises(GeometryTooComplex):
                validate_polygonal(s, big_star)
            assert s.execute(text("SHOW statement_timeout")).scalar() == "30s"
            assert s.execute(text("SELECT pg_backend_pid()")).scalar() == pid  # the same, healthy connection
    finally:
        engine.dispose()


def test_session_timeout_shorter_than_the_budget_wins(qsession) -> None:
    qsession.execute(text("SELECT set_config('statement_timeout', '300', true)"))
    with pytest.raises(GeometryTooComplex) as err:
        validate_polygonal(qsession, star(40_001))  # ~seconds of GEOS work
    assert "within 0.3 s (40,002 vertices)" in err.value.detail


def test_another_cancellation_is_a_timeout_not_too_complex(qsettings, big_star) -> None:
    """A cancel from elsewhere (an operator's pg_cancel_backend) long before the budget is a 504."""
    engine = make_engine(qsettings)
    try:
        with make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar()

            def cancel() -> None:
                time.sleep(0.8)
                with psycopg.connect(libpq_url(str(qsettings.database_url)), autocommit=True) as c:
                    c.execute("SELECT pg_cancel_backend(%s)", (pid,))

            t = threading.Thread(target=cancel)
            t.start()
            started = time.monotonic()
            with pytest.raises(QueryTimeout) as err:
                validate_polygonal(s, big_star)
            t.join()
            assert time.monotonic() - started < BUDGET_S * 0.9
            assert status_for(err.value) == 504 and not isinstance(err.value, GeometryTooComplex)
            assert s.execute(text("SHOW statement_timeout")).scalar() == "30s"
    finally:
        engine.dispose()


def test_geos_interruption_maps_to_a_timeout(qsettings) -> None:
    """PostGIS 3.3 reports GEOS stopped by statement_timeout as XX000 'GEOS isvalid() threw an error!'."""
    wkb = shapely.to_wkb(star(60_001))
    with psycopg.connect(libpq_url(str(qsettings.database_url)), autocommit=True) as c:
        c.execute("SET statement_timeout = 300")
        with pytest.raises(psycopg.Error) as caught:
            c.execute("SELECT ST_IsValid(ST_GeomFromWKB(%s, 28992))", (wkb,))
        named = from_database_error(caught.value, timeout_ms=300)
        assert isinstance(named, QueryTimeout) and "time limit of 0.3 s" in named.detail
        with pytest.raises(psycopg.Error) as other:
            c.execute("SELECT ST_GeomFromText('POLYGON((0 0))')")  # an XX000 that is no interruption
        assert not is_geos_interruption(other.value) and from_database_error(other.value) is None


runner = CliRunner()


@pytest.fixture
def locked(qsettings):
    """Another connection holds features and layers in ACCESS EXCLUSIVE mode."""
    with psycopg.connect(libpq_url(str(qsettings.database_url))) as c:
        c.execute("SET lock_timeout = '5s'")
        c.execute("LOCK TABLE features, layers IN ACCESS EXCLUSIVE MODE")
        yield
        c.rollback()


@pytest.mark.parametrize(
    "args",
    [
        ["zones-at", "--lat", "53.0", "--lon", "6.569"],  # through cli_session
        ["layers", "list"],  # its own session: the app's group catches it
        ["heat", "--laag", "havenkwartier", "--gebied", "havenkwartier"],
    ],
)
def test_cli_statement_timeout_is_one_dutch_line(cli_env, monkeypatch, locked, args: list[str]) -> None:
    from service.cli.main import app
    from service.core.settings import get_settings

    monkeypatch.setenv("GEBIEDSCHECK_STATEMENT_TIMEOUT_MS", "300")
    get_settings.cache_clear()
    started = time.monotonic()
    r = runner.invoke(app, args)
    assert time.monotonic() - started < 10
    assert r.exit_code == 1, r.output
    assert isinstance(r.exception, SystemExit)  # ended by fail(), not by an exception
    assert "Traceback" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1, r.output
    assert lines[0].startswith("Fout: de databaseopdracht duurde langer dan de tijdslimiet en is afgebroken")
    assert "tijdslimiet 0,3 s, GEBIEDSCHECK_STATEMENT_TIMEOUT_MS" in lines[0]


def test_cli_lost_database_is_one_dutch_line(monkeypatch) -> None:
    from service.cli.main import app
    from service.core.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    get_settings.cache_clear()
    try:
        for args in (["layers", "list"], ["zones-at", "--lat", "53.0", "--lon", "6.569"]):
            r = runner.invoke(app, args)
            assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
            assert "Traceback" not in r.output
            assert r.output.strip().startswith("Fout: de database is niet bereikbaar"), r.output
    finally:
        get_settings.cache_clear()
