import numpy as np

from bidders.strategies import Learner, LearnerConfig, StrategyConfig, assign_strategies


def _play(payment, rounds=3000, seed=0):
    """One learner with cost 1 facing a fixed rival ask of 1.5: it wins iff its ask is
    below; ``payment(ask)`` is what a win pays."""
    learner = Learner(np.array([0]), LearnerConfig())
    rng = np.random.default_rng(seed)
    on = np.array([True])
    for _ in range(rounds):
        ask = 1.0 + learner.markups(on, rng)[0]
        profit = payment(ask) - 1.0 if ask <= 1.5 else 0.0
        learner.learn(on, np.array([profit]), np.array([1.0]), np.array([1]))
    return learner


def test_learner_shades_up_to_the_best_markup_when_paid_its_ask():
    learner = _play(lambda ask: ask)
    p = learner.probabilities()[0]
    assert learner.grid[np.argmax(p)] == 0.5  # the highest ask that still wins
    assert learner.expected_markup()[0] > 0.35


def test_learner_gains_nothing_from_markups_when_paid_a_threshold():
    learner = _play(lambda ask: 1.5)
    p = learner.probabilities()[0]
    assert p[learner.grid > 0.5].sum() < 0.1  # markups that lose work die out
    assert learner.expected_markup()[0] < 0.35


def test_strategies_split_the_population_by_weight():
    groups = assign_strategies(StrategyConfig(truthful=1, markup=1, learner=2), 100, np.random.default_rng(0))
    assert {g.name: g.members.size for g in groups} == {"truthful": 25, "markup": 25, "learner": 50}
    assert sorted(np.concatenate([g.members for g in groups]).tolist()) == list(range(100))
