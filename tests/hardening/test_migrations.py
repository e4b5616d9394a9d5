"""Schema migrations (Alembic, ``market/migrations``) agree with the models (``market.tables``).

The check replays every revision on an empty database of this pass (SQLite, or a Postgres
schema), then asks Alembic's autogenerate to compare the result with SQLModel's metadata:
any difference (a column added to a model without a migration, a changed type, a
missing index) fails with the list of operations a new revision needs.
"""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect
from sqlmodel import SQLModel

from market import db


def _diff(engine, metadata=SQLModel.metadata) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)


def _version(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_the_migrations_build_exactly_the_models_schema(database_url):
    engine = db.make_engine(database_url)
    try:
        db.migrate(engine)  # every revision, in order, on an empty database
        assert _version(engine) == db.head_revision()
        diff = _diff(engine)
        assert diff == [], (
            "market/tables.py and market/migrations disagree; add a revision "
            f"(alembic revision --autogenerate -m '...') for: {diff}")
    finally:
        engine.dispose()


def test_a_column_added_without_a_migration_is_caught(database_url):
    engine = db.make_engine(database_url)
    try:
        db.migrate(engine)
        drifted = MetaData()
        for table in SQLModel.metadata.sorted_tables:
            table.to_metadata(drifted)
        drifted.tables["bid"].append_column(Column("surprise", Integer, nullable=True))
        diff = _diff(engine, drifted)
        assert [(op[0], op[3].name) for op in diff if op[0] == "add_column"] == [("add_column", "surprise")]
    finally:
        engine.dispose()


def test_init_db_stamps_a_new_database_at_head_and_is_idempotent(database_url):
    engine = db.make_engine(database_url)
    try:
        db.init_db(engine)  # fast path: create_all + stamp
        assert _version(engine) == db.head_revision()
        assert _diff(engine) == []
        db.init_db(engine)  # at head: nothing to do
        assert _version(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(database_url):
    engine = db.make_engine(database_url)
    try:
        db.migrate(engine)
        with engine.begin() as conn:
            cfg = db.alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        with engine.connect() as conn:
            left = set(inspect(conn).get_table_names()) & set(SQLModel.metadata.tables)
        assert left == set()
        db.init_db(engine)  # an empty database again: back at head
        assert _version(engine) == db.head_revision() and _diff(engine) == []
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_is_stamped_and_kept(database_url):
    engine = db.make_engine(database_url)
    try:
        db.migrate(engine, db.FIRST_REVISION)  # the schema init_db's create_all made before migrations ...
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")  # ... which kept no version
        db.init_db(engine)
        assert _version(engine) == db.head_revision()
        assert _diff(engine) == []  # stamped at the first revision, then upgraded to the models' schema
    finally:
        engine.dispose()
