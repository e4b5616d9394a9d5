"""Alembic environment: the market's metadata, on the connection the caller passes in
(``market.db.migrate``) or on ``DATABASE_URL`` (the ``alembic`` command line)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from market import db, tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or db.default_url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, compare_type=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # market.db.migrate: the caller owns the transaction
        _configure(connection)
        context.run_migrations()
        return
    engine = db.make_engine(config.get_main_option("sqlalchemy.url") or None)
    try:
        with engine.begin() as conn:
            _configure(conn)
            context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
