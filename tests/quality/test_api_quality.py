"""Quality control end to end through the HTTP API: gold upload, exam, rejection, ledger,
what annotators and owners see, flags, export weights."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from market import ledger
from market.quality import acceptance
from market.client import MarketError
from market.tables import Campaign, Item, Label, LedgerEntry
from tests.quality.conftest import QC_CAMPAIGN, account, honest, pairs


def wrong(assignment: dict) -> str:
    return "b" if honest(assignment) == "a" else "a"


def gold_share_by_annotator(engine, label_ids: list[int]) -> dict[int, int]:
    """How many of these labels each annotator gave on gold items (the owner's truth)."""
    with Session(engine) as s:
        rows = s.exec(select(Label.annotator_id, Item.gold_check).join(Item, Item.id == Label.item_id)
                      .where(col(Label.id).in_(label_ids))).all()
    out: dict[int, int] = {}
    for annotator, is_gold in rows:
        out[annotator] = out.get(annotator, 0) + int(is_gold)
    return out


BEHAVIOUR = {"honest": honest, "adversary": wrong, "spammer": lambda a: "a"}


@pytest.fixture
def world(admin):
    """A QC campaign (4 gold answers before judging, bar 0.65, confidence 0.8, rounds of
    24 units) with 40 items and 12 gold items, and six annotators: three honest, two
    adversaries, one always-"a" spammer."""
    req = account(admin, "req", "requester")
    c = req.create_campaign(**(QC_CAMPAIGN | {"round_size": 24}))
    req.upload_items(c["id"], pairs(40))
    req.upload_items(c["id"], pairs(12, start=100, gold=True))
    kinds = ["honest"] * 3 + ["adversary"] * 2 + ["spammer"]
    anns = [(kind, account(admin, f"{kind}{i}", "annotator")) for i, kind in enumerate(kinds)]
    return req, c, anns


def play_round(req, c, anns, asks=None, capacity=4) -> tuple[dict, list[dict]]:
    """Open a round, everyone bids, close, everyone labels its way."""
    r = req.open_round(c["id"])
    for i, (_, a) in enumerate(anns):
        a.place_bid(r["id"], (asks or {}).get(i, 10 + i), capacity)
    r = req.close_round(r["id"])
    answers = []
    for kind, a in anns:
        for x in a.my_assignments(state="open"):
            answers.append({"kind": kind, **a.submit_label(x["id"], BEHAVIOUR[kind](x))})
    return r, answers


def test_exam_then_rejection_then_exclusion(world, engine):
    req, c, anns = world
    r1, answers = play_round(req, c, anns)
    # round 1: everyone is on probation: 4 units each, half of them gold (mixed with real
    # work, so a new account cannot tell its checks either), and the gold stays hidden
    assert len(answers) == 24
    assert all(x["item_id"] is None for x in answers)
    assert all(x["choice"] in "ab" for x in answers)
    ids = [a.me()["id"] for _, a in anns]
    on_gold = gold_share_by_annotator(engine, [x["id"] for x in answers])
    assert [on_gold[i] for i in ids] == [2] * 6
    items = {it["id"]: it for it in req.list_items(c["id"])}
    # two gold answers each: nobody is judged yet, so every label is held, gold check or
    # not: not paid, not counted, its price kept in escrow until the annotator's test ends
    assert sum(it["n_labels"] for it in items.values() if not it["gold_check"]) == 0
    assert all(not x["accepted"] and x["reject_reason"] is None and x["paid_cents"] == 0 for x in answers)
    book = req.ledger(c["id"])["books"]
    assert book["paid_cents"] == 0 and book["escrowed_cents"] == r1["escrowed_cents"] > 0 and book["balanced"]

    # round 2: two more checks each; each adversary's fourth wrong answer proves it below
    # the bar, and that label and its later ones are rejected at once; the honest pass
    # (4 right of 4); when the round settles, the held labels of both are decided: the
    # honest annotators' paid, the adversaries' rejected
    r2, answers2 = play_round(req, c, anns)
    rejected_now = [x for x in answers2 if x["reject_reason"] is not None]
    assert rejected_now and {x["kind"] for x in rejected_now} <= {"adversary", "spammer"}
    done = {kind + str(i): a.my_assignments(state="done") for i, (kind, a) in enumerate(anns)}
    for name, work in done.items():
        labels = [x["label"] for x in work]
        assert len(labels) == 8
        if name.startswith("honest"):
            assert all(lab["accepted"] and lab["paid_cents"] > 0 for lab in labels)
        if name.startswith("adversary"):
            assert not any(lab["accepted"] for lab in labels)
            assert all(lab["reject_reason"] == acceptance.REASON and lab["paid_cents"] == 0 for lab in labels)
    rejected = [x["label"] for work in done.values() for x in work if x["label"]["reject_reason"] is not None]
    for x in rejected:
        # the annotator is told why, and nothing measured from gold (no count, no accuracy)
        assert not any(ch.isdigit() for ch in x["reject_reason"])

    # the ledger records why for the requester: a release naming the label, with the figures
    book = req.ledger(c["id"])
    notes = [e for e in book["entries"] if e["reason"] == "release" and e["label_id"] is not None]
    assert sorted(e["label_id"] for e in notes) == sorted(x["id"] for x in rejected)
    assert all("accuracy on the requester's gold checks is 0." in e["note"] for e in notes)
    assert book["books"]["balanced"]
    with Session(engine) as s:
        ledger.check_campaign(s, s.get(Campaign, c["id"]))

    # the adversary sees it on its assignments and in its earnings
    adversary = anns[3][1]
    assert all(x["item_id"] is None for x in done["adversary3"])
    assert adversary.earnings()["rejected_labels"] == 8 and adversary.earnings()["pending_cents"] == 0

    # round 3: adversaries take no part
    r3, answers3 = play_round(req, c, anns)
    assert "bids below the quality bar took no part" in r3["reason"]
    assert {x["kind"] for x in answers3} <= {"honest", "spammer"}
    assert all(x["accepted"] for x in answers3 if x["kind"] == "honest")


def test_a_hold_that_outlasts_its_limit_is_decided_on_the_evidence_so_far(world, admin, engine, monkeypatch):
    """Accounts that stop mid-test would leave their held labels, and their escrow, held
    for ever once the campaign has no settlement left. After ``limits.HOLD_LIMIT_S`` the
    sweeper decides them: paid only on an exam's worth of gold answers (``min_gold_answers``,
    4 here) whose posterior mean clears the bar. An account that slipped once and then
    stopped while still on probation (3 right of 4: not yet qualified, mean 5/7) is paid;
    the others stopped after 2 answers, too few to pay for, right or wrong."""
    from datetime import timedelta

    from market import clock, limits
    from market import round as rounds

    req, c, anns = world
    slipped = {"first": True}

    def slip(assignment: dict) -> str:  # wrong on its first gold check (gold prompts are numbered from 100)
        if int(assignment["prompt"].split()[-1]) >= 100 and slipped.pop("first", False):
            return wrong(assignment)
        return honest(assignment)

    BEHAVIOUR["slip"] = slip
    try:
        # the spammer makes way (six bids of 4 fill a round of 24)
        anns = [(kind, a) for kind, a in anns if kind != "spammer"] + [("slip", account(admin, "slip", "annotator"))]
        play_round(req, c, anns)  # everyone on probation: 2 gold answers each, all labels held
        play_round(req, c, anns[-1:])  # only the slipper comes back: 4 gold answers, 3 right
    finally:
        del BEHAVIOUR["slip"]
    assert gold_share_by_annotator(engine, [x["label"]["id"] for x in anns[-1][1].my_assignments(state="done")]) == {
        anns[-1][1].me()["id"]: 4}
    book = req.ledger(c["id"])["books"]
    assert book["paid_cents"] == 0 and book["escrowed_cents"] > 0  # every label still held

    def sweep() -> None:
        with Session(engine, expire_on_commit=False) as s:
            rounds.decide_expired_holds(s)

    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + timedelta(seconds=limits.HOLD_LIMIT_S - 3600))
    sweep()  # an hour before the limit: nothing changes
    assert req.ledger(c["id"])["books"] == book

    monkeypatch.setattr(clock, "now", lambda: real() + timedelta(seconds=limits.HOLD_LIMIT_S + 1))
    sweep()
    book = req.ledger(c["id"])["books"]
    assert book["escrowed_cents"] == 0 and book["paid_cents"] > 0 and book["balanced"]
    for kind, a in anns:
        labels = [x["label"] for x in a.my_assignments(state="done")]
        if kind == "slip":
            assert len(labels) == 8 and all(lab["accepted"] and lab["paid_cents"] > 0 for lab in labels)
        else:
            assert len(labels) == 4 and all(lab["reject_reason"] == acceptance.REASON for lab in labels)
    with Session(engine) as s:
        ledger.check_campaign(s, s.get(Campaign, c["id"]))
    sweep()  # nothing is decided, or paid, twice
    assert req.ledger(c["id"])["books"] == book


def test_owner_sees_skill_flags_and_weights(admin):
    """Without a bar nobody is rejected, but the owner still sees who is what."""
    req = account(admin, "req", "requester")
    c = req.create_campaign(**(QC_CAMPAIGN | {"min_gold_answers": 3, "quality_bar": None}))
    req.upload_items(c["id"], pairs(60))
    req.upload_items(c["id"], pairs(12, start=100, gold=True))
    kinds = ["honest"] * 3 + ["adversary"] * 2 + ["spammer"]
    anns = [(kind, account(admin, f"{kind}{i}", "annotator")) for i, kind in enumerate(kinds)]
    colluding = {3: 17, 5: 17}  # an adversary and the spammer always ask the same
    for _ in range(4):
        play_round(req, c, anns, asks=colluding, capacity=3)
    quality = admin.campaign_quality(c["id"])
    by_id = {a["annotator_id"]: a for a in quality["annotators"]}
    ids = [a.me()["id"] for _, a in anns]
    assert {by_id[i]["status"] for i in ids} == {"qualified"}
    assert min(by_id[i]["quality"] for i in ids[:3]) > 0.5 > by_id[ids[5]]["quality"]
    assert by_id[ids[3]]["quality"] == by_id[ids[4]]["quality"] == pytest.approx(0.05)
    assert by_id[ids[5]]["choices"] == {"a": 12} and by_id[ids[5]]["rejected"] == 0

    flags = req.campaign_flags(c["id"])
    kinds = {(f["kind"], tuple(f["annotator_ids"])) for f in flags}
    assert ("similar_bids", (ids[3], ids[5])) in kinds
    assert ("degenerate_labels", (ids[5],)) in kinds
    assert {k for k, who in kinds if who in ((ids[3],), (ids[4],))} <= {"gold_at_chance", "gold_inverted"}
    assert {who for k, who in kinds if k.startswith("gold_")} == {(ids[3],), (ids[4],)}
    assert admin.all_flags() == flags  # admins see every campaign's flags

    rows = req.export_labels(c["id"])
    gold_ids = {it["id"] for it in req.list_items(c["id"]) if it["gold_check"]}
    assert rows and not {r["item_id"] for r in rows} & gold_ids
    for r in rows:
        assert 0.5 < r["weight"] < 1.5 and r["weight"] == pytest.approx(0.5 + r["soft_label"])
        assert r["aggregation"] == "skill" and r["votes"] == 1
    honest_rows = [r for r in rows if r["annotator_id"] in ids[:3]]
    spam_rows = [r for r in rows if r["annotator_id"] == ids[5]]
    assert min(r["weight"] for r in honest_rows) > max(r["weight"] for r in spam_rows)

    soft = req.soft_labels(c["id"], aggregation="ds")
    assert soft and all(0 < s["p_a"] < 1 and s["aggregation"] == "ds" for s in soft)


def test_who_may_see_quality(world, admin):
    req, c, anns = world
    annotator = anns[0][1]
    other = account(admin, "other-req", "requester")
    for view in ("campaign_quality", "campaign_flags"):
        with pytest.raises(MarketError) as e:
            getattr(annotator, view)(c["id"])
        assert e.value.status == 404  # annotators see no campaigns
        with pytest.raises(MarketError) as e:
            getattr(other, view)(c["id"])
        assert e.value.status == 404
    with pytest.raises(MarketError) as e:
        annotator.all_flags()
    assert e.value.status == 403
    r, _ = play_round(req, c, anns)
    gold_ids = {it["id"] for it in req.list_items(c["id"]) if it["gold_check"]}
    assert not set(req.get_round(r["id"])["item_ids"]) & gold_ids  # gold is never offered as such


def test_mark_gold_route(admin):
    req = account(admin, "req", "requester")
    c = req.create_campaign(**QC_CAMPAIGN)
    req.upload_items(c["id"], pairs(4))
    ids = [it["id"] for it in req.list_items(c["id"])]
    assert req.mark_gold(c["id"], {ids[0]: "a"}) == {"updated": 1}
    marked = {it["id"]: it for it in req.list_items(c["id"])}[ids[0]]
    assert (marked["gold_check"], marked["gold"]) == (True, "a")
    for answers in ({ids[1]: "tie"}, {10**6: "a"}, {}):
        with pytest.raises(MarketError) as e:
            req.mark_gold(c["id"], answers)
        assert e.value.status == 422
    # once offered, an item can no longer become gold
    req.open_round(c["id"])
    with pytest.raises(MarketError) as e:
        req.mark_gold(c["id"], {ids[1]: "a"})
    assert e.value.status == 409


def test_upload_gold_check_needs_an_answer(admin):
    req = account(admin, "req", "requester")
    c = req.create_campaign(**QC_CAMPAIGN)
    bad = '{"prompt": "p", "completion_a": "x", "completion_b": "y", "gold_check": true}\n'
    with pytest.raises(MarketError) as e:
        req.upload_items(c["id"], bad)
    assert e.value.status == 422 and "line 1" in e.value.detail
    trl = '{"prompt": "p", "chosen": "good", "rejected": "bad", "gold_check": true}\n'
    assert req.upload_items(c["id"], trl)["imported"] == 1
    it = req.list_items(c["id"])[0]
    assert it["gold_check"] and (it["completion_a"] if it["gold"] == "a" else it["completion_b"]) == "good"


def test_campaign_quality_settings_are_checked(admin):
    req = account(admin, "req", "requester")
    for bad in ({"gold_rate": 1.0}, {"gold_rate": -0.1}, {"quality_bar": 0.5}, {"quality_bar": 1.2},
                {"min_gold_answers": 0}, {"probation_share": 0}, {"quality_bar": 0.7, "gold_rate": 0.0}):
        with pytest.raises(MarketError) as e:
            req.create_campaign(**(QC_CAMPAIGN | bad))
        assert e.value.status == 422, bad
    c = req.create_campaign(**QC_CAMPAIGN)
    assert (c["gold_rate"], c["quality_bar"], c["min_gold_answers"]) == (0.25, 0.65, 4)


def test_without_quality_control_nothing_changes(admin, engine):
    """A campaign without gold (the default) pays every label and shows item ids."""
    req = account(admin, "req", "requester")
    c = req.create_campaign(**(QC_CAMPAIGN | {"gold_rate": 0.0, "quality_bar": None}))
    req.upload_items(c["id"], pairs(10))
    anns = [("adversary", account(admin, f"a{i}", "annotator")) for i in range(2)]
    _, answers = play_round(req, c, anns)
    assert len(answers) == 8 and all(x["accepted"] and x["item_id"] is not None for x in answers)
    with Session(engine) as s:
        assert not s.exec(select(LedgerEntry).where(LedgerEntry.note != None)).all()  # noqa: E711


def test_a_requesters_next_campaign_carries_the_gold_records_it_asks_for(admin):
    """Vetting is paid once: with ``gold_carry`` the requester's earlier campaign vouches
    for its honest annotator (provisional at once: half its work gold, not all of it) and
    keeps its adversary out; at 0, or on another requester's campaign, everyone starts on
    probation again."""
    req, other = account(admin, "req", "requester"), account(admin, "other", "requester")
    anns = [("honest", account(admin, "h", "annotator")), ("adversary", account(admin, "x", "annotator"))]

    def campaign(owner, **terms):
        c = owner.create_campaign(**(QC_CAMPAIGN | terms))
        owner.upload_items(c["id"], pairs(20))
        owner.upload_items(c["id"], pairs(12, start=100, gold=True))
        return c

    first = campaign(req)
    for _ in range(2):
        _, answers = play_round(req, first, anns)
        assert len(answers) == 8  # probation: two gold checks in four units each round; judged after four
    judged = {a["annotator_id"]: a["status"] for a in req.campaign_quality(first["id"])["annotators"]}
    assert sorted(judged.values()) == ["below_bar", "provisional"]

    carried = campaign(req, gold_carry=1.0)
    _, answers = play_round(req, carried, anns)
    # the honest annotator is provisional from the start (two of its four units gold, two
    # training labels); the adversary's bid takes no part, so it gets no work at all
    assert [x["kind"] for x in answers] == ["honest"] * 4
    items = {it["id"]: it for it in req.list_items(carried["id"])}
    assert sum(it["n_labels"] for it in items.values() if not it["gold_check"]) == 2
    seen = {a["annotator_id"]: a for a in req.campaign_quality(carried["id"])["annotators"]}
    honest_id = next(i for i, a in seen.items() if a["status"] != "below_bar")
    assert seen[honest_id]["carried_answers"] == 4.0 and seen[honest_id]["gold_answers"] == 2
    assert seen[honest_id]["alpha"] == 2.0 + 4 + 2  # prior, four carried right answers, two here
    assert req.campaign_quality(carried["id"])["gold_carry"] == 1.0

    for fresh in (campaign(req), campaign(other, gold_carry=1.0)):  # carry 0; another requester's campaign
        owner = req if fresh["owner_id"] == first["owner_id"] else other
        _, answers = play_round(owner, fresh, anns)
        assert len(answers) == 8  # both on probation again: half their work gold checks
        assert all(a["carried_answers"] == 0 for a in owner.campaign_quality(fresh["id"])["annotators"])
        # half of probation's work is real, and all of it is held until the test ends
        assert sum(it["n_labels"] for it in owner.list_items(fresh["id"]) if not it["gold_check"]) == 0
        assert all(not x["accepted"] and x["reject_reason"] is None for x in answers)


def test_gold_carry_is_checked_and_named(admin):
    req = account(admin, "req", "requester")
    for bad in ({"gold_carry": 1.5}, {"gold_carry": -0.1}, {"gold_carry": "lots"},
                {"gold_carry": 0.5, "gold_rate": 0.0, "quality_bar": None}):
        with pytest.raises(MarketError) as e:
            req.create_campaign(**(QC_CAMPAIGN | bad))
        assert e.value.status == 422 and "gold_carry" in str(e.value), bad
    assert req.list_campaigns() == []
