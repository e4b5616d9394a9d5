"""Integrity flags: patterns an owner or admin should look at, computed from the records.

A flag is evidence, not a verdict: it names the accounts, the pattern and the numbers
behind it, and the market takes no action on it by itself (the acceptance policy acts on
gold answers only). Three patterns:

* ``identical_bids``: two annotators whose sealed bids (ask and capacity) were the same
  in most rounds they both bid in. Independent people rarely match to the cent round
  after round; one person running several accounts, or a ring agreeing on a price, does.
* ``degenerate_labels``: an annotator who gives one answer (say always "a") far more
  often than everyone else does on the same campaign: a one-sided binomial test against
  the others' rate of that answer.
* ``gold_at_chance`` / ``gold_inverted``: gold accuracy confidently near a coin flip
  (below 0.6 with 90% posterior probability) or confidently wrong (below 0.4): a random
  clicker, or an adversary answering the opposite.

Every function takes plain frames or arrays and returns a list of flag dicts with
``kind``, ``annotator_ids``, ``detail`` and the figures; ``market.quality.report`` feeds
them from the database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom

from market.quality.skill import prob_below

CHANCE_BAR = 0.6
INVERTED_BAR = 0.4
FLAG_CONFIDENCE = 0.9


def identical_bids(bids: pd.DataFrame, *, min_rounds: int = 3, share: float = 0.8) -> list[dict]:
    """Pairs of annotators whose bids matched in ≥ ``share`` of ≥ ``min_rounds`` shared rounds.

    ``bids``: columns ``round_id, annotator_id, ask_cents, capacity`` (one row per bid)."""
    if bids.empty:
        return []
    b = bids[["round_id", "annotator_id", "ask_cents", "capacity"]]
    same = b.merge(b, on=["round_id", "ask_cents", "capacity"], suffixes=("_1", "_2"))
    same = same[same["annotator_id_1"] < same["annotator_id_2"]]
    matched = same.groupby(["annotator_id_1", "annotator_id_2"]).size()
    matched = matched[matched >= min_rounds]
    if matched.empty:
        return []
    rounds_of = b.groupby("annotator_id")["round_id"].agg(set)
    flags = []
    for (i, j), n_same in matched.items():
        shared = len(rounds_of[i] & rounds_of[j])
        if n_same >= share * shared:
            flags.append({
                "kind": "identical_bids",
                "annotator_ids": [int(i), int(j)],
                "detail": f"identical ask and capacity in {n_same} of the {shared} rounds both bid in",
                "rounds_shared": shared,
                "rounds_identical": int(n_same),
            })
    return flags


def degenerate_labels(labels: pd.DataFrame, *, min_labels: int = 10, min_share: float = 0.9,
                      p_value: float = 1e-3) -> list[dict]:
    """Annotators answering one choice at a share ≥ ``min_share`` that the others' rate
    of that choice makes improbable (one-sided binomial ``p < p_value``).

    ``labels``: columns ``annotator_id, choice`` (one row per label)."""
    if labels.empty:
        return []
    counts = pd.crosstab(labels["annotator_id"], labels["choice"])
    total = counts.sum(axis=1)
    flags = []
    for annotator, row in counts.iterrows():
        n = int(total[annotator])
        if n < min_labels:
            continue
        choice = row.idxmax()
        k = int(row[choice])
        if k < min_share * n:
            continue
        others = counts.drop(index=annotator)
        others_n = int(others.to_numpy().sum())
        base = float(others[choice].sum()) / others_n if others_n else 1.0 / max(len(counts.columns), 2)
        base = min(max(base, 0.02), 0.98)
        p = float(binom.sf(k - 1, n, base))
        if p < p_value:
            flags.append({
                "kind": "degenerate_labels",
                "annotator_ids": [int(annotator)],
                "detail": f"answered {choice!r} in {k} of {n} labels; others do so {base:.0%} of the time",
                "choice": str(choice),
                "share": k / n,
                "others_share": base,
                "p_value": p,
            })
    return flags


def gold_patterns(annotator_ids, alpha, beta, answers, *, min_gold: int) -> list[dict]:
    """Annotators whose gold accuracy is confidently at chance, or confidently inverted."""
    alpha, beta, answers = (np.asarray(x, dtype=float) for x in (alpha, beta, answers))
    below_chance = prob_below(alpha, beta, CHANCE_BAR)
    inverted = prob_below(alpha, beta, INVERTED_BAR)
    flags = []
    for i, annotator in enumerate(annotator_ids):
        if answers[i] < min_gold:
            continue
        acc = alpha[i] / (alpha[i] + beta[i])
        if inverted[i] >= FLAG_CONFIDENCE:
            kind, what = "gold_inverted", f"below {INVERTED_BAR}"
        elif below_chance[i] >= FLAG_CONFIDENCE:
            kind, what = "gold_at_chance", f"below {CHANCE_BAR}"
        else:
            continue
        flags.append({
            "kind": kind,
            "annotator_ids": [int(annotator)],
            "detail": f"gold accuracy {acc:.2f} after {int(answers[i])} gold answers; "
                      f"{FLAG_CONFIDENCE:.0%} sure it is {what}",
            "accuracy": float(acc),
            "gold_answers": int(answers[i]),
        })
    return flags
