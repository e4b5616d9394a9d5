"""Integrity flags: patterns an owner or admin should look at, computed from the records.

A flag is evidence, not a verdict: it names the accounts, the pattern and the numbers
behind it. The gold-based flags are acted on by the acceptance policy (gold answers
only); the flags that link two accounts (:data:`LINKS`) are acted on only by a campaign
that asks for it (``exclude_flagged``: a linked annotator takes no part in its rounds).

Links between accounts, the signs of one person holding several (sybils) or of a ring:

* ``similar_bids``: two annotators whose sealed bids were near-identical (asks within
  ``ASK_TOLERANCE`` of each other, at least a cent, capacities within one) in most rounds
  they both bid in, far more often than the other bidders of those rounds were to each
  other. Matching to the cent was the old test, and a one-cent difference evaded it;
  comparing with the round's other pairs keeps a crowd that bids alike (everyone near one
  market price) from being flagged wholesale.
* ``shared_answers``: two annotators who gave the same answer on the pairs they both
  labelled far more often than their own accuracies make likely (two random clickers
  driven by one script agree on everything; two careful readers agree because both are
  right, which their accuracies already predict).
* ``lockstep_timing``: two annotators whose bids arrive within ``TIMING_WINDOW_S`` of each
  other round after round, more often than the round's other pairs do (one script
  placing both).

Each is a one-sided binomial test of the pair's matches against what independent
annotators would show (``p < p_value``), with a floor on the share and the number of
matches. What it cannot see: accounts that bid and answer independently (a careful
person with two accounts is two careful annotators), and rings in a market too thin to
compare with (two bidders in every round).

Of one account alone:

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

ASK_TOLERANCE = 0.05  # asks this close (relative, at least a cent) are near-identical
TIMING_WINDOW_S = 2.0  # bids placed this close together are in step
LINKS = ("similar_bids", "shared_answers", "lockstep_timing")  # flags that tie two accounts together
CHANCE_BAR = 0.6
INVERTED_BAR = 0.4
FLAG_CONFIDENCE = 0.9


def _pairs_test(rows: pd.DataFrame, close, *, min_matches: int, share: float, p_value: float) -> list[tuple]:
    """Pairs of annotators that are ``close`` in a share of their shared rounds that the
    round's other pairs make improbable. ``rows``: ``round_id, annotator_id`` and the
    columns ``close(left, right)`` compares (suffixes ``_1``, ``_2``); returns
    ``(i, j, shared, matched, expected, p)`` for each flagged pair."""
    pairs = rows.merge(rows, on="round_id", suffixes=("_1", "_2"))
    pairs = pairs[pairs["annotator_id_1"] < pairs["annotator_id_2"]].copy()
    if pairs.empty:
        return []
    pairs["close"] = close(pairs).astype(int)
    per_round = pairs.groupby("round_id")["close"].agg(["sum", "size"])
    both = pairs.join(per_round, on="round_id")
    # how often the round's other pairs were this close; a round with no other pair says
    # nothing either way (a coin)
    others = both["size"] - 1
    both["base"] = np.where(others > 0, (both["sum"] - both["close"]) / others.clip(lower=1), 0.5)
    stats = both.groupby(["annotator_id_1", "annotator_id_2"]).agg(
        shared=("close", "size"), matched=("close", "sum"), base=("base", "mean"))
    found = []
    for (i, j), r in stats.iterrows():
        n, k = int(r["shared"]), int(r["matched"])
        if k < min_matches or k < share * n:
            continue
        base = min(max(float(r["base"]), 0.02), 0.98)
        p = float(binom.sf(k - 1, n, base))
        if p < p_value:
            found.append((int(i), int(j), n, k, base, p))
    return found


def similar_bids(bids: pd.DataFrame, *, min_rounds: int = 3, share: float = 0.8, p_value: float = 1e-3,
                 tolerance: float = ASK_TOLERANCE) -> list[dict]:
    """Pairs of annotators whose asks were within ``tolerance`` of each other (at least a
    cent) and capacities within one in ≥ ``share`` of their shared rounds, ≥ ``min_rounds``
    times, beyond what the round's other pairs show (see the module doc).

    ``bids``: columns ``round_id, annotator_id, ask_cents, capacity`` (one row per bid)."""
    if bids.empty:
        return []

    def close(p):
        gap = (p["ask_cents_1"] - p["ask_cents_2"]).abs()
        allowed = np.maximum(1.0, tolerance * np.maximum(p["ask_cents_1"], p["ask_cents_2"]))
        return (gap <= allowed) & ((p["capacity_1"] - p["capacity_2"]).abs() <= 1)

    rows = bids[["round_id", "annotator_id", "ask_cents", "capacity"]]
    return [{
        "kind": "similar_bids",
        "annotator_ids": [i, j],
        "detail": f"asks within {tolerance:.0%} (at least a cent) in {k} of the {n} rounds both bid in; "
                  f"the rounds' other pairs were that close {base:.0%} of the time",
        "rounds_shared": n, "rounds_similar": k, "others_share": base, "p_value": p,
    } for i, j, n, k, base, p in _pairs_test(rows, close, min_matches=min_rounds, share=share, p_value=p_value)]


def lockstep_timing(bids: pd.DataFrame, *, min_rounds: int = 3, share: float = 0.8, p_value: float = 1e-3,
                    window_s: float = TIMING_WINDOW_S) -> list[dict]:
    """Pairs of annotators whose bids were placed within ``window_s`` of each other in
    ≥ ``share`` of their shared rounds, beyond what the round's other pairs show.

    ``bids``: columns ``round_id, annotator_id, placed_at`` (datetimes)."""
    if bids.empty:
        return []
    rows = bids[["round_id", "annotator_id"]].assign(
        t=pd.to_datetime(bids["placed_at"], utc=True).astype("int64") / 1e9)

    def close(p):
        return (p["t_1"] - p["t_2"]).abs() <= window_s

    return [{
        "kind": "lockstep_timing",
        "annotator_ids": [i, j],
        "detail": f"bids placed within {window_s:g} s of each other in {k} of the {n} rounds both bid in; "
                  f"the rounds' other pairs were {base:.0%} of the time",
        "rounds_shared": n, "rounds_lockstep": k, "others_share": base, "p_value": p,
    } for i, j, n, k, base, p in _pairs_test(rows, close, min_matches=min_rounds, share=share, p_value=p_value)]


def shared_answers(labels: pd.DataFrame, *, min_shared: int = 8, share: float = 0.9,
                   p_value: float = 1e-3) -> list[dict]:
    """Pairs of annotators who agreed on ≥ ``share`` of ≥ ``min_shared`` items both labelled,
    where their accuracies predict less: each one's rate ``r`` of agreeing with the item's
    answer (its gold answer, else the majority of its labels) predicts agreement
    ``r_i r_j + (1 − r_i)(1 − r_j)`` for independent annotators.

    ``labels``: columns ``annotator_id, item_id, choice`` and optionally ``gold``."""
    if labels.empty:
        return []
    frame = labels[["annotator_id", "item_id", "choice"]].copy()
    truth = frame.groupby("item_id")["choice"].agg(lambda c: c.mode().iloc[0] if c.mode().size == 1 else None)
    if "gold" in labels:
        known = labels.dropna(subset=["gold"]).groupby("item_id")["gold"].first()
        truth.loc[known.index] = known
    frame["truth"] = frame["item_id"].map(truth)
    judged = frame.dropna(subset=["truth"])
    rate = (judged["choice"] == judged["truth"]).groupby(judged["annotator_id"]).mean()
    pairs = frame.merge(frame, on="item_id", suffixes=("_1", "_2"))
    pairs = pairs[pairs["annotator_id_1"] < pairs["annotator_id_2"]]
    if pairs.empty:
        return []
    stats = (pairs["choice_1"] == pairs["choice_2"]).groupby(
        [pairs["annotator_id_1"], pairs["annotator_id_2"]]).agg(["size", "sum"])
    found = []
    for (i, j), r in stats.iterrows():
        n, k = int(r["size"]), int(r["sum"])
        if n < min_shared or k < share * n:
            continue
        ri, rj = float(rate.get(i, 0.5)), float(rate.get(j, 0.5))
        expected = min(max(ri * rj + (1 - ri) * (1 - rj), 0.02), 0.98)
        p = float(binom.sf(k - 1, n, expected))
        if p < p_value:
            found.append({
                "kind": "shared_answers",
                "annotator_ids": [int(i), int(j)],
                "detail": f"same answer on {k} of the {n} pairs both labelled; their accuracies predict "
                          f"{expected:.0%}",
                "items_shared": n, "items_agreed": k, "expected_share": expected, "p_value": p,
            })
    return found


def linked(found: list[dict]) -> set[int]:
    """Annotators named by a flag that links two accounts (:data:`LINKS`)."""
    return {int(a) for f in found if f["kind"] in LINKS for a in f["annotator_ids"]}


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
