"""Hypothesis strategies for random auction profiles, shared by the mechanism tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from market.mechanisms import clear


@dataclass
class Profile:
    asks: np.ndarray
    values: np.ndarray
    budget: float
    quality: np.ndarray
    price: float

    def clear(self, rule: str, asks=None):
        return clear(
            rule,
            self.asks if asks is None else asks,
            values=self.values,
            budget=self.budget,
            quality=self.quality,
            price=self.price,
        )


# Asks on a coarse grid so that ties are frequent: tie-breaking must hold up too.
ask = st.integers(1, 40).map(float)


@st.composite
def profiles(draw, max_units: int = 24) -> Profile:
    n = draw(st.integers(1, max_units))
    asks = np.array(draw(st.lists(ask, min_size=n, max_size=n)))
    m = draw(st.integers(1, max_units))
    values = np.array(draw(st.lists(st.integers(1, 50).map(float), min_size=m, max_size=m)))
    budget = float(draw(st.integers(1, 400)))
    quality = np.array(draw(st.lists(st.sampled_from([0.25, 0.5, 0.7, 0.9, 1.0]), min_size=n, max_size=n)))
    price = float(draw(st.integers(1, 40)))
    return Profile(asks, values, budget, quality, price)


def outcome_of(result, i: int) -> tuple[bool, float]:
    """Whether unit ``i`` won and what it was paid."""
    hit = np.flatnonzero(result.winners == i)
    return (True, float(result.payments[hit[0]])) if hit.size else (False, 0.0)


def deviation_grid(profile: Profile, i: int) -> np.ndarray:
    """Asks worth trying for unit i: a fine sweep plus every breakpoint the rules use."""
    others = np.delete(profile.asks, i)
    q = profile.quality[i]
    points = [
        np.linspace(0.0, 60.0, 121),
        others,
        others - 1e-6,
        others + 1e-6,
        others * q / profile.quality.min(),  # other units' effective asks in i's units
        profile.values * q,
        profile.values * q - 1e-6,
        [profile.price, profile.price - 1e-6, profile.price + 1e-6],
    ]
    grid = np.concatenate([np.ravel(p) for p in points])
    return np.unique(grid[grid >= 0])
