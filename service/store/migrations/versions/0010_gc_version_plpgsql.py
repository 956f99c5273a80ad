"""``gc_version`` (migration 0005) in PL/pgSQL, the same rule.

As a SQL function with a subquery PostgreSQL cannot inline it, and runs it as a SQL function call for every layer
row of ``gc_versions_in_force`` in every question: about 0.2 ms of PostgreSQL CPU for the view alone. In
PL/pgSQL the plan is cached in the session and the common case (no ``as_of``) returns without a query:
0.04 ms. Same arguments, same answers (tests/test_store.py, tests/test_timetravel*).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQL_BODY = """
            SELECT CASE WHEN coalesce(current_setting('gebiedscheck.as_of', true), '') = '' THEN p_current
                   ELSE (SELECT a.version_id FROM version_activations a WHERE a.layer_id = p_layer
                         AND a.at < nullif(current_setting('gebiedscheck.as_of', true), '')::date + 1
                         ORDER BY a.at DESC, a.id DESC LIMIT 1) END
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION gc_version(p_layer integer, p_current integer) RETURNS integer
        LANGUAGE plpgsql STABLE AS $$
        DECLARE
            as_of text := nullif(current_setting('gebiedscheck.as_of', true), '');
        BEGIN
            IF as_of IS NULL THEN
                RETURN p_current;
            END IF;
            RETURN (SELECT a.version_id FROM version_activations a WHERE a.layer_id = p_layer
                    AND a.at < as_of::date + 1 ORDER BY a.at DESC, a.id DESC LIMIT 1);
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        "CREATE OR REPLACE FUNCTION gc_version(p_layer integer, p_current integer) RETURNS integer "
        f"LANGUAGE sql STABLE AS $${SQL_BODY}$$"
    )
