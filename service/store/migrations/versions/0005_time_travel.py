"""Time travel: when each version became current, and a function the questions use to pick versions.

Every change of a layer's current version is recorded (a trigger), so `as_of=YYYY-MM-DD` can answer with
the versions that were current at the end of that day (the session setting `gebiedscheck.as_of`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE version_activations (
            id          bigserial PRIMARY KEY,
            layer_id    integer NOT NULL REFERENCES layers(id),
            version_id  integer NOT NULL REFERENCES layer_versions(id),
            at          timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    op.execute("CREATE INDEX version_activations_idx ON version_activations (layer_id, at DESC)")
    op.execute(
        "INSERT INTO version_activations (layer_id, version_id, at) "
        "SELECT layer_id, id, created_at FROM layer_versions ORDER BY created_at"
    )
    op.execute(
        """
        CREATE FUNCTION record_activation() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.current_version_id IS NOT NULL
               AND NEW.current_version_id IS DISTINCT FROM OLD.current_version_id THEN
                INSERT INTO version_activations (layer_id, version_id) VALUES (NEW.id, NEW.current_version_id);
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER layers_record_activation AFTER UPDATE OF current_version_id ON layers "
        "FOR EACH ROW EXECUTE FUNCTION record_activation()"
    )
    op.execute(
        """
        CREATE FUNCTION gc_version(p_layer integer, p_current integer) RETURNS integer LANGUAGE sql STABLE AS $$
            SELECT CASE WHEN coalesce(current_setting('gebiedscheck.as_of', true), '') = '' THEN p_current
                   ELSE (SELECT a.version_id FROM version_activations a WHERE a.layer_id = p_layer
                         AND a.at < nullif(current_setting('gebiedscheck.as_of', true), '')::date + 1
                         ORDER BY a.at DESC, a.id DESC LIMIT 1) END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION gc_version(integer, integer)")
    op.execute("DROP TRIGGER layers_record_activation ON layers")
    op.execute("DROP FUNCTION record_activation()")
    op.execute("DROP TABLE version_activations")
