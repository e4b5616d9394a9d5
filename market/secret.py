"""The server's secret, and the keyed draws that decide which work is gold.

Every draw and shuffle that decides gold (how many of a winner's units are checks, which
gold items, the order assignments are created in, the probation lottery) is a function
of the round and the annotator, so that it is reproducible and nothing a bidder sends can
steer it. Those ids are public, though: a plain hash of them let a script predict each
winner's gold count exactly. So each draw is an HMAC-SHA256 of its message under a secret
that no route serves: the same reproducibility for the server, no prediction for anyone
else.

The secret is ``PREFMARKET_SECRET`` when set (every server process of one market must
then share it), else a random value written to the one-row ``serversecret`` table at the
server's first start (:func:`ensure`, called by ``create_app``), so several processes on
one database agree without configuration. Changing it changes future draws only: nothing
stored depends on it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import secrets

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from market.tables import ServerSecret

ENV = "PREFMARKET_SECRET"
MIN_CHARS = 16  # a shorter secret could be guessed by trying every value
ROW_ID = 1  # the one row: a fixed key, so two processes starting at once cannot both insert


def _from_env() -> bytes | None:
    value = os.environ.get(ENV)
    if value is None or value == "":
        return None
    if len(value) < MIN_CHARS:
        raise ValueError(f"{ENV}: must be at least {MIN_CHARS} characters (got {len(value)}); "
                         "unset it to let the server make one")
    return value.encode()


def key(session: Session) -> bytes:
    """The secret: ``PREFMARKET_SECRET``, else the stored row, written now if the server
    never started on this database (a session used without ``create_app``, as in tests)."""
    env = _from_env()
    if env is not None:
        return env
    row = session.get(ServerSecret, ROW_ID)
    if row is None:
        row = ServerSecret(id=ROW_ID, value=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return row.value.encode()


def ensure(engine: Engine) -> None:
    """Write the secret's row at the server's first start (a second process starting at the
    same moment loses the insert and reads the winner's row)."""
    if _from_env() is not None:
        return
    try:
        with Session(engine) as session:
            key(session)
            session.commit()
    except IntegrityError:
        pass  # another process wrote it first; that row is the secret


def digest(secret: bytes, purpose: str, *parts: object) -> bytes:
    """HMAC-SHA256 of ``purpose:part:part...`` under ``secret``."""
    message = ":".join([purpose, *map(str, parts)]).encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def uniform(secret: bytes, purpose: str, *parts: object) -> float:
    """A number in [0, 1) fixed by the message and the secret, unpredictable without it."""
    return int.from_bytes(digest(secret, purpose, *parts)[:8], "big") / 2**64


def rng(secret: bytes, purpose: str, *parts: object) -> random.Random:
    """A generator seeded by the keyed digest (for shuffles)."""
    return random.Random(int.from_bytes(digest(secret, purpose, *parts), "big"))
