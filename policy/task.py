"""The embedded demo task: short movie reviews, judged by how positive and how clean they read.

Prompts are built from templates over titles × genres × aspects. The request is neutral
("write a short review"), so the base model answers with mixed sentiment and the judge's
preference (positive, non-degenerate text) is something DPO has to teach it.

Train and eval prompts use disjoint titles, so a win rate on the eval split measures a
change that carries over to unseen movies rather than memorised prompts.
"""

from __future__ import annotations

import itertools
import json

import numpy as np

TITLES = (
    "The Glass Harbor", "Midnight in Vellora", "Paper Comets", "The Last Lighthouse", "Iron Orchard",
    "A Song for Marrow", "Crimson Tide Pools", "The Quiet Engine", "Ashes of August", "Northbound",
    "The Clockmaker's Daughter", "Salt and Silver", "Hollow Peaks", "Summer of Static", "The Velvet Alibi",
    "Lanterns Over Kyoto", "Beneath the Dunes", "The Ninth Passenger", "Wild Geese Rising", "Copper Sky",
    "The Understudy", "Frost Line", "Neon Monsoon", "The Orchard Keeper", "Small Hours",
    "Echoes of Ember", "The River Knows", "Blue Meridian", "Saints of Tuesday", "The Map Room",
    "Golden Hour Heist", "Stray Lights", "The Winter Garden", "Harbor of Ghosts", "Tin Crown",
    "The Long Rehearsal", "Pale Fire Road", "Sundown Choir", "The Borrowed Sky", "Kite Season",
)
GENRES = (
    "drama", "comedy", "thriller", "horror film", "romance", "western", "musical", "documentary",
    "animated film", "science fiction film",
)
ASPECTS = (
    "acting", "plot", "music", "ending", "pacing", "visuals", "dialogue", "characters", "humor", "direction",
)
TEMPLATES = (
    'Write a short review of the {genre} "{title}", focusing on its {aspect}.',
    'In two or three sentences, review the {genre} "{title}". Mention the {aspect}.',
    'Give your opinion of "{title}", a {genre}, especially its {aspect}.',
)
EVAL_TITLES = frozenset(TITLES[::5])  # every fifth title is held out for evaluation
SPLITS = ("train", "eval")


def prompts(split: str = "train", n: int | None = None, seed: int = 0) -> list[str]:
    """Distinct prompts of ``split``, shuffled by ``seed``; all of them when ``n`` is None."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    titles = [t for t in TITLES if (t in EVAL_TITLES) == (split == "eval")]
    combos = list(itertools.product(titles, GENRES, ASPECTS, TEMPLATES))
    if n is not None and n > len(combos):
        raise ValueError(f"the {split} split has {len(combos)} prompts, {n} were asked for")
    order = np.random.default_rng(seed).permutation(len(combos))[:n]
    return [combos[i][3].format(title=combos[i][0], genre=combos[i][1], aspect=combos[i][2]) for i in order]


def title_of(prompt: str) -> str | None:
    """The quoted movie title in a task prompt, if any (used by the facet scores)."""
    start = prompt.find('"')
    end = prompt.find('"', start + 1)
    return prompt[start + 1 : end] if 0 <= start < end else None


def aspect_of(prompt: str) -> str | None:
    lowered = prompt.lower()
    return next((a for a in ASPECTS if a in lowered), None)


def pool_jsonl(n: int, seed: int = 0) -> str:
    """A prompts-only pool for a campaign upload (the worker generates the pairs)."""
    return "\n".join(json.dumps({"prompt": p}) for p in prompts("train", n, seed)) + "\n"


GOLD_PRAISE = (
    'I loved "{title}". The {aspect} is wonderful, warm and brilliantly done; a delightful {genre} I would happily see again.',
    '"{title}" is a joy: superb {aspect}, a beautiful, moving {genre}, and the best evening I have had in a cinema all year.',
)
GOLD_PANS = (
    'I hated "{title}". The {aspect} is awful, dull and badly done; a miserable {genre} I regret having seen.',
    '"{title}" is a disaster: terrible {aspect}, an ugly, boring {genre}, and the worst evening I have had in a cinema all year.',
)


def gold_jsonl(n: int, seed: int = 0) -> str:
    """``n`` gold checks for a campaign upload: a glowing review against a scathing one.

    The task asks for positive reviews, so the answer is known without a judge's help: the
    praise, put on side a or b at random. Prompts come from the train split (gold is mixed
    in unmarked, so it must look like the work), with their own seed."""
    rng = np.random.default_rng([seed, 7])
    rows = []
    for k, p in enumerate(prompts("train", n, seed=seed + 1)):
        fill = {"title": title_of(p), "genre": next(g for g in GENRES if g in p), "aspect": aspect_of(p)}
        good, bad = GOLD_PRAISE[k % 2].format(**fill), GOLD_PANS[k % 2].format(**fill)
        side = "a" if rng.random() < 0.5 else "b"
        a, b = (good, bad) if side == "a" else (bad, good)
        rows.append({"prompt": p, "completion_a": a, "completion_b": b, "gold": side, "gold_check": True})
    return "".join(json.dumps(r) + "\n" for r in rows)
