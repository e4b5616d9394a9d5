"""Alembic migrations of the market's schema (``market.tables``).

Run with ``alembic upgrade head`` (``alembic.ini`` at the repository root; the database is
``DATABASE_URL``), or from Python with ``market.db.migrate(engine)``; ``market.db.init_db``
does it for the app and the CLI. A schema change in ``market/tables.py`` needs a new
revision here: ``alembic revision --autogenerate -m "what changed"`` against a database at
head, then read and trim what it wrote. ``tests/hardening/test_migrations.py`` fails while
the models and the migrations disagree.
"""
