"""Soft labels: for each item, the posterior probability that completion a beats b.

Input is one row per vote (``task`` = item id, ``worker`` = annotator id, ``label`` = "a"
or "b"); ties carry no preference and are left out by the caller, as they are from the
export. Four methods:

========== ===================================================================== =========
method     what it assumes                                                       needs
========== ===================================================================== =========
``skill``  one coin per annotator, its accuracy the gold posterior mean: the     numpy
           log-odds of "a" add ``±logit(acc)`` per vote. Works with one label
           per item (it is then that annotator's accuracy), uses no other votes.
``mv``     majority vote: every vote counts the same (the share of votes)        crowd-kit
``ds``     Dawid–Skene: a confusion matrix per annotator, fitted by EM on all    crowd-kit
           votes, with gold items pinned to their answers
``bt``     noisy Bradley–Terry: a score per completion, and per annotator a      crowd-kit
           reliability and a bias to the left (a), fitted jointly
========== ===================================================================== =========

Which to trust: with one label per item only ``skill`` has anything to go on beyond the
vote itself (DS's EM then mostly confirms each vote); with several, ``ds`` learns who
agrees with whom and ``skill`` what gold says. ``bench/bench_quality.py`` measures each
against the truth. crowd-kit (the ``quality`` extra) is imported inside the functions that
need it, so ``market`` imports without it.

For training, :func:`qa_weight` turns a soft label into VickreyFeedback's QA-DPO weight.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

METHODS = ("skill", "mv", "ds", "bt")
_CLIP = 1e-6  # soft labels stay inside (0, 1), so log-odds stay finite
_ACC_CLIP = (0.01, 0.99)  # no single vote is ever certain


def soft_labels(votes: pd.DataFrame, method: str = "skill", *, accuracy: pd.Series | None = None,
                gold: pd.Series | None = None) -> pd.Series:
    """``P(a ≻ b)`` per task (a Series indexed by task, named ``p_a``).

    ``votes``: columns ``task, worker, label`` with labels "a"/"b". ``accuracy``: each
    worker's posterior mean accuracy (``skill``; missing workers count as the prior's).
    ``gold``: known answers by task (``ds`` pins those tasks to them)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    votes = votes[["task", "worker", "label"]]
    if votes.empty:
        return pd.Series(dtype=float, name="p_a")
    bad = set(votes["label"]) - {"a", "b"}
    if bad:
        raise ValueError(f"votes must be 'a' or 'b' (got {sorted(bad)}); leave ties out")
    p = {"skill": _skill, "mv": _majority, "ds": _dawid_skene, "bt": _noisy_bt}[method](votes, accuracy, gold)
    return p.clip(_CLIP, 1.0 - _CLIP).rename("p_a")


def qa_weight(p_chosen) -> np.ndarray:
    """QA-DPO weight ``0.5 + σ(b_chosen − b_rejected)`` with the soft label's log-odds as
    the quality difference: ``b_chosen − b_rejected = logit P(chosen ≻ rejected)``, so
    ``w = 0.5 + P(chosen ≻ rejected)``, in (0.5, 1.5). A pair the evidence backs fully
    counts 1.5, a coin flip 1.0, and a label the consensus contradicts less than 1."""
    return 0.5 + np.asarray(p_chosen, dtype=float)


def _sign(votes: pd.DataFrame) -> np.ndarray:
    return np.where(votes["label"].to_numpy() == "a", 1.0, -1.0)


def _skill(votes, accuracy, gold) -> pd.Series:
    from market.quality.skill import PRIOR_ALPHA, PRIOR_BETA

    prior = PRIOR_ALPHA / (PRIOR_ALPHA + PRIOR_BETA)
    acc = votes["worker"].map(accuracy) if accuracy is not None else pd.Series(np.nan, index=votes.index)
    acc = acc.fillna(prior).clip(*_ACC_CLIP).to_numpy(dtype=float)
    evidence = pd.Series(_sign(votes) * logit(acc), index=votes.index)
    return pd.Series(expit(evidence.groupby(votes["task"]).sum()))


def _proba_a(probas: pd.DataFrame) -> pd.Series:
    return probas.reindex(columns=["a", "b"], fill_value=0.0)["a"].astype(float)


def _majority(votes, accuracy, gold) -> pd.Series:
    from crowdkit.aggregation import MajorityVote

    return _proba_a(MajorityVote().fit_predict_proba(votes))


def _dawid_skene(votes, accuracy, gold) -> pd.Series:
    from crowdkit.aggregation import DawidSkene

    true_labels = None
    if gold is not None:
        true_labels = gold[gold.index.isin(votes["task"]) & gold.isin(["a", "b"])]
        true_labels = true_labels if not true_labels.empty else None
    return _proba_a(DawidSkene(n_iter=100).fit_predict_proba(votes, true_labels))


def _noisy_bt(votes, accuracy, gold) -> pd.Series:
    from crowdkit.aggregation import NoisyBradleyTerry

    task = votes["task"].astype(str)
    pairs = pd.DataFrame({
        "worker": votes["worker"].to_numpy(),
        "left": (task + ":a").to_numpy(),
        "right": (task + ":b").to_numpy(),
        "label": (task + ":" + votes["label"]).to_numpy(),
    })
    scores = NoisyBradleyTerry(n_iter=100).fit_predict(pairs).clip(_CLIP, 1.0 - _CLIP)
    tasks = votes["task"].drop_duplicates()
    s_a = logit(scores.reindex((tasks.astype(str) + ":a").to_numpy()).to_numpy())
    s_b = logit(scores.reindex((tasks.astype(str) + ":b").to_numpy()).to_numpy())
    return pd.Series(expit(s_a - s_b), index=tasks.to_numpy())
