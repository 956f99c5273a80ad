"""The ORM models match the schema the migrations create, and read the loaded layers."""

from __future__ import annotations

from geoalchemy2.shape import to_shape
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from service.models import Base, Feature, Layer


def test_models_match_migrated_schema(engine, loaded) -> None:
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        db_cols = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(db_cols) == {c.name for c in table.columns}, table.name
        for col in table.columns:
            assert db_cols[col.name]["nullable"] == col.nullable, f"{table.name}.{col.name}"
    geom = next(c for c in insp.get_columns("features") if c["name"] == "geom")
    assert geom["type"].geometry_type == "MULTIPOLYGON" and geom["type"].srid == 28992


def test_orm_reads_current_features(session: Session) -> None:
    layer = session.scalars(select(Layer).where(Layer.slug == "havenkwartier")).one()
    assert layer.current_version is not None and layer.current_version.number == 1
    feature = session.scalars(select(Feature).where(Feature.version_id == layer.current_version_id)).one()
    shape = to_shape(feature.geom)
    assert shape.geom_type == "MultiPolygon"
    assert 30 < shape.area / 10_000 < 55  # about 40 ha
