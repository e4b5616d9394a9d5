import numpy as np
import pytest
from hypothesis import given, strategies as st

from bidders.labels import ADVERSARIAL, DILIGENT, NOISY, SPAMMER
from bidders.population import PopulationConfig, sample_population, split_counts, with_spammer_share


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6).filter(lambda w: sum(w) > 0),
       st.integers(0, 500))
def test_split_counts_sum_to_n_and_stay_within_one_of_the_target(weights, n):
    shares = np.array(weights) / sum(weights)
    counts = split_counts(shares, n)
    assert counts.sum() == n
    assert np.all(np.abs(counts - shares * n) < 1)


def test_kinds_come_in_the_configured_proportions():
    pop = sample_population(PopulationConfig(size=200), np.random.default_rng(1))
    assert [int(np.sum(pop.kind == k)) for k in (DILIGENT, NOISY, SPAMMER, ADVERSARIAL)] == [120, 50, 20, 10]


def test_defaults_are_the_documented_ones():
    pop = sample_population(PopulationConfig(size=4000), np.random.default_rng(2))
    diligent = pop.kind == DILIGENT
    assert abs(np.median(pop.cost[diligent]) - 0.25) < 0.02  # lognormal median $0.25
    assert np.median(pop.cost[pop.kind == SPAMMER]) < 0.5 * np.median(pop.cost[diligent])
    assert pop.capacity.min() == 1 and pop.capacity.max() == 3
    assert 0.80 < 1 - pop.error[diligent].mean() < 0.88  # about 84% correct
    assert 0.62 < 1 - pop.error[pop.kind == NOISY].mean() < 0.72  # about 68%


def test_quality_ranks_readers_above_spammers_and_adversaries():
    cfg = PopulationConfig(size=400)
    pop = sample_population(cfg, np.random.default_rng(3))
    assert np.all(pop.error[pop.kind == SPAMMER] == 0.5)
    assert np.all(pop.error[pop.kind == ADVERSARIAL] > 0.5)
    assert np.all(pop.quality[(pop.kind == SPAMMER) | (pop.kind == ADVERSARIAL)] == cfg.quality_floor)
    assert pop.quality[pop.kind == DILIGENT].mean() > pop.quality[pop.kind == NOISY].mean() > cfg.quality_floor
    assert np.all((pop.quality > 0) & (pop.quality <= 1))


def test_other_cost_distributions_sample_in_their_support():
    rng = np.random.default_rng(4)
    uniform = PopulationConfig.model_validate({"cost": {"dist": "uniform", "low": 0.1, "high": 0.2},
                                               "kinds": {"spammer": {"cost_factor": 1.0},
                                                         "noisy": {"cost_factor": 1.0}}})
    cost = sample_population(uniform, rng).cost
    assert cost.min() >= 0.1 and cost.max() <= 0.2
    gamma = PopulationConfig.model_validate({"cost": {"dist": "gamma", "shape": 4, "scale": 0.05}})
    assert np.all(sample_population(gamma, rng).cost > 0)


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5])
def test_a_spammer_share_is_exact_and_keeps_the_other_kinds_in_proportion(share):
    cfg = with_spammer_share(PopulationConfig(size=100), share)
    pop = sample_population(cfg, np.random.default_rng(0))
    assert (pop.kind == SPAMMER).sum() == round(100 * share)
    base = PopulationConfig().kinds
    assert cfg.kinds["diligent"].share / cfg.kinds["noisy"].share == pytest.approx(
        base["diligent"].share / base["noisy"].share)
    assert sum(k.share for k in cfg.kinds.values()) == pytest.approx(1.0)


def test_an_impossible_spammer_share_is_refused():
    with pytest.raises(ValueError, match="spammers' share"):
        with_spammer_share(PopulationConfig(), 1.0)
