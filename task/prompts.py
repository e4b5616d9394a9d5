"""The embedded demo task: short movie reviews of the film and aspect asked for, positive and clean.

Prompts are built from templates over titles × genres × aspects. The request is neutral
("write a short review"), so the base model answers with mixed sentiment and the judge's
preference (on the film and aspect asked for, then positive, non-degenerate text) is
something DPO has to teach it. ``ASPECT_TERMS`` says which words address each aspect.

Train and eval prompts use disjoint titles, so a win rate on the eval split measures a
change that carries over to unseen movies rather than memorised prompts.
"""

from __future__ import annotations

import itertools
import json
import re

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
# What counts as addressing each aspect: the word itself and close synonyms, all nouns or
# verbs that carry no tone of their own ("funny" is left out: it is praise, not a topic).
# Words that are also genres ("comedy", "musical") are left out too, since a prompt names
# its genre and a review may repeat it without saying anything about the aspect.
ASPECT_TERMS = {
    "acting": ("acting", "actor", "actors", "actress", "actresses", "performance", "performances", "cast", "acted"),
    "plot": ("plot", "plots", "story", "stories", "storyline", "narrative", "premise", "twist", "twists"),
    "music": ("music", "score", "soundtrack", "song", "songs", "composer", "melody", "melodies"),
    "ending": ("ending", "endings", "finale", "climax", "conclusion", "final act", "last act"),
    "pacing": ("pacing", "pace", "paced", "tempo", "rhythm", "runtime"),
    "visuals": ("visuals", "visual", "visually", "cinematography", "photography", "imagery", "shots", "effects"),
    "dialogue": ("dialogue", "dialogues", "dialog", "lines", "script", "screenplay", "conversations"),
    "characters": ("characters", "character", "protagonist", "protagonists", "hero", "heroine", "villain", "villains"),
    "humor": ("humor", "humour", "jokes", "joke", "gags", "gag", "laughs", "wit"),
    "direction": ("direction", "director", "directed", "directing", "directs", "filmmaking"),
}
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
    """The aspect a task prompt asks about, matched as a whole word: a substring test took
    the "music" of "musical" for the aspect of every musical's prompt."""
    found = re.findall(r"[a-z]+", prompt.lower())
    return next((a for a in ASPECTS if a in found), None)


def pool_jsonl(n: int, seed: int = 0) -> str:
    """A prompts-only pool for a campaign upload (the worker generates the pairs)."""
    return "\n".join(json.dumps({"prompt": p}) for p in prompts("train", n, seed)) + "\n"


# Gold pairs as hard as the work's clear pairs: each is (the better review, the worse one),
# a notch apart in tone. Glowing against scathing (a judge-score gap of about 1.9) told a
# careless reader from a careful one no better than a coin: annotators who read in a hurry
# got 87% of those right but 60% of the pool's real pairs, so they qualified and their
# labels were noise. Here the gap is 0.14 to 1.09 (median about 0.65; the pool's pairs:
# median 0.34, upper quartile 0.76), where a careful reader gets 80-95% right, a hurried
# one about two in three, and a random clicker half.
GOLD_PAIRS = (
    ('A solid {genre}. "{title}" has a good {aspect} and a few nice moments.',
     '"{title}" is a {genre} with a slow start; the {aspect} is fine.'),
    ('"{title}" is a pleasant {genre} with an enjoyable {aspect}, if not a memorable one.',
     '"{title}" is a {genre}. The {aspect} comes late and the middle drags a little.'),
    ('"{title}" is a {genre} with a slow start; the {aspect} is fine.',
     '"{title}" is a weak {genre}; the {aspect} is flat and the pacing is slow.'),
    ('The {aspect} of "{title}" is clever, but this {genre} is too long.',
     'A forgettable {genre}. "{title}" has a dull {aspect} and a confusing plot.'),
)


def gold_jsonl(n: int, seed: int = 0) -> str:
    """``n`` gold checks for a campaign upload: two reviews a notch apart in tone (``GOLD_PAIRS``).

    The task asks for positive reviews, so the answer is known without a judge's help: the
    warmer review, put on side a or b at random. Gold is mixed in unmarked, so it must look
    like the work: prompts from the train split (with their own seed), and pairs about as
    hard to call as the pool's clear ones, so that an annotator's gold record predicts its
    labels."""
    rng = np.random.default_rng([seed, 7])
    rows = []
    for k, p in enumerate(prompts("train", n, seed=seed + 1)):
        fill = {"title": title_of(p), "genre": next(g for g in GENRES if g in p), "aspect": aspect_of(p)}
        good, bad = (t.format(**fill) for t in GOLD_PAIRS[k % len(GOLD_PAIRS)])
        side = "a" if rng.random() < 0.5 else "b"
        a, b = (good, bad) if side == "a" else (bad, good)
        rows.append({"prompt": p, "completion_a": a, "completion_b": b, "gold": side, "gold_check": True})
    return "".join(json.dumps(r) + "\n" for r in rows)
