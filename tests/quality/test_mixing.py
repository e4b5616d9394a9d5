"""Gold units per winner and admission caps (market.quality.mixing)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from market.quality import mixing
from market.quality.skill import BELOW_BAR, PROBATION, PROVISIONAL, QUALIFIED


def test_probation_units_are_all_gold_and_qualified_ones_a_share():
    won = np.array([3, 3, 0, 10, 4])
    status = np.array([PROBATION, QUALIFIED, PROBATION, QUALIFIED, PROVISIONAL])
    k = mixing.gold_units(won, status, rate=0.25, draw=np.array([0.9, 0.9, 0.0, 0.9, 0.9]))
    assert k.tolist() == [3, 0, 0, 2, 2]  # 0.75 -> 0 (draw above the remainder), 2.5 -> 2, half of 4
    k = mixing.gold_units(won, status, rate=0.25, draw=np.array([0.1, 0.1, 0.1, 0.1, 0.1]))
    assert k.tolist() == [3, 1, 0, 3, 2]


@given(st.integers(1, 12), st.floats(0.01, 0.99))
def test_steady_share_is_exact_on_average(units, rate):
    draws = (np.arange(2000) + 0.5) / 2000  # an even spread over [0, 1)
    k = mixing.gold_units(np.full(2000, units), np.full(2000, QUALIFIED), rate=rate, draw=draws)
    assert (k >= 0).all() and (k <= units).all()
    assert abs(k.mean() - rate * units) < 1e-3 + 1.0 / 2000 * units


def test_caps_exclude_below_bar_and_bound_probation():
    status = np.array([QUALIFIED, BELOW_BAR, PROBATION, PROBATION, PROBATION])
    caps = mixing.admission_caps([5, 5, 3, 3, 3], status, [9, 9, 1, 9, 9], demand=10, share=0.2,
                                 lottery=[0.5, 0.5, 0.3, 0.9, 0.1])
    # qualified supply 5 < demand 10: probation may take max(2, 10 - 5) = 5 units, queue order 4, 2, 3
    assert caps.tolist() == [5, 0, 1, 1, 3]


def test_cold_start_is_not_starved_and_a_crowd_of_newcomers_is_capped():
    everyone_new = np.array([PROBATION] * 6)
    caps = mixing.admission_caps([3] * 6, everyone_new, [9] * 6, demand=12, share=0.2, lottery=np.arange(6))
    assert caps.sum() == 12  # nobody qualified yet: newcomers may fill the round
    status = np.array([QUALIFIED] * 4 + [PROBATION] * 20)
    caps = mixing.admission_caps([5] * 24, status, [9] * 24, demand=20, share=0.2, lottery=np.arange(24))
    assert caps[:4].sum() == 20 and caps[4:].sum() == 4  # ceil(0.2 × 20)


def test_the_queue_puts_records_below_the_prior_behind_everyone_else():
    from market.quality import skill

    records = [(0, 0), (1, 1), (2, 3), (4, 6), (1, 2), (0, 1), (3, 8)]  # (right, answers)
    alpha, beta = skill.posterior(*np.array(records).T)
    suspect = np.array([r / n < 2 / 3 if n else False for r, n in records])
    assert suspect.tolist() == [False, False, False, False, True, True, True]  # 2 of 3 is not, 1 of 2 is
    rng = np.random.default_rng(0)
    for _ in range(200):
        u = rng.random(len(records))
        key = mixing.probation_lottery(alpha, beta, u)
        assert key[~suspect].max() < key[suspect].min()  # every suspect after every other
        assert (np.argsort(key[~suspect]) == np.argsort(u[~suspect])).all()  # a lottery within each group
        assert (np.argsort(key[suspect]) == np.argsort(u[suspect])).all()
    # the queue decides who enters when probation's room is short, the ask never does
    status = np.array([PROBATION] * len(records))
    caps = mixing.admission_caps([2] * len(records), status, [9] * len(records), demand=8, share=0.2,
                                 lottery=mixing.probation_lottery(alpha, beta, rng.random(len(records))))
    assert caps[~suspect].sum() == 8 and caps[suspect].sum() == 0


@given(st.lists(st.tuples(st.sampled_from([QUALIFIED, PROVISIONAL, BELOW_BAR, PROBATION]), st.integers(0, 6),
                          st.integers(0, 6)), min_size=1, max_size=30),
       st.integers(1, 60), st.floats(0.05, 1.0), st.integers(0, 2**32 - 1))
def test_caps_invariants(bidders, demand, share, seed):
    status = np.array([s for s, _, _ in bidders])
    capacity = np.array([c for _, c, _ in bidders])
    gold_left = np.array([g for _, _, g in bidders])
    lottery = np.random.default_rng(seed).random(len(bidders))
    caps = mixing.admission_caps(capacity, status, gold_left, demand=demand, share=share, lottery=lottery)
    assert (caps >= 0).all() and (caps <= capacity).all()
    assert (caps[status == BELOW_BAR] == 0).all()
    judged = (status == QUALIFIED) | (status == PROVISIONAL)
    assert (caps[judged] == capacity[judged]).all()
    probation = status == PROBATION
    assert (caps[probation] <= gold_left[probation]).all()
    room = mixing.probation_room(demand, int(capacity[judged].sum()), share)
    assert caps[probation].sum() == min(room, np.minimum(capacity, gold_left)[probation].sum())
    # admitted in queue order: nobody on probation gets units while one before it wants more
    order = np.flatnonzero(probation)[np.argsort(lottery[probation], kind="stable")]
    short = np.flatnonzero(caps[order] < np.minimum(capacity, gold_left)[order])
    if short.size:
        assert (caps[order][short[0] + 1:] == 0).all()
    # the lottery, not the ask, decides: the same lottery gives the same caps
    again = mixing.admission_caps(capacity, status, gold_left, demand=demand, share=share, lottery=lottery)
    assert (again == caps).all()
