"""Refused authentications counted in one audit row per client and minute, not one row each.

``client`` and ``bucket`` (the start of the clock minute) are set on those rows only; ``attempts`` counts
the refusals the row stands for (1 for every other row). The unique index makes the count one upsert, and
is what the throttle (more than ``auth_failures_per_minute`` a minute: 429) reads. No new grants: refusals
are written with the owner's role, as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE audit_log
            ADD COLUMN client   text,
            ADD COLUMN bucket   timestamptz,
            ADD COLUMN attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1)
        """
    )
    op.execute("CREATE UNIQUE INDEX audit_log_refusals_idx ON audit_log (client, bucket) WHERE bucket IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX audit_log_refusals_idx")
    op.execute("ALTER TABLE audit_log DROP COLUMN attempts, DROP COLUMN bucket, DROP COLUMN client")
