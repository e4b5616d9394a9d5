import json

import numpy as np
import pytest

from bidders.bots import register_bots, run_bots
from bidders.population import PopulationConfig, sample_population
from bidders.replay import ReplayError, clear_round, load_rounds, replay, replay_summary
from bidders.strategies import StrategyConfig
from market.mechanisms import RULES


def rows(asks, values, budget, rule="second_price", capacity=None, units=None, quality=None, price=None,
         paid=None):
    n = len(asks)
    capacity = capacity or [1] * n
    units = units or [min(c, len(values)) for c in capacity]
    return [{"round_id": 1, "annotator_id": 100 + i, "ask_cents": a, "capacity": capacity[i], "units": units[i],
             "quality": (quality or [1.0] * n)[i], "rule": rule, "values_cents": values,
             "budget_cents": budget, "price_cents": price, "paid_cents": (paid or [[]] * n)[i]}
            for i, a in enumerate(asks)]


# Hand-cleared rounds, in cents: (rows, rule, each bid's payments)
CASES = [
    # K = 2 cheapest; price = min(next ask 30, 2nd value 50)
    (rows([10, 20, 30], [50, 50], 1000), "second_price", [[30], [30], []]),
    # K = 3 (30 <= min(60, 100/3)); price = B/3 = 33.33 -> 33 cents, total 99 <= 100
    (rows([10, 20, 30, 40], [60] * 4, 100), "budget_feasible", [[33], [33], [33], []]),
    # effective asks 10, 24, 30; threshold 30 in effective units; paid q * 30
    (rows([10, 12, 30], [100, 100], 1000, quality=[1.0, 0.5, 1.0]), "quality_second_price", [[30], [15], []]),
    # pay as bid while the running total fits the budget of 35: 10 + 20, then 30 does not fit
    (rows([20, 10, 30], [50] * 3, 35), "first_price", [[20], [10], []]),
    # posted 25: asks at or under it accept, in arrival order, up to floor(60 / 25) = 2
    (rows([25, 5, 10], [50] * 3, 60, price=25), "posted_price", [[25], [25], []]),
    # capacity 3 against demand 2 offers only 2 units, so the rival's 40 sets the price
    (rows([5, 40], [50, 50], 1000, capacity=[3, 1]), "second_price", [[40, 40], []]),
    # the same bid entered with 1 unit (one item it may still take): all three win at v_3
    (rows([5, 40, 45], [50] * 3, 1000, capacity=[3, 1, 1], units=[1, 1, 1]), "second_price",
     [[50], [50], [50]]),
]


@pytest.mark.parametrize("logged, rule, expected", CASES)
def test_clearing_a_logged_round_matches_the_hand_computed_cents(logged, rule, expected):
    (rnd,) = load_rounds(logged)
    assert clear_round(rnd, rule) == expected


def test_replaying_the_live_rule_reports_a_match_and_a_mismatch():
    logged = rows([10, 20, 30], [50, 50], 1000, paid=[[30], [30], []])
    table = replay(load_rounds(logged))
    assert table[table["live"]]["matches"].all()
    assert set(table["rule"]) == set(RULES) - {"posted_price"}  # no price known for it
    tampered = rows([10, 20, 30], [50, 50], 1000, paid=[[31], [30], []])
    assert not replay(load_rounds(tampered))[lambda t: t["live"]]["matches"].all()


@pytest.mark.parametrize("field", ["values_cents", "paid_cents", "rule", "units"])
def test_a_row_missing_a_field_is_refused_naming_it(field):
    logged = rows([10, 20], [50], 100)
    del logged[1][field]
    with pytest.raises(ReplayError, match=field):
        load_rounds(logged)


def test_rows_of_a_round_must_agree_on_its_terms():
    logged = rows([10, 20], [50], 100)
    logged[1]["budget_cents"] = 99
    with pytest.raises(ReplayError, match="budget_cents"):
        load_rounds(logged)


@pytest.mark.parametrize("rule", RULES)
def test_replay_reproduces_the_live_markets_clearing_to_the_cent(admin, rule):
    """Bots bid in the real market; its export, replayed under the live rule, pays every
    bid exactly what the market paid it."""
    req = admin.with_token(admin.create_account("req", "requester")["token"])
    c = req.create_campaign(name="c", budget_cents=3000, max_price_cents=60, rule=rule, labels_per_item=1,
                            round_size=6, round_budget_cents=100, round_duration_s=300, posted_price_cents=30)
    req.upload_items(c["id"], "".join(
        json.dumps({"prompt": f"Review {i}", "completion_a": "A great film!", "completion_b": "A dull film."}) + "\n"
        for i in range(18)))
    req.post_scores(c["id"], {it["id"]: 1.0 + (it["id"] * 7919 % 13) / 13 for it in req.list_items(c["id"])})
    rng = np.random.default_rng(RULES.index(rule))
    population = sample_population(PopulationConfig(size=7, capacity_max=3), rng)
    bots = register_bots(admin, population, StrategyConfig(truthful=1, markup=1, learner=1), rng)
    for _ in range(3):
        r = req.open_round(c["id"])
        run_bots(bots)
        req.close_round(r["id"])
        run_bots(bots)

    logged = req.campaign_bids(c["id"])
    assert logged and {row["round_id"] for row in logged} >= {1, 2, 3}
    _complete_from_public_api(logged, req, bots, c)
    table = replay(load_rounds(logged), rules=(rule,))
    assert table["matches"].all(), table[~table["matches"].astype(bool)]
    assert table["paid_cents"].sum() == req.campaign_summary(c["id"])["spent_cents"]
    summary = replay_summary(table)
    assert summary["reproduces_live"].all()


def _complete_from_public_api(logged, req, bots, campaign):
    """Fill the round fields the export does not carry yet from what the API shows:
    values as the market computes them (max price × score / best score of the round),
    the round's budget, each bid's units (one per item: every item here is fresh and
    wants one label) and each bid's assignment prices (seen by its bot)."""
    scores = {it["id"]: it["score"] for it in req.list_items(campaign["id"])}
    paid = {}
    for bot in bots:
        me = bot.client.me()["id"]
        for a in bot.client.my_assignments():
            paid.setdefault((a["round_id"], me), []).append(a["price_cents"])
    for row in logged:
        rnd = req.get_round(row["round_id"])
        s = [scores[i] for i in rnd["item_ids"]]
        row.setdefault("rule", rnd["rule"])
        row.setdefault("values_cents", [rnd["max_price_cents"] * x / max(s) for x in s])
        row.setdefault("budget_cents", rnd["budget_cents"])
        row.setdefault("price_cents", rnd["posted_price_cents"])
        row.setdefault("units", min(row["capacity"], len(rnd["item_ids"])))
        row.setdefault("paid_cents", paid.get((row["round_id"], row["annotator_id"]), []))


def test_replay_agrees_with_the_live_clearing_when_the_budget_fallback_fires(admin, monkeypatch):
    """No shipped rule overspends beyond float error, so the test stands in one that does:
    second price with its budget cap lifted. Three units win at 60 cents against a round
    budget of 100, the asks leave too little slack to cut, and the fallback keeps only the
    cheapest winner. The live round and its replay must pay every bid the same cents."""
    import market.mechanisms.bids as bids_step

    real = bids_step.clear
    monkeypatch.setattr(bids_step, "clear", lambda rule, asks, **kw: real(rule, asks, **{**kw, "budget": None}))

    req = admin.with_token(admin.create_account("req", "requester")["token"])
    c = req.create_campaign(name="c", budget_cents=1000, max_price_cents=60, rule="second_price", labels_per_item=1,
                            round_size=3, round_budget_cents=100, round_duration_s=300)
    req.upload_items(c["id"], "".join(
        json.dumps({"prompt": f"Review {i}", "completion_a": "A great film!", "completion_b": "A dull film."}) + "\n"
        for i in range(3)))
    req.post_scores(c["id"], {it["id"]: 1.0 for it in req.list_items(c["id"])})  # every unit worth 60 cents
    r = req.open_round(c["id"])
    for i, ask in enumerate((58, 50, 55)):
        admin.with_token(admin.create_account(f"a{i}", "annotator")["token"]).place_bid(r["id"], ask)
    closed = req.close_round(r["id"])
    assert "dropped to fit the budget" in closed["reason"]

    logged = req.campaign_bids(c["id"])
    live = {row["annotator_id"]: row["paid_cents"] for row in logged}
    assert sorted(live.values()) == [[], [], [60]]  # the cheapest ask (50) is the one paid

    (rnd,) = load_rounds(logged)
    replayed = clear_round(rnd, "second_price")
    assert {int(a): paid for a, paid in zip(rnd.annotator_id, replayed, strict=True)} == live
    assert replay(load_rounds(logged), rules=("second_price",))["matches"].all()
    assert req.campaign_summary(c["id"])["escrowed_cents"] == 60
