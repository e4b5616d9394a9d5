"""Validation of a clearing's inputs: one place that names the field at fault."""

from __future__ import annotations

import numpy as np


class MechanismError(ValueError):
    """Bad input to a mechanism; ``field`` names the argument so the API can say which."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def as_vector(name: str, x, *, allow_empty: bool = True) -> np.ndarray:
    """A finite, non-negative 1-D float array, or a MechanismError naming ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MechanismError(name, f"must be an array of numbers ({exc})") from None
    if arr.ndim != 1:
        raise MechanismError(name, f"must be one-dimensional, got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise MechanismError(name, "must not be empty")
    if not np.all(np.isfinite(arr)):
        raise MechanismError(name, "must be finite (no NaN or infinity)")
    if np.any(arr < 0):
        raise MechanismError(name, "must be non-negative")
    return arr


def as_scalar(name: str, x, *, positive: bool = False) -> float:
    """A finite, non-negative (or positive) number, or a MechanismError naming ``name``."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise MechanismError(name, f"must be a number, got {x!r}") from None
    if not np.isfinite(value):
        raise MechanismError(name, "must be finite (no NaN or infinity)")
    if value < 0 or (positive and value == 0):
        raise MechanismError(name, "must be positive" if positive else "must be non-negative")
    return value


def as_quality(quality, n: int) -> np.ndarray:
    """Per-unit quality in (0, 1]; ones when not given."""
    if quality is None:
        return np.ones(n)
    q = as_vector("quality", quality)
    if q.size != n:
        raise MechanismError("quality", f"needs one entry per ask ({n}), got {q.size}")
    if np.any(q <= 0) or np.any(q > 1):
        raise MechanismError("quality", "every entry must lie in (0, 1]")
    return q
