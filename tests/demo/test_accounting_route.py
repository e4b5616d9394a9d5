"""GET /v1/campaigns/{id}/accounting: a metric's curve, cents per point and to a target, payments, the
baseline comparison, bad parameters, access."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from market import accounts, db
from market.api.app import create_app
from market.client import MarketClient, MarketError


@pytest.fixture
def admin(database_url):
    engine = db.make_engine(database_url)
    db.init_db(engine)
    with db.session_scope(engine) as s:
        _, token = accounts.create_account(s, "root", "admin")
        s.commit()
    with TestClient(create_app(engine), raise_server_exceptions=False) as http:
        yield MarketClient("http://testserver", token, transport=http)
    engine.dispose()


def _as(admin, name, role):
    acct = admin.create_account(name, role)
    return admin.with_token(acct["token"]), acct["id"]


def _campaign_with_a_paid_round(req, annotators, asks, rule="second_price"):
    c = req.create_campaign(name=rule, budget_cents=1000, max_price_cents=50, rule=rule, round_size=4,
                            posted_price_cents=30 if rule == "posted_price" else None)
    req.upload_items(c["id"], "".join(json.dumps({"prompt": f"p{i}", "completion_a": "Great!", "completion_b": "Bad."})
                                      + "\n" for i in range(4)))
    r = req.open_round(c["id"])
    for ann, ask in zip(annotators, asks, strict=True):
        ann.place_bid(r["id"], ask, capacity=2)
    req.close_round(r["id"])
    for ann in annotators:
        for a in ann.my_assignments(state="open"):
            ann.submit_label(a["id"], "a")
    return c, r


def test_accounting_reports_the_curve_the_price_per_point_and_who_was_paid(admin):
    req, _ = _as(admin, "req", "requester")
    anns = [_as(admin, f"a{i}", "annotator") for i in range(3)]
    camp, r1 = _campaign_with_a_paid_round(req, [a for a, _ in anns], [10, 12, 40])
    base, r2 = _campaign_with_a_paid_round(req, [a for a, _ in anns], [10, 12, 40], rule="posted_price")
    spent = req.campaign_summary(camp["id"])["spent_cents"]
    assert spent > 0
    req.post_evaluation(camp["id"], round_id=r1["id"], spend_cents=spent, win_rate=0.62, ci_low=0.55, ci_high=0.69, n=100)
    base_spent = req.campaign_summary(base["id"])["spent_cents"]
    req.post_evaluation(base["id"], round_id=r2["id"], spend_cents=base_spent, win_rate=0.54, ci_low=0.47, ci_high=0.61,
                        n=100)

    acc = req.accounting(camp["id"], compare_to=base["id"])
    assert acc["metric"] == "win_rate"
    origin, measured = acc["curve"][0], acc["curve"][1:]
    assert origin == {"round_id": None, "spend_cents": 0, "value": 0.5, "ci_low": 0.5, "ci_high": 0.5, "n": 0,
                      "measured": False}
    assert [p["value"] for p in measured] == [0.62] and measured[0]["measured"] and acc["final"] == measured[0]
    assert acc["cents_per_point"] == pytest.approx(spent / 12)
    # 60% is reached on the way from the origin (0, 0.50) to (spent, 0.62): ten twelfths of the way
    assert acc["target"] == 60 and acc["cents_to_target"] == pytest.approx(spent * 10 / 12)
    assert acc["spent_cents"] == spent and acc["labels"] == 4
    paid = acc["paid_by_annotator"]
    assert sum(p["cents"] for p in paid) == spent and sum(p["labels"] for p in paid) == 4
    assert {p["annotator_id"] for p in paid} <= {i for _, i in anns}
    assert anns[2][1] not in {p["annotator_id"] for p in paid}  # the 40c ask lost to two cheaper bidders

    cmp = acc["comparison"]
    assert cmp["baseline_campaign_id"] == base["id"] and cmp["beats_baseline"]  # 0.55 > 0.54
    assert cmp["baseline_cents_per_point"] == pytest.approx(base_spent / 4)
    # 0.54 is reached on the way from the origin (0, 0.50) to (spent, 0.62): a third of the way
    assert cmp["cents_to_baseline_final"] == pytest.approx(spent / 3)
    assert cmp["baseline_final_spend_cents"] == base_spent


def test_all_spend_is_charged_per_point_not_only_the_spend_at_the_last_evaluation(admin):
    """A round bought after the last evaluation still costs money: the evaluation saw
    half the spend, the figure charges all of it."""
    req, _ = _as(admin, "req", "requester")
    anns = [_as(admin, f"a{i}", "annotator")[0] for i in range(2)]
    camp, r1 = _campaign_with_a_paid_round(req, anns, [10, 12])
    spent = req.campaign_summary(camp["id"])["spent_cents"]
    req.post_evaluation(camp["id"], round_id=r1["id"], spend_cents=spent // 2, win_rate=0.60, ci_low=0.5,
                        ci_high=0.7, n=64)
    acc = req.accounting(camp["id"])
    assert acc["final"]["spend_cents"] == spent // 2
    assert acc["cents_per_point"] == pytest.approx(spent / 10)


def test_held_out_accuracy_is_priced_as_win_rate_is(admin):
    """The metric posted in an evaluation's ``metrics`` gets its own curve, cents per point
    and cents to a target; evaluations that do not carry it are not points of it."""
    req, _ = _as(admin, "req", "requester")
    anns = [_as(admin, f"a{i}", "annotator")[0] for i in range(2)]
    camp, r1 = _campaign_with_a_paid_round(req, anns, [10, 12])
    spent = req.campaign_summary(camp["id"])["spent_cents"]
    req.post_evaluation(camp["id"], round_id=r1["id"], spend_cents=spent // 2, win_rate=0.52, ci_low=0.45,
                        ci_high=0.59, n=64)  # from a worker that measures no held-out accuracy
    req.post_evaluation(camp["id"], round_id=r1["id"], spend_cents=spent, win_rate=0.55, ci_low=0.48, ci_high=0.62,
                        n=64, metrics={"heldout_accuracy": 0.75, "heldout_ci_low": 0.69, "heldout_ci_high": 0.81,
                                       "heldout_n": 200})
    acc = req.accounting(camp["id"], metric="heldout_accuracy", target=70)
    assert acc["metric"] == "heldout_accuracy"
    assert [(p["spend_cents"], p["value"], p["n"]) for p in acc["curve"]] == [(0, 0.5, 0), (spent, 0.75, 200)]
    assert (acc["final"]["ci_low"], acc["final"]["ci_high"]) == (0.69, 0.81)
    assert acc["cents_per_point"] == pytest.approx(spent / 25)
    assert acc["cents_to_target"] == pytest.approx(spent * 20 / 25)
    win = req.accounting(camp["id"])
    assert [p["value"] for p in win["curve"]] == [0.5, 0.52, 0.55]
    assert win["cents_per_point"] == pytest.approx(spent / 5)
    assert win["cents_to_target"] is None  # 60% never reached


@pytest.mark.parametrize("params, field", [({"metric": "accuracy"}, "metric"), ({"target": 50}, "target"),
                                           ({"target": 101}, "target"), ({"target": "high"}, "target")])
def test_an_unknown_metric_or_a_target_out_of_range_is_a_422_naming_it(admin, params, field):
    req, _ = _as(admin, "req", "requester")
    c = req.create_campaign(name="c", budget_cents=500, max_price_cents=50, rule="budget_feasible")
    with pytest.raises(MarketError) as exc:
        req.accounting(c["id"], **params)
    assert exc.value.status == 422 and field in exc.value.detail


def test_before_any_evaluation_there_is_only_the_origin(admin):
    req, _ = _as(admin, "req", "requester")
    c = req.create_campaign(name="c", budget_cents=500, max_price_cents=50, rule="budget_feasible")
    acc = req.accounting(c["id"])
    assert [p["measured"] for p in acc["curve"]] == [False]
    assert acc["final"] is None and acc["cents_per_point"] is None and acc["comparison"] is None
    assert acc["cents_to_target"] is None
    assert acc["paid_by_annotator"] == [] and acc["spent_cents"] == 0


def test_accounting_is_for_the_owner_its_worker_and_admins_only(admin):
    worker, worker_id = _as(admin, "w", "worker")
    req, _ = _as(admin, "req", "requester")
    other, _ = _as(admin, "other", "requester")
    mine = req.create_campaign(name="c", budget_cents=500, max_price_cents=50, rule="budget_feasible",
                               worker_id=worker_id)
    theirs = other.create_campaign(name="t", budget_cents=500, max_price_cents=50, rule="budget_feasible")
    assert worker.accounting(mine["id"])["campaign_id"] == mine["id"]
    assert admin.accounting(mine["id"], compare_to=theirs["id"])["comparison"]["baseline_campaign_id"] == theirs["id"]
    for call, status in ((lambda: other.accounting(mine["id"]), 404),
                         (lambda: req.accounting(mine["id"], compare_to=theirs["id"]), 404),
                         (lambda: req.accounting(mine["id"], compare_to=mine["id"]), 422)):
        with pytest.raises(MarketError) as exc:
            call()
        assert exc.value.status == status
