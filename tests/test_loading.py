"""Loading: validation before writing, all-or-nothing, versions never lost, idempotent reloads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from service.core.errors import LayerLoadError, ManifestError
from service.core.settings import Settings
from service.loading.pipeline import load_defaults, read_vector
from service.store.database import drop_database, init_database, make_engine, session_scope
from tests.conftest import DATA, throwaway_url

MANIFEST_HEAD = 'omgevingsvisie = "test"\nomgevingsvisie_in_werking = "2026-02-26"\n'


def layer_entry(slug: str, file: str) -> str:
    return (
        f'[[layer]]\nslug = "{slug}"\ntitle = "{slug}"\nfile = "{file}"\ndescription = "test"\n'
        f'provenance = "indicatief — test"\nlicence = "CC0"\n'
    )


@pytest.fixture
def store(server_url: str, tmp_path: Path):
    """An empty migrated database with its own layers dir and data dir."""
    url = throwaway_url(server_url, prefix="gebiedscheck_test_load")
    init_database(url)
    layers = tmp_path / "layers"
    layers.mkdir()
    settings = Settings(
        _env_file=None, database_url=url, layers_dir=layers, data_dir=tmp_path / "data", loaded_by="pytest"
    )
    engine = make_engine(settings)
    yield settings, engine
    engine.dispose()
    drop_database(url)


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("layers", "layer_versions", "features")
        )


def write_manifest(settings: Settings, *entries: str) -> None:
    (settings.layers_dir / "manifest.toml").write_text(MANIFEST_HEAD + "\n".join(entries), encoding="utf-8")


def load(settings: Settings, engine: Engine):
    with session_scope(engine) as session:
        return load_defaults(session, settings=settings)


def test_load_reload_and_new_version(store) -> None:
    settings, engine = store
    shutil.copy(DATA / "two_squares.gpkg", settings.layers_dir / "vakken.gpkg")
    write_manifest(settings, layer_entry("vakken", "vakken.gpkg"))
    first = load(settings, engine)
    assert [(r.slug, r.status, r.version, r.feature_count) for r in first] == [("vakken", "created", 1, 2)]
    again = load(settings, engine)
    assert again[0].status == "unchanged" and again[0].version == 1
    assert counts(engine) == (1, 1, 2)
    # A changed file becomes version 2; version 1 and its features stay.
    import geopandas as gpd

    one = gpd.read_file(DATA / "two_squares.gpkg").iloc[[1]]
    (settings.layers_dir / "vakken.gpkg").unlink()
    one.to_file(settings.layers_dir / "vakken.gpkg", driver="GPKG")
    second = load(settings, engine)
    assert (second[0].status, second[0].version, second[0].feature_count) == ("created", 2, 1)
    assert counts(engine) == (1, 2, 3)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT number, status FROM layer_versions ORDER BY number")).all()
        assert [tuple(r) for r in rows] == [(1, "superseded"), (2, "current")]
        area = conn.execute(
            text("SELECT sum(ST_Area(f.geom)) FROM features f JOIN layers l ON l.current_version_id = f.version_id")
        ).scalar_one()
        assert area == pytest.approx(10_000.0)


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        ("missing.gpkg", "file not found"),
        ("not_a_layer.gpkg", "the name says GeoPackage, but the content is text"),
        ("bowtie.gpkg", "Self-intersection"),
        ("points.gpkg", "not a polygon"),
        ("no_crs/no_crs.shp", "no coordinate reference system"),
    ],
)
def test_bad_manifest_entry_stops_load_and_changes_nothing(store, file: str, reason: str) -> None:
    import geopandas as gpd

    settings, engine = store
    shutil.copy(DATA / "two_squares.gpkg", settings.layers_dir / "goed.gpkg")
    write_manifest(settings, layer_entry("goed", "goed.gpkg"))
    load(settings, engine)
    before = counts(engine)
    src = DATA / file
    if src.exists():
        target = settings.layers_dir / file
        target.parent.mkdir(parents=True, exist_ok=True)
        for f in src.parent.glob(src.stem + ".*"):
            shutil.copy(f, target.parent / f.name)
    # The good layer changed too: even its valid new version must not be written.
    (settings.layers_dir / "goed.gpkg").unlink()
    gpd.read_file(DATA / "two_squares.gpkg").iloc[[0]].to_file(settings.layers_dir / "goed.gpkg")
    write_manifest(settings, layer_entry("goed", "goed.gpkg"), layer_entry("fout", file))
    with pytest.raises(LayerLoadError) as info:
        load(settings, engine)
    assert Path(file).name in info.value.detail
    assert reason in info.value.detail
    assert counts(engine) == before


def test_bad_raster_entry_changes_nothing(store) -> None:
    settings, engine = store
    shutil.copy(DATA / "two_squares.gpkg", settings.layers_dir / "goed.gpkg")
    shutil.copy(DATA / "not_a_layer.gpkg", settings.layers_dir / "hitte.tif")
    raster = layer_entry("hitte", "hitte.tif") + 'kind = "raster"\n'
    write_manifest(settings, layer_entry("goed", "goed.gpkg"), raster)
    with pytest.raises(LayerLoadError, match=r"hitte\.tif: the name says GeoTIFF, but the content is text"):
        load(settings, engine)
    assert counts(engine) == (0, 0, 0)


def test_partial_failure_rolls_back_earlier_layers(store) -> None:
    """Layer 1 is new and valid, layer 2 invalid: layer 1 must not be stored either."""
    settings, engine = store
    shutil.copy(DATA / "two_squares.gpkg", settings.layers_dir / "goed.gpkg")
    shutil.copy(DATA / "bowtie.gpkg", settings.layers_dir / "fout.gpkg")
    write_manifest(settings, layer_entry("goed", "goed.gpkg"), layer_entry("fout", "fout.gpkg"))
    with pytest.raises(LayerLoadError, match="fout.gpkg"):
        load(settings, engine)
    assert counts(engine) == (0, 0, 0)


def test_manifest_errors(store) -> None:
    settings, engine = store
    with pytest.raises(ManifestError, match="manifest not found"):
        load(settings, engine)
    (settings.layers_dir / "manifest.toml").write_text("this is = = not toml")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load(settings, engine)
    write_manifest(settings, layer_entry("Bad Slug", "x.gpkg"))
    with pytest.raises(ManifestError, match="slug"):
        load(settings, engine)


def test_validation_reports_reason_and_location(session) -> None:
    """Validity is decided by PostGIS (the same check and repair as a request's geometry)."""
    from service.loading.vectorload import validate_prepared

    prepared = read_vector(DATA / "bowtie.gpkg")
    with pytest.raises(LayerLoadError) as info:
        validate_prepared(session, prepared)
    assert "feature 1 (Vlinderdas)" in info.value.detail and "Self-intersection" in info.value.detail
    assert "RD x 233100.0, y 557100.0" in info.value.detail  # where the ring crosses itself
    assert "Vierkant" not in info.value.detail


def test_a_load_has_its_own_statement_timeout(session, settings) -> None:
    """Questions stop after 30 s; a load's statements may take 10 minutes, in its own transaction only."""
    from service.loading.manifest import read_manifest
    from service.loading.pipeline import prepare, write_version

    spec = next(x for x in read_manifest(settings.layers_dir).layers if x.slug == "havenkwartier")
    assert session.execute(text("SHOW statement_timeout")).scalar_one() == "30s"
    result = write_version(
        session,
        layer=spec,
        prepared=prepare(spec, settings.layers_dir),
        created_by="pytest",
        settings=settings,
    )
    assert result.status == "unchanged"
    assert session.execute(text("SHOW statement_timeout")).scalar_one() == "10min"
    session.rollback()
    assert session.execute(text("SHOW statement_timeout")).scalar_one() == "30s"


def test_a_load_of_an_invalid_file_names_the_feature_and_writes_nothing(store) -> None:
    """No dry run, no repair: the rows are copied once and the table's CHECK decides validity. A refused copy is
    rolled back to its savepoint (the load's transaction stays usable) and the features are named as before."""
    from service.loading.versions import load_file

    settings, engine = store
    before = counts(engine)
    with session_scope(engine) as session:
        with pytest.raises(LayerLoadError) as info:
            load_file(session, DATA / "bowtie.gpkg", slug="vlinder", create=True, title="Vlinder", settings=settings)
        assert (
            session.execute(
                text(
                    "SELECT count(*) FROM features f JOIN layer_versions v ON v.id = f.version_id "
                    "JOIN layers l ON l.id = v.layer_id WHERE l.slug = 'vlinder'"
                )
            ).scalar_one()
            == 0
        )
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "10min"  # the load's own, back
        session.rollback()
    assert "1 invalid feature(s): feature 1 (Vlinderdas): invalid geometry: Self-intersection" in info.value.detail
    assert "RD x 233100.0, y 557100.0" in info.value.detail and "--repair applies ST_MakeValid" in info.value.detail
    assert counts(engine) == before


def test_a_load_copies_every_feature_with_its_parts(store) -> None:
    from service.loading.versions import load_file

    settings, engine = store
    with session_scope(engine) as session:
        result = load_file(
            session, DATA / "two_squares.gpkg", slug="vakken", create=True, title="Vakken", settings=settings
        )
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "10min"
    assert result.status == "created" and result.feature_count == 2
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT f.fid, f.name, GeometryType(f.geom), ST_SRID(f.geom), round(ST_Area(f.geom)), "
                "(SELECT count(*) FROM feature_parts p WHERE p.feature_id = f.id) FROM features f "
                "JOIN layer_versions v ON v.id = f.version_id JOIN layers l ON l.id = v.layer_id "
                "WHERE l.slug = 'vakken' ORDER BY f.fid"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("vierkant-a", "Vierkant A", "MULTIPOLYGON", 28992, 10_000, 1),
        ("vierkant-b", "Vierkant B", "MULTIPOLYGON", 28992, 10_000, 1),
    ]


def test_a_3d_export_loads_as_2d(store, tmp_path) -> None:
    """GIS exports often carry heights (PolygonZ): the zone is stored by its RD x/y, its area unchanged."""
    import geopandas as gpd
    import shapely

    from service.loading.versions import load_file

    settings, engine = store
    ring = [(233_000, 557_000, 12.5), (233_100, 557_000, 13.0), (233_100, 557_100, 12.0), (233_000, 557_100, 11.0)]
    path = tmp_path / "hoogte.gpkg"
    gpd.GeoDataFrame(
        {"name": ["Met hoogte", "Twee delen"]},
        geometry=[
            shapely.Polygon(ring),
            shapely.MultiPolygon([shapely.Polygon([(x + 500, y, z) for x, y, z in ring])]),
        ],
        crs="EPSG:28992",
    ).to_file(path)
    with session_scope(engine) as session:
        result = load_file(session, path, slug="hoogte", create=True, title="Hoogte", settings=settings)
    assert result.feature_count == 2
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT f.name, ST_CoordDim(f.geom), ST_Area(f.geom) FROM features f JOIN layer_versions v "
                "ON v.id = f.version_id JOIN layers l ON l.id = v.layer_id WHERE l.slug = 'hoogte' ORDER BY 1"
            )
        ).all()
    assert [tuple(r) for r in rows] == [("Met hoogte", 2, 10_000.0), ("Twee delen", 2, 10_000.0)]
