"""Database engine and sessions.

The URL comes from ``DATABASE_URL``; without it the market uses a SQLite file under
``./data`` in WAL mode (readers never block the writer). Nothing here or elsewhere uses
SQLite-only SQL: the same code runs on Postgres behind several uvicorn workers.

Concurrency model for money (why it is safe):
- Postgres: the domain code locks the rows it is about to change with
  ``SELECT ... FOR UPDATE`` (SQLAlchemy ``with_for_update()``): the campaign row for
  anything that moves its money, the round row for lifecycle changes, the assignment row
  for a label. Unique constraints (one label per assignment, one ledger posting per key)
  back the checks up.
- SQLite ignores ``FOR UPDATE``; instead every transaction starts with
  ``BEGIN IMMEDIATE``, which takes SQLite's single write lock up front, after a writer
  lock of our own (:class:`WriterLock`) that makes threads and processes queue rather
  than poll. Two requests can therefore never interleave their read-check-write
  sequences (no double payment, no overspend), across threads and across processes
  alike; waiting is bounded by the busy timeout. Reads queue behind writes too, which
  costs little at this scale.

Why our own lock in front of SQLite's: SQLite's busy handler sleeps and polls (up to
100 ms between tries), while a process that just committed hands the lock to its next
thread at once. With several uvicorn workers on one file, one worker could therefore
keep the write lock for many seconds while another's requests time out. The writer
lock is a turnstile over two lock files beside the database: a writer first takes the
*queue* file, then the *write* file, then lets go of the queue. Whoever holds the queue
is next in line for the write lock, and nobody can get past it, so processes take turns.
"""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from market import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

DEFAULT_DATA_DIR = Path("data")
BUSY_TIMEOUT_S = 30.0
READ_ONLY = "prefmarket_read_only"  # execution option of read_connection's connections


def default_url() -> str:
    """``DATABASE_URL`` if set, else a SQLite file under ./data (created on demand)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    DEFAULT_DATA_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DATA_DIR / 'prefmarket.db'}"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` (default: :func:`default_url`).

    SQLite gets WAL, a busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` transactions
    (see the module docstring); other databases get pre-ping pooling."""
    url = url or default_url()
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S, "factory": _LockingConnection},
            pool_size=64,
            max_overflow=64,
        )
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=20, max_overflow=20)
    return engine


def _sqlite_file(engine: Engine) -> str | None:
    db = engine.url.database
    return None if not db or db == ":memory:" or db.startswith("file:") else str(Path(db).resolve())


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised through every test
        # Let SQLAlchemy (not the sqlite3 module) decide when transactions begin.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    # One writer at a time: threads of this process queue on a lock (woken at once, in
    # turn) instead of spinning in SQLite's busy handler, whose back-off sleeps would put
    # hundreds of milliseconds on the tail latency, and processes take turns through the
    # lock files (see WriterLock). BEGIN IMMEDIATE still guards against any writer that
    # does not take part. The lock is taken when a transaction begins and given back right
    # after the connection's COMMIT or ROLLBACK (see _LockingConnection); its thread part
    # is a plain Lock because FastAPI may end a request's transaction on another thread.
    lock = WriterLock(_sqlite_file(engine))

    @event.listens_for(engine, "connect")
    def _attach_lock(dbapi_connection, _record):  # pragma: no cover
        dbapi_connection.pm_lock = lock

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised through every test
        if conn.get_execution_options().get(READ_ONLY):
            return  # no BEGIN: each statement reads on its own, taking no lock (see read_connection)
        dbapi = conn.connection.dbapi_connection
        dbapi.acquire_write_lock()
        try:
            dbapi.execute("BEGIN IMMEDIATE")  # to the driver directly: SQLAlchemy's statement path costs more
        except BaseException:
            dbapi.release_write_lock()
            raise


class WriterLock:
    """The writer lock of one SQLite database, fair across threads and processes.

    Threads of a process queue on a ``threading.Lock``; the one holding it then goes
    through a turnstile of two ``flock`` files beside the database (``<db>.queue.lock``,
    ``<db>.write.lock``): take the queue, take the write lock, let go of the queue. The
    holder of the queue is always next for the write lock, so a process that has just
    committed cannot barge in ahead of another process that was waiting. Every wait is
    bounded by ``timeout_s``; a process that dies lets go of its locks with its files.
    Without a file (``:memory:``) only the thread lock is used."""

    def __init__(self, db_file: str | None, timeout_s: float = BUSY_TIMEOUT_S):
        self.timeout_s = timeout_s
        self._thread_lock = threading.Lock()
        self._paths = (f"{db_file}.queue.lock", f"{db_file}.write.lock") if db_file else None
        self._fds: tuple[int, int] | None = None
        self._pid = os.getpid()

    def _files(self) -> tuple[int, int] | None:
        if self._paths is None:
            return None
        if self._fds is None or self._pid != os.getpid():  # open lazily, and again in a forked child
            self._fds = tuple(os.open(p, os.O_RDWR | os.O_CREAT, 0o644) for p in self._paths)
            self._pid = os.getpid()
            weakref.finalize(self, _close_fds, self._fds)  # closed with the engine, not leaked
        return self._fds

    @staticmethod
    def _flock(fd: int, deadline: float) -> None:
        pause = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked (waited for another process's writer)")
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        if not self._thread_lock.acquire(timeout=self.timeout_s):
            raise sqlite3.OperationalError("database is locked (waited for the process write lock)")
        try:
            fds = self._files()
            if fds is not None:
                queue, write = fds
                self._flock(queue, deadline)
                try:
                    self._flock(write, deadline)
                finally:
                    fcntl.flock(queue, fcntl.LOCK_UN)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        try:
            if self._fds is not None:
                fcntl.flock(self._fds[1], fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def _close_fds(fds: tuple[int, ...]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class _LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that gives the writer lock back when it commits or rolls back."""

    pm_lock: WriterLock | None = None
    pm_held = False

    def acquire_write_lock(self) -> None:
        if self.pm_lock is None or self.pm_held:
            return
        self.pm_lock.acquire()
        self.pm_held = True

    def release_write_lock(self) -> None:
        if self.pm_held:
            self.pm_held = False
            self.pm_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_write_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_write_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_write_lock()


MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 7_412_001  # Postgres advisory lock key: one process migrates at a time


def alembic_config(url: str | None = None):
    """An Alembic ``Config`` for the market's migrations (``market/migrations``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on ``engine``, in one transaction."""
    from alembic import command

    with engine.begin() as conn:
        _lock_for_migration(conn)
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _lock_for_migration(conn) -> None:
    # SQLite: the transaction already holds the writer lock (BEGIN IMMEDIATE, see above);
    # Postgres: an advisory lock, so several workers starting at once migrate once.
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")


def init_db(engine: Engine) -> None:
    """Bring the schema to the migrations' head (idempotent; safe for several processes).

    - a database at head: nothing to do (one query);
    - an empty database: create the tables from the models and stamp it at head (the same
      schema the migrations build, which tests/hardening/test_migrations.py holds them to,
      and much faster than replaying every revision);
    - a database at an older revision: ``alembic upgrade head``;
    - tables but no version (made by ``create_all`` before migrations existed): stamped at
      the first revision, then upgraded, with a warning.
    """
    from alembic import command
    from sqlalchemy import inspect

    head = head_revision()
    with engine.begin() as conn:
        _lock_for_migration(conn)
        names = set(inspect(conn).get_table_names())
        current = None
        if "alembic_version" in names:
            current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        if current == head:
            return
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        market_tables = set(SQLModel.metadata.tables)
        if current is None and not names & market_tables:
            SQLModel.metadata.create_all(conn)
            command.stamp(cfg, "head")
            return
        if current is None:
            import logging

            logging.getLogger(__name__).warning(
                "database has the market's tables but no migration version: stamping it at %s and upgrading",
                FIRST_REVISION)
            command.stamp(cfg, FIRST_REVISION)
        command.upgrade(cfg, "head")


FIRST_REVISION = "0001"


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for a short read that must not queue behind writers (authentication).

    On SQLite it takes no writer lock and issues no BEGIN, so each statement reads a
    consistent snapshot on its own (WAL readers never wait); it must not write. Elsewhere
    it is an ordinary transaction, rolled back at the end."""
    with open_read_connection(engine) as conn:
        yield conn


def open_read_connection(engine: Engine) -> Connection:
    """A connection like :func:`read_connection`'s, for a caller that keeps it open; on
    SQLite, call ``rollback()`` after each read to end SQLAlchemy's own transaction."""
    conn = engine.connect()
    conn.execution_options(**{READ_ONLY: True})
    return conn


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose objects stay readable after commit; rolled back if not committed."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
