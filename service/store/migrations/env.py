"""Alembic environment: runs the migrations against the URL set by service.store.database.migrate.

``target_metadata`` is the models' (service.store.models), so ``alembic check`` / autogenerate compare the migrated
schema with them, with the options and the filter of ``service.store.models.COMPARE_OPTIONS`` (PostGIS's own
tables are skipped; triggers, functions and views are not compared by autogenerate at all).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from service.store.models import COMPARE_OPTIONS, Base

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            transaction_per_migration=True,
            **COMPARE_OPTIONS,
        )
        with context.begin_transaction():
            # Two `db init` at once must not both run the migrations.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('gebiedscheck:migrate'))")
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `gebiedscheck db init`")
run_migrations_online()
