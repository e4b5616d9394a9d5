"""Money as people read it: the one formatter for every amount the market shows.

The market keeps money in integer cents (the ledger, the API, the exports), so cents are
what this takes, always; a figure that is naturally fractional (an average price per
label, cents per point of a metric) is still in cents, as a float. Rounding to the
displayed cent is half-up on the decimal value, so the same figure reads the same in the
CLI, the portal and the demo report.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

_CENT = Decimal("0.01")


def usd(cents: int | float | None, *, none: str = "-") -> str:
    """``123`` → ``"$1.23"``, ``-5`` → ``"-$0.05"``, ``123456789`` → ``"$1,234,567.89"``.

    ``None`` (and a non-finite float: nothing measured yet) reads as ``none``, which
    callers set to what their medium shows for a missing figure (the portal's "—")."""
    if cents is None or not math.isfinite(cents):
        return none
    amount = (Decimal(str(cents)) / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"
