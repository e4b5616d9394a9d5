"""Guidance on the labelling page: the movie-review task's facet judge, facet by facet.

An annotator who sees why a rubric scores one review above another (it names the film, it
addresses the aspect asked for, it reads positive, it repeats itself) labels more
consistently than one guessing what "better" means. The numbers are ``FacetJudge.explain``
(docs/judges.md); the annotator's own reading still decides. Pure shaping: no Streamlit.
"""

from __future__ import annotations

import pandas as pd

from task.judges import FACET_HELP, FacetJudge
from task.prompts import aspect_of, title_of

TOTAL = "total"


def guidance_frame(prompt: str, completion_a: str | None, completion_b: str | None) -> pd.DataFrame | None:
    """One row per facet that counts for either completion, its part of each score
    (signed, two decimals), then the total; ``None`` when there is nothing to guide by.

    Only the built-in movie-review task gets guidance (a quoted film and an aspect in the
    prompt): the facet judge's rubric, positive reviews of the film and aspect asked for, is
    that task's and would mislead on any other data (HH, a requester's own pairs). Nor does
    a portal without the sentiment lexicon (``vaderSentiment``, in ``prefmarket[policy]``),
    which reads tone."""
    if title_of(prompt) is None or aspect_of(prompt) is None:
        return None
    judge = FacetJudge()
    try:
        a, b = judge.explain(prompt, completion_a or ""), judge.explain(prompt, completion_b or "")
    except ImportError:
        return None
    rows = [(FACET_HELP[f], a[f], b[f]) for f in a if a[f] or b[f]]
    rows.append((TOTAL, sum(a.values()), sum(b.values())))
    return pd.DataFrame([(name, _signed(x), _signed(y)) for name, x, y in rows], columns=["facet", "A", "B"])


def _signed(x: float) -> str:
    """``+1.50``, ``-0.25``; nothing that rounds to zero shows as ``-0.00``."""
    return f"{round(x, 2) + 0.0:+.2f}"
