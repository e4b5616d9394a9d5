import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bidders.simulate import omniscient_welfare, regret, simulate
from market.mechanisms import TRUTHFUL_RULES


@pytest.fixture(scope="module")
def unit_demand(small_config):
    """All rules, 60 one-label annotators (half learners), 300 rounds."""
    return simulate(small_config(strategies={"truthful": 1, "markup": 1, "learner": 2}))


def by_rule(result, column):
    return result.summary.set_index("rule")[column]


def test_truthful_rules_leave_no_profitable_deviation(unit_demand):
    regret_max = by_rule(unit_demand, "regret_max")
    assert (by_rule(unit_demand, "regret_samples") == 90).all()
    for rule in TRUTHFUL_RULES:
        assert regret_max[rule] < 1e-9, rule
    assert regret_max["first_price"] > 0.05  # winners gain by asking above cost


def test_learners_shade_up_under_first_price_and_not_under_truthful_rules(unit_demand):
    start, end = by_rule(unit_demand, "learner_markup_start"), by_rule(unit_demand, "learner_markup_end")
    assert end["first_price"] - start["first_price"] > 0.2
    for rule in ("second_price", "budget_feasible", "quality_second_price", "quality_budget_feasible"):
        assert end["first_price"] > end[rule] + 0.1, rule


def test_quality_rules_buy_fewer_spammer_labels(unit_demand):
    share = by_rule(unit_demand, "spammer_share")
    assert share["quality_budget_feasible"] < share["budget_feasible"]
    assert share["quality_second_price"] < share["second_price"]
    accuracy = by_rule(unit_demand, "accuracy")
    assert accuracy["quality_budget_feasible"] > accuracy["budget_feasible"]


def test_welfare_never_beats_the_omniscient_optimum_in_any_round(unit_demand):
    r = unit_demand.rounds
    assert (r["value"] - r["true_cost"] <= r["optimum"] + 1e-9).all()
    # every rule of a seed faced the same world
    assert r.groupby("round")["optimum"].nunique().max() == 1


def test_ir_and_budgets_hold_for_multi_unit_strategic_bidders(small_config):
    cfg = small_config(population={"capacity_max": 4},
                       strategies={"truthful": 1, "markup": 1, "learner": 1, "markup_rate": 0.5},
                       market={"campaign_budget": 900.0, "rounds": 200})
    result = simulate(cfg)
    assert (result.summary["ir_violations"] == 0).all()
    assert (result.summary["budget_violations"] == 0).all()
    assert (result.summary["spend"] <= 900.0 + 1e-6).all()
    assert (result.rounds["spend"] <= result.rounds["budget"] + 1e-9).all()


def test_parallel_runs_give_the_serial_results(small_config):
    cfg = small_config(market={"rounds": 40, "rules": ["first_price", "budget_feasible"]},
                       run={"seeds": [3, 4]})
    serial, parallel = simulate(cfg, workers=1), simulate(cfg, workers=2)
    drop = ["seconds"]
    assert serial.summary.drop(columns=drop).equals(parallel.summary.drop(columns=drop))
    assert serial.rounds.equals(parallel.rounds)


def test_a_multi_unit_bidder_can_set_its_own_price_under_uniform_pricing():
    # Two units at cost 2 against rivals at 1 and 5, demand 2: truthfully its second unit
    # sets the price (2) for its first; asking 4 for both lifts that price to 4.
    asks = np.array([1.0, 2.0, 2.0, 5.0])
    kw = {"values": np.array([10.0, 10.0]), "budget": None}
    grid = np.array([0.5, 1.5, 2.0])
    assert regret("second_price", asks, slice(1, 2), 2.0, grid, kw) == 0.0  # one unit alone: truthful
    assert regret("second_price", asks, slice(1, 3), 2.0, grid, kw) == pytest.approx(2.0)


def _brute_force(cost, capacity, available, values, budget):
    units = np.repeat(cost, capacity)[np.repeat(available, capacity)]
    best = 0.0
    for k in range(1, min(units.size, values.size) + 1):
        for chosen in itertools.combinations(units, k):
            if sum(chosen) <= budget:
                best = max(best, np.sort(values)[::-1][:k].sum() - sum(chosen))
    return best


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 2.0), st.integers(1, 2), st.booleans()), min_size=1, max_size=4),
       st.lists(st.floats(0.0, 2.0), min_size=1, max_size=4), st.floats(0.0, 4.0))
def test_omniscient_welfare_is_the_budgeted_knapsack_optimum(bidders, values, budget):
    cost, capacity, available = (np.array(x) for x in zip(*bidders))
    values = np.sort(np.array(values))[::-1]
    got = omniscient_welfare(cost, capacity, available[None, :], values[None, :], budget)[0]
    assert got == pytest.approx(_brute_force(cost, capacity, available, values, budget), abs=1e-9)
