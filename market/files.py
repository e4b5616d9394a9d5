"""Files written whole: a reader, or a process killed mid-write, sees the old file or the
new one, never half of one (the new one is written beside it, then put in its place by
one ``os.replace``). Every cache, result and state file of the product is written this
way, so that each resumable step can trust a file it finds; files that hold API tokens are
also readable by their owner only (mode 0600), since a token is as good as a password."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` (ending in ``suffix``, for writers such as
    ``np.savez`` that add their own) to write; on a clean exit it replaces ``path``, on an
    error it is removed. Makes ``path``'s folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), whole."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600 from the first byte (never world-readable in between)."""
    with replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)  # O_CREAT's mode only applies to a new file; a leftover tmp keeps its own
