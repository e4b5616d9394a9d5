"""Gold units per winner and admission caps (market.quality.mixing)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from market.quality import mixing
from market.quality.skill import BELOW_BAR, PROBATION, PROVISIONAL, QUALIFIED


def test_unproven_units_are_half_gold_and_qualified_ones_a_share():
    won = np.array([3, 3, 0, 10, 4])
    status = np.array([PROBATION, QUALIFIED, PROBATION, QUALIFIED, PROVISIONAL])
    k = mixing.gold_units(won, status, rate=0.25, draw=np.array([0.9, 0.9, 0.0, 0.9, 0.9]))
    assert k.tolist() == [1, 0, 0, 2, 2]  # 1.5 -> 1 and 0.75 -> 0 (draw above the remainder), 2.5 -> 2, half of 4
    k = mixing.gold_units(won, status, rate=0.25, draw=np.array([0.1, 0.1, 0.1, 0.1, 0.1]))
    assert k.tolist() == [2, 1, 0, 3, 2]
    # probation is never all gold once it wins two units: a new account cannot tell its checks
    many = mixing.gold_units(np.full(1000, 4), np.full(1000, PROBATION), rate=0.1, draw=np.linspace(0, 1, 1000))
    assert (many == 2).all()


@given(st.integers(0, 50), st.floats(0.01, 0.99))
def test_units_for_gold_never_need_more_gold_than_is_left(gold_left, rate):
    units = int(mixing.units_for_gold([gold_left], rate=rate)[0])
    share = max(rate, mixing.UNPROVEN_RATE)
    assert np.ceil(share * units - 1e-9) <= gold_left < share * (units + 1) + 1e-9


@given(st.integers(1, 12), st.floats(0.01, 0.99))
def test_steady_share_is_exact_on_average(units, rate):
    draws = (np.arange(2000) + 0.5) / 2000  # an even spread over [0, 1)
    k = mixing.gold_units(np.full(2000, units), np.full(2000, QUALIFIED), rate=rate, draw=draws)
    assert (k >= 0).all() and (k <= units).all()
    assert abs(k.mean() - rate * units) < 1e-3 + 1.0 / 2000 * units


def test_caps_exclude_below_bar_and_bound_probation():
    status = np.array([QUALIFIED, BELOW_BAR, PROBATION, PROBATION, PROBATION])
    caps = mixing.admission_caps([5, 5, 3, 3, 3], status, [9, 9, 1, 9, 9], demand=10, share=0.2,
                                 lottery=[0.5, 0.5, 0.3, 0.9, 0.1], asks=np.zeros(5), reserve=1.0)
    # qualified supply 5 < demand 10: probation may take max(2, 10 - 5) = 5 units, queue order 4, 2, 3
    assert caps.tolist() == [5, 0, 1, 1, 3]


def test_cold_start_is_not_starved_and_a_crowd_of_newcomers_is_capped():
    everyone_new = np.array([PROBATION] * 6)
    caps = mixing.admission_caps([3] * 6, everyone_new, [9] * 6, demand=12, share=0.2, lottery=np.arange(6),
                                 asks=np.zeros(6), reserve=1.0)
    assert caps.sum() == 12  # nobody qualified yet: newcomers may fill the round
    status = np.array([QUALIFIED] * 4 + [PROBATION] * 20)
    caps = mixing.admission_caps([5] * 24, status, [9] * 24, demand=20, share=0.2, lottery=np.arange(24),
                                 asks=np.zeros(24), reserve=1.0)
    assert caps[:4].sum() == 20 and caps[4:].sum() == 4  # ceil(0.2 × 20)


def test_the_queue_runs_young_promising_tests_first_then_newcomers_then_undecided_then_suspects():
    from market.quality import skill

    records = [(0, 0), (1, 1), (2, 3), (4, 6), (1, 2), (0, 1), (3, 8), (0, 0), (4, 5), (3, 4), (14, 20), (5, 6),
               (7, 9), (8, 10)]
    right, answers = np.array(records).T  # (right, answers)
    alpha, beta = skill.posterior(right, answers)
    groups = {  # by hand, from the record: mean (2 + right) / (3 + answers), and its age
        "promising": [1, 8, 11],  # 1 of 1, 4 of 5 (3/4) and 5 of 6 (7/9), all under 8 answers
        "newcomer": [0, 7],
        # 2 of 3, 4 of 6, 3 of 4 (5/7), 14 of 20 (16/23); 7 of 9 (3/4) and 8 of 10 (10/13): 8 answers or more
        "undecided": [2, 3, 9, 10, 12, 13],
        "suspect": [4, 5, 6],  # 1 of 2, 0 of 1, 3 of 8: below 2/3
    }
    rng = np.random.default_rng(0)
    for _ in range(200):
        u = rng.random(len(records))
        key = mixing.probation_lottery(alpha, beta, answers, u)
        ranked = list(groups.values())
        for first, later in zip(ranked, ranked[1:]):
            assert key[first].max() < key[later].min()
        for members in ranked:  # a lottery within each group
            assert (np.argsort(key[members]) == np.argsort(u[members])).all()
    # the queue decides who enters when probation's room is short, the ask never does
    status = np.array([PROBATION] * len(records))
    caps = mixing.admission_caps([2] * len(records), status, [9] * len(records), demand=8, share=0.2,
                                 lottery=mixing.probation_lottery(alpha, beta, answers, rng.random(len(records))),
                                 asks=rng.random(len(records)), reserve=1.0)
    assert caps[groups["promising"]].sum() == 6 and caps[groups["newcomer"]].sum() == 2 and caps.sum() == 8


def test_probation_enters_only_within_the_reserve_and_qualified_bids_are_not_held_to_it():
    status = np.array([QUALIFIED, PROBATION, PROBATION, PROBATION])
    caps = mixing.admission_caps([4, 4, 4, 4], status, [9] * 4, demand=10, share=0.2, lottery=[0, 0.1, 0.2, 0.3],
                                 asks=[90, 50, 51, 10], reserve=50.0)
    # room 10 - 4 = 6: the bid at 51c is passed over (above 50c a unit), not the room's limit
    assert caps.tolist() == [4, 4, 0, 2]


@given(st.lists(st.tuples(st.sampled_from([QUALIFIED, PROVISIONAL, BELOW_BAR, PROBATION]), st.integers(0, 6),
                          st.integers(0, 6)), min_size=1, max_size=30),
       st.integers(1, 60), st.floats(0.05, 1.0), st.integers(0, 2**32 - 1))
def test_caps_invariants(bidders, demand, share, seed):
    status = np.array([s for s, _, _ in bidders])
    capacity = np.array([c for _, c, _ in bidders])
    gold_left = np.array([g for _, _, g in bidders])
    rng = np.random.default_rng(seed)
    lottery = rng.random(len(bidders))
    asks, reserve = rng.integers(1, 60, len(bidders)), float(rng.integers(1, 60))
    caps = mixing.admission_caps(capacity, status, gold_left, demand=demand, share=share, lottery=lottery,
                                 asks=asks, reserve=reserve)
    assert (caps >= 0).all() and (caps <= capacity).all()
    assert (caps[status == BELOW_BAR] == 0).all()
    judged = (status == QUALIFIED) | (status == PROVISIONAL)
    assert (caps[judged] == capacity[judged]).all()
    probation = status == PROBATION
    assert (caps[probation] <= gold_left[probation]).all()
    assert (caps[probation & (asks > reserve)] == 0).all()
    wants = np.where(asks <= reserve, np.minimum(capacity, gold_left), 0)
    room = mixing.probation_room(demand, int(capacity[judged].sum()), share)
    assert caps[probation].sum() == min(room, wants[probation].sum())
    # admitted in queue order: nobody on probation gets units while one before it wants more
    order = np.flatnonzero(probation)[np.argsort(lottery[probation], kind="stable")]
    short = np.flatnonzero(caps[order] < wants[order])
    if short.size:
        assert (caps[order][short[0] + 1:] == 0).all()
    # within the reserve, the lottery, not the ask, decides: other asks under it give the same caps
    lower = np.where(asks <= reserve, rng.integers(0, 1 + asks), asks)
    again = mixing.admission_caps(capacity, status, gold_left, demand=demand, share=share, lottery=lottery,
                                  asks=lower, reserve=reserve)
    assert (again == caps).all()


def test_a_careful_reader_passes_while_its_test_is_still_young():
    """The numbers behind ``PROMISING_ANSWERS`` (module doc), exactly over every sequence of
    answers at bar 0.65, confidence 0.8 and 3 answers before judging: the chance that a
    reader of accuracy θ has passed within that many answers."""
    from market.quality import skill

    def passed_within(theta: float, n_answers: int) -> float:
        alive = np.zeros(n_answers + 1)  # by right answers: still on probation
        alive[0], done = 1.0, 0.0
        right = np.arange(n_answers + 1)
        for n in range(1, n_answers + 1):
            alive = alive * (1 - theta) + np.r_[0.0, alive[:-1]] * theta
            status = skill.judge(*skill.posterior(right, n), n, min_gold=3, bar=0.65, confidence=0.8)
            done += alive[(status == skill.PROVISIONAL) | (status == skill.QUALIFIED)].sum()
            alive[status != skill.PROBATION] = 0.0
        return done

    young = mixing.PROMISING_ANSWERS
    assert [round(passed_within(t, young), 2) for t in (0.85, 0.9, 0.95)] == [0.71, 0.85, 0.95]
    assert passed_within(0.75, young) < 0.5 and passed_within(0.5, young) < 0.1
