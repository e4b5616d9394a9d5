"""The simulator's quality mode (bidders.quality): the market's policy, measured offline."""

from __future__ import annotations

import numpy as np
import pytest

from bidders.config import ConfigError, parse_config
from bidders.labels import SPAMMER
from bidders.population import PopulationConfig, sample_population
from bidders.quality import GoldScreen, QualityConfig
from bidders.simulate import make_world, run_rule, simulate, summarise
from market.quality import skill

SPAMMY = {"diligent": {"share": 0.6 * 8 / 9}, "noisy": {"share": 0.25 * 8 / 9}, "spammer": {"share": 0.2},
          "adversarial": {"share": 0.05 * 8 / 9}}


def config(mode: str, **quality):
    return parse_config({
        "population": {"size": 100, "kinds": SPAMMY},
        "market": {"rules": ["second_price", "quality_second_price"], "rounds": 200},
        "quality": {"mode": mode, **quality},
        "run": {"seeds": [0], "workers": 1, "regret_bidders": 0},
    })


@pytest.fixture(scope="module")
def runs():
    return {mode: simulate(config(mode)).summary.set_index("rule") for mode in ("none", "gold")}


def test_twenty_percent_spammers_lose_their_share_of_paid_labels(runs):
    none, gold = runs["none"], runs["gold"]
    assert (none["spammer_share_late"] > 0.5).all()  # cheap random clicks win most of the work
    assert gold.loc["quality_second_price", "spammer_share_late"] < 0.05
    # the plain rule lets the cheapest units win, and spammers on probation are cheap, but
    # their work is held until their test ends (bench/bench_quality.py has the figures)
    assert gold.loc["second_price", "spammer_share_late"] < 0.05


def test_quality_control_buys_more_truth_per_dollar(runs):
    none, gold = runs["none"], runs["gold"]
    assert (gold["accuracy"] > none["accuracy"] + 0.2).all()
    assert (gold["net_correct_per_dollar"] > 2 * none["net_correct_per_dollar"]).all()
    assert (gold["gold_labels"] > 0).all() and (none["gold_labels"] == 0).all()


def test_rejected_labels_are_not_paid():
    cfg = config("gold", quality_bar=0.7)
    run = run_rule(cfg, make_world(cfg, 0), "second_price")
    t = run.rounds
    assert t["rejected_labels"].sum() > 0
    assert (t["labels"] == t["data_labels"] + t["gold_labels"]).all()
    # a round commits no more than its budget; held labels are paid rounds later, from escrow
    assert summarise(run)["budget_violations"] == 0 and t["spend"].sum() <= t["budget"].sum()
    assert summarise(run)["ir_violations"] == 0


def test_labels_won_on_probation_are_held_until_the_test_ends():
    cfg = QualityConfig(mode="gold", min_gold_answers=4, quality_bar=0.65, quality_confidence=0.8)
    screen = GoldScreen(cfg, 3)
    error = np.array([0.0, 0.5, 1.0])  # always right, coin flip, always wrong
    rng = np.random.default_rng(0)
    gold, rejected, held = screen.label(np.repeat(np.arange(3), 4), error, rng)
    assert held.all() and not rejected.any()  # everyone new: all work held, gold checks and real items alike
    assert list(screen.held_outcome(np.arange(3))) == [None, None, None]  # two answers each: still on probation
    for _ in range(3):
        gold, rejected, held = screen.label(np.repeat(np.arange(3), 4), error, rng)
    outcome = screen.held_outcome(np.arange(3))
    assert outcome[0] is True and outcome[2] is False  # passed: paid; below the bar: rejected
    assert not held[rejected].any()  # a label rejected at submission is not held as well


def test_screen_applies_the_markets_judgement():
    cfg = QualityConfig(mode="gold", min_gold_answers=4, quality_bar=0.65, quality_confidence=0.9)
    screen = GoldScreen(cfg, 3)
    error = np.array([0.0, 0.5, 1.0])  # always right, coin flip, always wrong
    rng = np.random.default_rng(0)
    for _ in range(6):  # on probation half of each round's two units are gold checks
        gold, rejected, held = screen.label(np.repeat(np.arange(3), 2), error, rng)
        assert gold.shape == rejected.shape == held.shape == (6,)
    status = screen.status(np.arange(3))
    assert status[0] == skill.PROVISIONAL and status[2] == skill.BELOW_BAR  # passed at 6 of 6, on a leash
    gold_units = units = 0
    while screen.status(np.arange(1))[0] == skill.PROVISIONAL:
        gold, _, held = screen.label(np.zeros(2, dtype=int), error, rng)
        assert not held.any()  # provisional: accepted at once
        gold_units, units = gold_units + int(gold.sum()), units + 2
    # until 4 x min_gold answers, about half of its work stays gold checks (the campaign's
    # rate is 0.1), so the leash lasts about 20 units, not 100
    assert screen.answers[0] == 16 and 0.35 < gold_units / units < 0.65
    status = screen.status(np.arange(3))
    assert status[0] == skill.QUALIFIED
    assert (status == skill.judge(screen.alpha, screen.beta, screen.answers, min_gold=4, bar=0.65,
                                  confidence=0.9)).all()
    assert screen.alpha[0] + screen.beta[0] == skill.PRIOR_ALPHA + skill.PRIOR_BETA + screen.answers[0]
    # below the bar: no units in the clearing; probation: at most the round's room
    caps = screen.admit(np.arange(3), np.array([3, 3, 3]), 4, np.zeros(3), asks=np.full(3, 1.0), budget=4.0)
    assert caps[2] == 0 and caps[0] == 3


def test_the_spammers_are_cheap_in_this_population():
    pop = sample_population(PopulationConfig(size=100, kinds=SPAMMY), np.random.default_rng(0))
    assert pop.share_of(SPAMMER) == pytest.approx(0.2)
    assert np.median(pop.cost[pop.kind == SPAMMER]) < np.median(pop.cost[pop.kind != SPAMMER])


def test_bad_quality_settings_are_named():
    with pytest.raises(ConfigError, match="quality.mode"):
        parse_config({"quality": {"mode": "magic"}})
    with pytest.raises(ConfigError, match="quality.quality_bar"):
        parse_config({"quality": {"quality_bar": 0.4}})
