"""Subdivided feature parts (fast distance and overlay) and heat hotspot polygons.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Parts have at most this many vertices (ST_Subdivide); small parts keep GiST boxes tight.
MAX_PART_VERTICES = 256


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE feature_parts (
            id          bigserial PRIMARY KEY,
            feature_id  bigint NOT NULL REFERENCES features(id) ON DELETE RESTRICT,
            version_id  integer NOT NULL REFERENCES layer_versions(id) ON DELETE RESTRICT,
            geom        geometry(Polygon, 28992) NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX feature_parts_geom_gist ON feature_parts USING gist (geom)")
    op.execute("CREATE INDEX feature_parts_version_idx ON feature_parts (version_id)")
    op.execute(
        f"""
        INSERT INTO feature_parts (feature_id, version_id, geom)
        SELECT f.id, f.version_id, (ST_Dump(ST_Subdivide(f.geom, {MAX_PART_VERTICES}))).geom
        FROM features f
        """
    )
    op.execute(
        """
        CREATE TABLE heat_hotspots (
            id           bigserial PRIMARY KEY,
            version_id   integer NOT NULL REFERENCES layer_versions(id) ON DELETE RESTRICT,
            threshold_c  double precision NOT NULL,
            geom         geometry(Polygon, 28992) NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX heat_hotspots_geom_gist ON heat_hotspots USING gist (geom)")
    op.execute("CREATE INDEX heat_hotspots_version_idx ON heat_hotspots (version_id, threshold_c)")
    for table in ("feature_parts", "heat_hotspots"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION forbid_delete()"
        )


def downgrade() -> None:
    op.execute("DROP TABLE heat_hotspots")
    op.execute("DROP TABLE feature_parts")
