import numpy as np
import pytest

from bidders.labels import (ADVERSARIAL, DILIGENT, SPAMMER, expected_error, label_bradley_terry,
                            label_logged, prob_choose_a)


def test_bradley_terry_prefers_the_higher_score_by_skill():
    p = prob_choose_a(np.array([1.0, 1.0, -1.0, 1.0]), np.array([3.0, 0.0, 3.0, 3.0]),
                      np.array([DILIGENT, DILIGENT, DILIGENT, ADVERSARIAL]))
    assert p[0] == pytest.approx(1 / (1 + np.exp(-3)))
    assert p[1] == 0.5  # no skill: a coin
    assert p[2] == pytest.approx(1 - p[0])
    assert p[3] == pytest.approx(1 - p[0])  # the adversary flips what it sees


def test_spammers_answer_at_random_whatever_the_pair():
    rng = np.random.default_rng(0)
    chose_a = label_bradley_terry(np.full(20000, 5.0), 3.0, SPAMMER, rng)
    assert abs(chose_a.mean() - 0.5) < 0.015


@pytest.mark.parametrize("kind, error, wrong", [(DILIGENT, 0.2, 0.2), (SPAMMER, 0.2, 0.5), (ADVERSARIAL, 0.2, 0.8)])
def test_logged_labels_disagree_at_the_kinds_error_rate(kind, error, wrong):
    rng = np.random.default_rng(1)
    truth = rng.random(40000) < 0.5
    answers = label_logged(truth, error, kind, rng)
    assert abs(np.mean(answers != truth) - wrong) < 0.01


def test_expected_error_matches_monte_carlo_on_the_reference_spread():
    rng = np.random.default_rng(2)
    diff = rng.standard_normal(400000)
    for skill in (0.5, 1.0, 3.0, 6.0):
        truth = diff > 0
        answers = label_bradley_terry(diff, skill, DILIGENT, rng)
        assert expected_error(skill, DILIGENT) == pytest.approx(np.mean(answers != truth), abs=0.004)
