import json

import numpy as np

from bidders.bots import AnnotatorBot, Persona, register_bots, run_bots, word_judge
from bidders.labels import ADVERSARIAL, DILIGENT
from bidders.population import PopulationConfig, sample_population
from bidders.strategies import Learner, LearnerConfig, StrategyConfig

GOOD, BAD = "A great, wonderful film!", "A dull, boring mess."


def campaign(admin, n_items=12, **fields):
    req = admin.with_token(admin.create_account("req", "requester")["token"])
    c = req.create_campaign(**{"name": "c", "budget_cents": 5000, "max_price_cents": 80, "rule": "second_price",
                               "labels_per_item": 1, "round_size": 6, "round_duration_s": 300, **fields})
    req.upload_items(c["id"], "".join(json.dumps({"prompt": f"Review {i}", "completion_a": GOOD,
                                                  "completion_b": BAD}) + "\n" for i in range(n_items)))
    return req, c


def test_word_judge_scores_sentiment():
    assert word_judge("", GOOD) > 0 > word_judge("", BAD)


def test_bots_bid_label_by_kind_and_learn_through_the_api(admin):
    req, c = campaign(admin)
    cfg = PopulationConfig(size=6, capacity_max=2, kinds={"diligent": {"share": 1}, "noisy": {"share": 0},
                                                          "spammer": {"share": 0}, "adversarial": {"share": 1}})
    bots = register_bots(admin, sample_population(cfg, np.random.default_rng(0)),
                         StrategyConfig(truthful=0, learner=1), np.random.default_rng(1))
    for _ in range(2):
        r = req.open_round(c["id"])
        assert run_bots(bots)["bids"] == 6
        assert req.close_round(r["id"])["state"] == "cleared"
        done = run_bots(bots)
        assert done["labels"] == req.get_round(r["id"])["n_assignments"] > 0
    assert all(len(b.profit_cents) == 2 and not b.pending for b in bots)  # each learned both rounds
    assert run_bots(bots) == {"learned": 0, "bids": 0, "labels": 0}  # nothing is done twice

    kind_of = {b.client.me()["id"]: b.persona.kind for b in bots}
    labels = req.export_labels(c["id"])
    chose_good = {k: [row["chosen"] == GOOD for row in labels if kind_of[row["annotator_id"]] == k]
                  for k in (DILIGENT, ADVERSARIAL)}
    assert chose_good[DILIGENT] and all(chose_good[DILIGENT])
    assert chose_good[ADVERSARIAL] and not any(chose_good[ADVERSARIAL])
    winners = [b for b in bots if b.client.earnings()["earned_cents"] > 0]
    assert winners and all(max(b.profit_cents) > 0 for b in winners)


def test_a_bot_caps_its_ask_at_the_max_price_and_skips_rounds_below_its_cost(admin):
    req, c = campaign(admin, max_price_cents=30)
    persona = Persona(cost=0.25, skill=3.0, kind=DILIGENT, capacity=1)
    greedy = AnnotatorBot(admin.with_token(admin.create_account("g", "annotator")["token"]), persona,
                          Learner(np.array([0]), LearnerConfig(truthful_prior=0, max_markup=5)),
                          np.random.default_rng(0))
    dear = AnnotatorBot(admin.with_token(admin.create_account("d", "annotator")["token"]),
                        Persona(cost=0.40, skill=3.0, kind=DILIGENT, capacity=1),
                        Learner(np.array([0]), LearnerConfig()), np.random.default_rng(0))
    r = req.open_round(c["id"])
    assert greedy.bid() == [r["id"]] and dear.bid() == []
    assert 25 <= greedy.client.my_bid(r["id"])["ask_cents"] <= 30


def test_a_bot_answers_the_same_pair_the_same_way_whatever_it_drew_before(admin):
    """Label draws are keyed on the pair, so a second campaign on the same pairs gets the
    same answers even though the bot drew its asks in between; different pairs still get
    independent answers (a random clicker's are not all alike)."""
    persona = Persona(cost=0.05, skill=0.0, kind="spammer", capacity=12)
    bot = AnnotatorBot(admin.with_token(admin.create_account("s", "annotator")["token"]), persona,
                       Learner(np.array([0]), LearnerConfig()), np.random.default_rng(3))
    answers = []
    for name in ("first", "second"):
        req = admin.with_token(admin.create_account(f"req-{name}", "requester")["token"])
        c = req.create_campaign(name=name, budget_cents=5000, max_price_cents=80, rule="second_price",
                                labels_per_item=1, round_size=12, round_duration_s=300)
        req.upload_items(c["id"], "".join(json.dumps({"prompt": f"Review {i}", "completion_a": GOOD,
                                                      "completion_b": BAD}) + "\n" for i in range(12)))
        r = req.open_round(c["id"])
        bot.ask_cents(80)  # an extra draw from the bidding stream between the campaigns
        assert bot.bid() == [r["id"]]
        assert req.close_round(r["id"])["state"] == "cleared"
        assert bot.label() == 12
        answers.append({row["prompt"]: row["chosen"] for row in req.export_labels(c["id"])})
    assert answers[0] == answers[1]
    assert len(set(answers[0].values())) == 2
