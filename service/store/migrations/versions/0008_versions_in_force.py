"""The versions in force: one definition of "the current (or ``as_of``) version of every layer".

A view over every layer with the version `gc_version` (migration 0005) picks for it — the version current at
the end of the session's ``gebiedscheck.as_of`` day, or the layer's current version — and the provenance
resolved (the version's own statement and label, else the layer's). ``version_id`` is NULL for a layer
without a version (at that day). Questions, the OGC API, the tiles and the maps read versions only here.

``version_id`` is computed from ``layers`` alone, so a query that only needs the layer and the id (a join to
``features`` or ``feature_parts``) never touches ``layer_versions``: PostgreSQL removes the unused left join.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE VIEW gc_versions_in_force AS
        SELECT l.id AS layer_id, l.slug, l.title, l.kind, l.category, l.policy_section, l.policy_summary,
               l.accuracy_m,
               gc_version(l.id, l.current_version_id) AS version_id,
               v.number, v.source_name, v.source_identifier,
               coalesce(v.provenance, l.provenance) AS provenance,
               coalesce(v.indicative, l.indicative) AS indicative
        FROM layers l
        LEFT JOIN layer_versions v ON v.id = gc_version(l.id, l.current_version_id)
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW gc_versions_in_force")
