"""Integrity flags on inline records (market.quality.flags)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from market.quality import flags, skill


def test_identical_bids_flag_pairs_that_match_round_after_round():
    rng = np.random.default_rng(0)
    rows = []
    for r in range(10):
        for a in range(1, 7):
            rows.append((r, a, int(rng.integers(10, 40)), 2))
        rows.append((r, 7, 25, 3))
        rows.append((r, 8, 25, 3))  # 7 and 8 always bid alike
    bids = pd.DataFrame(rows, columns=["round_id", "annotator_id", "ask_cents", "capacity"])
    found = flags.identical_bids(bids)
    assert [f["annotator_ids"] for f in found] == [[7, 8]]
    assert found[0]["rounds_identical"] == found[0]["rounds_shared"] == 10
    assert flags.identical_bids(bids.iloc[:0]) == []


def test_a_chance_match_is_not_a_pattern():
    bids = pd.DataFrame([(r, a, 20 if r < 3 else 20 + a, 1) for r in range(10) for a in (1, 2)],
                        columns=["round_id", "annotator_id", "ask_cents", "capacity"])
    assert flags.identical_bids(bids) == []  # 3 identical rounds of 10


def test_degenerate_labels_against_what_others_answer():
    rng = np.random.default_rng(1)
    honest = [(a, c) for a in range(1, 6) for c in rng.choice(["a", "b"], 30)]
    labels = pd.DataFrame(honest + [(9, "a")] * 30 + [(10, "a")] * 5, columns=["annotator_id", "choice"])
    found = flags.degenerate_labels(labels)
    assert [f["annotator_ids"] for f in found] == [[9]]  # 10 has too few labels to tell
    assert found[0]["choice"] == "a" and found[0]["p_value"] < 1e-3
    # when everyone mostly answers "a" (the pairs happen to favour a), answering "a" is no pattern
    skewed = pd.DataFrame([(a, "a" if rng.random() < 0.95 else "b") for a in range(1, 6) for _ in range(30)]
                          + [(9, "a")] * 30, columns=["annotator_id", "choice"])
    assert flags.degenerate_labels(skewed) == []


def test_gold_patterns():
    ids = [1, 2, 3, 4]
    right = np.array([19, 14, 2, 3])
    n = np.array([20, 30, 20, 3])
    alpha, beta = skill.posterior(right, n)
    found = {f["annotator_ids"][0]: f["kind"] for f in flags.gold_patterns(ids, alpha, beta, n, min_gold=4)}
    assert found == {2: "gold_at_chance", 3: "gold_inverted"}  # 4 has too few answers
