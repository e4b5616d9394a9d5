"""Files that hold API tokens: written whole (a reader sees the old file or the new one) and
readable by their owner only (mode 0600), since a token is as good as a password."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600 from the first byte (never world-readable in between)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # O_CREAT's mode only applies to a new file; a leftover tmp keeps its own
    os.replace(tmp, path)
