"""Integrity flags on inline records (market.quality.flags)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from market.quality import flags, skill


def _market(rounds: int, seed: int, ring=((7, 25, 3), (8, 25, 3))) -> pd.DataFrame:
    """Six independent bidders (asks 10 to 39 cents) and a ring placed by one script."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(rounds):
        for a in range(1, 7):
            rows.append((r, a, int(rng.integers(10, 40)), 2))
        rows += [(r, who, ask, cap) for who, ask, cap in ring]
    return pd.DataFrame(rows, columns=["round_id", "annotator_id", "ask_cents", "capacity"])


def test_similar_bids_flag_pairs_that_match_round_after_round():
    found = flags.similar_bids(_market(10, 0))
    assert [f["annotator_ids"] for f in found] == [[7, 8]]
    assert found[0]["rounds_similar"] == found[0]["rounds_shared"] == 10
    assert flags.similar_bids(_market(10, 0).iloc[:0]) == []


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(15, 60), st.integers(-2, 2), st.sampled_from([-1, 1]))
def test_a_one_cent_difference_no_longer_evades_the_flag(seed, ask, jitter_cap, cents):
    """The old test matched to the cent; a ring that asks a cent apart (and varies its
    capacity by one) is flagged all the same."""
    ring = ((7, ask, 3), (8, ask + cents, max(1, 3 + min(max(jitter_cap, -1), 1))))
    found = flags.similar_bids(_market(10, seed, ring))
    assert [7, 8] in [f["annotator_ids"] for f in found]
    assert flags.linked(found) >= {7, 8}


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_independent_bidders_are_not_linked(seed):
    found = flags.similar_bids(_market(12, seed, ring=()))
    assert found == []


def test_a_crowd_bidding_at_one_market_price_is_not_a_ring():
    # everyone within a cent of 20 every round: being close is what everybody is
    rng = np.random.default_rng(3)
    bids = pd.DataFrame([(r, a, 20 + int(rng.integers(0, 2)), 2) for r in range(10) for a in range(1, 9)],
                        columns=["round_id", "annotator_id", "ask_cents", "capacity"])
    assert flags.similar_bids(bids) == []


def test_a_chance_match_is_not_a_pattern():
    bids = _market(10, 5, ring=())
    bids.loc[(bids.annotator_id == 2) & (bids.round_id < 3), "ask_cents"] = \
        bids.loc[(bids.annotator_id == 1) & (bids.round_id < 3), "ask_cents"].to_numpy()
    assert flags.similar_bids(bids) == []  # 3 matching rounds of 10


def test_lockstep_timing_links_bids_placed_together():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    rng = np.random.default_rng(2)
    rows = []
    for r in range(8):
        start = t0 + pd.Timedelta(minutes=10 * r)
        rows += [(r, a, start + pd.Timedelta(seconds=float(rng.uniform(0, 300)))) for a in range(1, 7)]
        at = start + pd.Timedelta(seconds=float(rng.uniform(0, 300)))
        rows += [(r, 7, at), (r, 8, at + pd.Timedelta(seconds=0.4))]
    bids = pd.DataFrame(rows, columns=["round_id", "annotator_id", "placed_at"])
    assert [f["annotator_ids"] for f in flags.lockstep_timing(bids)] == [[7, 8]]


def test_shared_answers_link_accounts_that_agree_beyond_their_accuracy():
    rng = np.random.default_rng(4)
    truth = rng.choice(["a", "b"], 40)
    rows = []
    for a in range(1, 5):  # careful readers, right 90% of the time, each on its own
        rows += [(a, i, t if rng.random() < 0.9 else ("b" if t == "a" else "a"), t) for i, t in enumerate(truth)]
    script = rng.choice(["a", "b"], 40)  # one script, two accounts: random, and identical
    rows += [(who, i, c, t) for who in (7, 8) for i, (c, t) in enumerate(zip(script, truth))]
    labels = pd.DataFrame(rows, columns=["annotator_id", "item_id", "choice", "gold"])
    found = flags.shared_answers(labels)
    assert [f["annotator_ids"] for f in found] == [[7, 8]]


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
