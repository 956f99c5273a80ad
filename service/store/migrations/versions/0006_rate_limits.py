"""Request counters for the per-client rate limit of the heavy public endpoints.

Kept in the database, not in the process, so the limit holds across every worker and instance of the
(stateless) service. UNLOGGED: counters are worth nothing after a crash and cost no WAL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE UNLOGGED TABLE rate_counters (
            client  text NOT NULL,
            bucket  timestamptz NOT NULL,
            hits    integer NOT NULL,
            PRIMARY KEY (client, bucket)
        )
        """
    )
    # The public API's read-only role (docker/initdb) may count, and nothing else.
    op.execute(
        """
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gebiedscheck_lezer') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE ON rate_counters TO gebiedscheck_lezer;
            END IF;
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE rate_counters")
