"""Layer store: layers, layer versions, features.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        """
        CREATE TABLE layers (
            id              serial PRIMARY KEY,
            slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
            title           text NOT NULL,
            kind            text NOT NULL CHECK (kind IN ('vector', 'raster')),
            category        text NOT NULL DEFAULT 'omgevingsvisie'
                            CHECK (category IN ('omgevingsvisie', 'natura2000', 'klimaat', 'referentie')),
            description     text,
            policy_section  text,
            policy_summary  text,
            provenance      text NOT NULL,
            indicative      boolean NOT NULL DEFAULT true,
            gio             text,
            licence         text,
            accuracy_m      double precision CHECK (accuracy_m IS NULL OR accuracy_m >= 0),
            accuracy_note   text,
            properties      jsonb NOT NULL DEFAULT '{}'::jsonb,
            current_version_id integer,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE layer_versions (
            id                serial PRIMARY KEY,
            layer_id          integer NOT NULL REFERENCES layers(id) ON DELETE RESTRICT,
            number            integer NOT NULL CHECK (number >= 1),
            created_at        timestamptz NOT NULL DEFAULT now(),
            created_by        text NOT NULL,
            source_name       text NOT NULL,
            source_sha256     char(64) NOT NULL CHECK (source_sha256 ~ '^[0-9a-f]{64}$'),
            source_identifier text,
            feature_count     integer NOT NULL DEFAULT 0 CHECK (feature_count >= 0),
            total_area_m2     double precision,
            status            text NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'superseded')),
            note              text,
            raster_path       text,
            metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
            UNIQUE (layer_id, number)
        )
        """
    )
    op.execute(
        """
        ALTER TABLE layers ADD CONSTRAINT layers_current_version_fk
            FOREIGN KEY (current_version_id) REFERENCES layer_versions(id) DEFERRABLE INITIALLY DEFERRED
        """
    )
    op.execute(
        """
        CREATE TABLE features (
            id          bigserial PRIMARY KEY,
            version_id  integer NOT NULL REFERENCES layer_versions(id) ON DELETE RESTRICT,
            fid         text NOT NULL,
            name        text NOT NULL,
            properties  jsonb NOT NULL DEFAULT '{}'::jsonb,
            geom        geometry(MultiPolygon, 28992) NOT NULL
                        CHECK (NOT ST_IsEmpty(geom) AND ST_IsValid(geom)),
            UNIQUE (version_id, fid)
        )
        """
    )
    op.execute("CREATE INDEX features_geom_gist ON features USING gist (geom)")
    op.execute("CREATE INDEX features_version_idx ON features (version_id)")
    op.execute("CREATE INDEX layer_versions_layer_idx ON layer_versions (layer_id, number DESC)")
    # Versions are history: never deleted, never rewritten except for their status.
    op.execute(
        """
        CREATE FUNCTION forbid_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'rows of % are history and cannot be deleted', TG_TABLE_NAME;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER layer_versions_no_delete BEFORE DELETE ON layer_versions "
        "FOR EACH ROW EXECUTE FUNCTION forbid_delete()"
    )
    op.execute(
        "CREATE TRIGGER features_no_delete BEFORE DELETE ON features FOR EACH ROW EXECUTE FUNCTION forbid_delete()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE features")
    op.execute("ALTER TABLE layers DROP CONSTRAINT layers_current_version_fk")
    op.execute("DROP TABLE layer_versions")
    op.execute("DROP TABLE layers")
    op.execute("DROP FUNCTION forbid_delete()")
