"""Alembic environment: runs the migrations against the URL set by service.database.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            # Two `db init` at once must not both run the migrations.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('gebiedscheck:migrate'))")
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `gebiedscheck db init`")
run_migrations_online()
