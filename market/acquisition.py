"""The acquisition methods: one registry, read by the market, the policy worker and the portal.

A campaign names the method its policy worker scores items with. The market checks the
name here (an unknown one is refused, so a typo cannot be scored at random), the worker
dispatches on it (``policy.acquire`` has one scorer per entry), and the portal lists it.

Each method declares the *scale* of its scores, because the market turns scores into the
values the auction sees (``market.items.item_values``):

- ``ordinal``: only the order means something (SHARP's ``coth`` is unbounded, APL returns
  ranks, random is noise), so values come from ranks and one near-tie cannot take the
  whole price;
- ``cardinal``: the score measures what an item is worth (ADPO's gain in the design's
  information), so values are proportional to the scores; only their ratios count.

``needs`` says what the worker computes before scoring: ``margins`` (one policy pass over
both completions plus cached reference log-probs), ``features`` (last-layer pair
features), ``samples`` (completions sampled per prompt, for predictive entropy). Torch-free,
like the rest of the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scale = Literal["ordinal", "cardinal"]
Need = Literal["margins", "features", "samples"]


@dataclass(frozen=True)
class Method:
    name: str
    scale: Scale
    needs: tuple[Need, ...]
    description: str


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("random", "ordinal", (), "uniform random scores, the baseline every method must beat"),
        Method("sharp", "ordinal", ("margins",),
               "SHARP, the least certain implicit-reward margins first (coth of half the margin)"),
        Method("wsharp", "ordinal", ("margins",),
               "W-SHARP, SHARP with Bradley-Terry weights (1/sinh of half the margin); ranks like SHARP"),
        Method("apl", "ordinal", ("margins", "samples"),
               "APL, prompts of high predictive entropy, then the pairs the policy is most certain about"),
        Method("adpo", "cardinal", ("margins", "features"),
               "ADPO, greedy D-optimal design; the score is the information each pair adds to the design"),
        Method("noise_aware", "cardinal", ("margins", "features"),
               "the information a pair's label brings about the reward given its annotator's error (BALD "
               "under a Laplace posterior on last-layer features); scored before anyone is assigned, so at "
               "error 0"),
    )
}

DEFAULT = "random"


def names() -> tuple[str, ...]:
    return tuple(METHODS)


def unknown_message(name: object) -> str:
    """What to tell whoever named a method that is not in the registry (no field prefix)."""
    return f"unknown acquisition method {name!r}; choose one of {', '.join(METHODS)}"


def require(name: str) -> Method:
    """The method called ``name``; ``ValueError`` naming the known ones if there is none."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(unknown_message(name)) from None


def scale(name: str | None) -> Scale:
    """The scale to read a campaign's scores on.

    A name outside the registry (a campaign created before the market checked names) reads
    as ordinal, the reading that is safe for any scores."""
    method = METHODS.get(name) if isinstance(name, str) else None
    return method.scale if method else "ordinal"


def help_text() -> str:
    """One line per method, for the API's field description, the CLI and the portal."""
    return "; ".join(f"{m.name} ({m.scale}): {m.description}" for m in METHODS.values())
