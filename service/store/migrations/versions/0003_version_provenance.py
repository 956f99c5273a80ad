"""Provenance per layer version: an official load replaces indicative geometry, and a rollback brings the
older version's provenance back with it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE layer_versions ADD COLUMN provenance text, ADD COLUMN indicative boolean")
    op.execute(
        "UPDATE layer_versions v SET provenance = l.provenance, indicative = l.indicative FROM layers l "
        "WHERE l.id = v.layer_id"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE layer_versions DROP COLUMN provenance, DROP COLUMN indicative")
