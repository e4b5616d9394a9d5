"""Quality control in the portal against the real API (AppTest): an annotator sees why a
label was rejected; a campaign's owner (and an admin) sees skill, status, flags, spend by
status and rejected labels by reason."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from market.client import MarketClient
from market.quality import acceptance
from tests.ui.apptest import can_open, click, errors, goto, metric, signed_in, texts
from tests.quality.conftest import pairs as qc_pairs_jsonl  # pairs with a known better side, and gold
from tests.ui.live import QC_CAMPAIGN

_names = itertools.count()
BELOW_BAR = "below the quality bar"


def honest(assignment: dict) -> str:
    return "a" if assignment["completion_a"].startswith("good") else "b"


def wrong(assignment: dict) -> str:
    return "b" if honest(assignment) == "a" else "a"


GOLD_FROM = 100  # the gold pairs are movies 100 and up (tests.quality.conftest.pairs' numbering)


def is_gold(assignment: dict) -> bool:
    """Whether the test's own data made this a gold pair (the annotator is not told; the
    test knows which movies it uploaded as gold)."""
    return int(assignment["prompt"].rsplit(" ", 1)[1]) >= GOLD_FROM


@dataclass
class QcCampaign:
    requester: MarketClient
    requester_acct: dict
    adversary: MarketClient
    adversary_acct: dict
    adversary_id: int
    campaign: dict
    rounds: list[dict]

    @property
    def price(self) -> int:
        """The clearing price (the same bids clear at the same price in both rounds)."""
        [price] = {r["clearing_price_cents"] for r in self.rounds}
        return price


def play(api, *, last_label: bool = True) -> QcCampaign:
    """A quality-controlled campaign's first two rounds: two honest annotators and one who
    always answers wrong win 4 units each per round. Everyone starts on probation, where
    half the work is gold checks (2 of 4 units) and half real work, so nobody is judged
    after round 1, and all of it is held until the test ends. The adversary labels its
    real work before its gold, so its fourth wrong gold answer, the one that judges it
    below the bar, is its last label of round 2, rejected at once (unless ``last_label``
    is False: then it is left open, for the portal to submit); its seven held labels are
    rejected when round 2 settles. The honest pass 4 of 4, are provisional, and their held
    labels are paid."""
    req, req_acct = api.account("requester")
    c = req.create_campaign(name=f"qc films {next(_names)}", **QC_CAMPAIGN)
    req.upload_items(c["id"], qc_pairs_jsonl(40))
    req.upload_items(c["id"], qc_pairs_jsonl(12, start=GOLD_FROM, gold=True))
    people = [(honest, *api.account("annotator")), (honest, *api.account("annotator")),
              (wrong, *api.account("annotator"))]
    rounds = []
    for n in (1, 2):
        r = req.open_round(c["id"])
        for i, (_, who, _) in enumerate(people):
            who.place_bid(r["id"], 10 + i, 4)
        r = req.close_round(r["id"])
        assert r["n_assignments"] == 12, r
        rounds.append(r)
        for answer, who, _ in people:
            work = sorted(who.my_assignments(state="open"), key=is_gold)
            assert sum(map(is_gold, work)) == 2, work  # probation: half gold, half real work
            if answer is wrong and n == 2 and not last_label:
                work = work[:-1]
            for a in work:
                who.submit_label(a["id"], answer(a))
    _, adversary, adversary_acct = people[-1]
    return QcCampaign(req, req_acct, adversary, adversary_acct, adversary.me()["id"], c, rounds)


@pytest.fixture
def qc(api) -> QcCampaign:
    return play(api)


def _frames(at) -> list:
    """Every table on the page (interactive dataframes and static tables)."""
    return [d.value for d in at.dataframe] + [t.value for t in at.table]


def test_annotator_earnings_show_each_rejected_label_and_why(api_env, qc):
    at = signed_in(qc.adversary_acct["token"])
    goto(at, "earnings")
    price = qc.price
    # all its work was won on probation and held; its test failed, so none of it is paid
    assert metric(at, "Labels accepted") == "0" and metric(at, "Labels rejected") == "8"
    assert metric(at, "Not paid (rejected)") == f"${8 * price / 100:.2f}"
    assert any("8 of your labels were rejected" in w for w in texts(at.warning)), texts(at.warning)
    rejected = [a for a in qc.adversary.my_assignments(state="done") if not a["label"]["accepted"]]
    assert len(rejected) == 8
    reason = rejected[0]["label"]["reject_reason"]
    assert {a["label"]["reject_reason"] for a in rejected} == {acceptance.REASON}  # nothing measured from gold
    assert not any(ch.isdigit() for ch in reason)
    frames = _frames(at)
    by_reason = next(f for f in frames if list(f.columns) == ["reason", "labels", "not paid"])
    assert by_reason.to_dict("records") == [{"reason": BELOW_BAR, "labels": 8, "not paid": f"${8 * price / 100:.2f}"}]
    each = next(f for f in frames if "assignment" in f.columns and "reason" in f.columns)
    assert each.set_index("assignment").loc[rejected[0]["id"], "reason"] == reason
    history = next(f for f in frames if "why not paid" in f.columns)
    assert history.set_index("assignment").loc[rejected[0]["id"], "why not paid"] == reason
    assert (history["status"] == "accepted").sum() == 0


def test_a_rejected_label_is_a_warning_with_its_reason_on_the_label_page(api_env, api):
    game = play(api, last_label=False)
    [last] = game.adversary.my_assignments(state="open")
    at = signed_in(game.adversary_acct["token"])
    goto(at, "label")
    click(at, "A is better" if wrong(last) == "a" else "B is better")
    assert not at.success, texts(at.success)
    [warning] = texts(at.warning)
    assert f"but not accepted, so it is not paid. Why: {acceptance.REASON}" in warning
    assert "accuracy" not in warning  # the figures are the requester's (the ledger note), not the annotator's
    [done] = [a for a in game.adversary.my_assignments(state="done") if a["id"] == last["id"]]
    assert not done["label"]["accepted"]


def test_owner_sees_the_annotator_below_the_bar_its_flag_and_rejections_by_reason(api_env, qc):
    at = signed_in(qc.requester_acct["token"])
    goto(at, "quality")
    assert not errors(at), errors(at)
    assert at.title[0].value == "Quality"
    assert metric(at, "Annotators") == "3" and metric(at, "Qualified") == "2"
    assert metric(at, "Below the bar") == "1" and metric(at, "Labels rejected") == "8"
    price = qc.price
    assert metric(at, "Not paid (rejected)") == f"${8 * price / 100:.2f}"
    frames = _frames(at)
    people = next(f for f in frames if "gold answered" in f.columns).set_index("annotator")
    me = people.loc[f"#{qc.adversary_id}"]
    assert me["status"] == "below the bar" and me["gold answered"] == 4 and me["rejected"] == 8
    assert me["accuracy"] < 0.65 and "gold answered at chance" in me["flags"]
    assert me["paid"] == "$0.00"  # its work was held while on probation, and rejected when its test failed
    assert people.index[0] == f"#{qc.adversary_id}"  # worst first
    assert set(people["status"]) == {"below the bar", "provisional"}  # passed 4 of 4: on the leash

    by_status = next(f for f in frames if "share of spend" in f.columns).set_index("status")
    assert by_status.loc["below the bar", "paid labels"] == 0
    assert by_status.loc["provisional", "paid labels"] == 16 and by_status.loc["provisional", "share of spend"] == "100%"

    flags = next(f for f in frames if "flag" in f.columns)
    assert flags.to_dict("records")[0]["annotators"] == f"#{qc.adversary_id}"
    assert flags["flag"].tolist() == ["gold answered at chance"]

    by_reason = next(f for f in frames if list(f.columns) == ["reason", "labels", "not paid"])
    assert by_reason["reason"].tolist() == [BELOW_BAR] and by_reason["labels"].tolist() == [8]
    each = next(f for f in frames if "label" in f.columns and "reason" in f.columns)
    assert len(each) == 8 and all(r.startswith(f"{BELOW_BAR}: accuracy") for r in each["reason"])  # the notes' figures
    assert len(at.get("vega_lite_chart")) == 2  # skill, and accepted against rejected per round


def test_the_dashboard_links_to_quality_and_both_share_the_campaign(api_env, qc):
    at = signed_in(qc.requester_acct["token"])
    goto(at, "dashboard")
    assert at.session_state["dashboard_campaign"] == qc.campaign["id"]
    assert any(link.label.startswith("Quality control") for link in at.get("page_link"))
    goto(at, "quality")
    assert at.selectbox(key="dashboard_campaign").value == qc.campaign["id"]


def test_admin_sees_quality_without_the_owners_ledger(api_env, api, qc):
    _, admin_acct = api.account("admin")
    at = signed_in(admin_acct["token"])
    goto(at, "quality")
    at.selectbox(key="dashboard_campaign").select(qc.campaign["id"]).run()
    assert not errors(at), errors(at)
    people = next(f for f in _frames(at) if "gold answered" in f.columns).set_index("annotator")
    assert people.loc[f"#{qc.adversary_id}", "status"] == "below the bar"
    assert any("only its owner may read" in c for c in texts(at.caption))
    assert any(e.label.startswith("Integrity flags in every campaign") for e in at.expander)


def test_quality_is_off_without_gold_and_only_owners_and_admins_have_the_page(api_env, market):
    at = signed_in(market.requester_acct["token"])
    goto(at, "quality")
    assert not errors(at), errors(at)
    assert any("Quality control is off" in m for m in texts(at.markdown))
    assert any("Nobody has bid on or labelled" in c for c in texts(at.caption))
    assert "Spend by status" not in texts(at.subheader)  # statuses mean nothing without gold checks
    assert metric(at, "Spend") == "$0.00"
    assert not any(link.label.startswith("Quality control") for link in at.get("page_link"))
    annotator = signed_in(market.annotator_acct["token"])
    assert not can_open(annotator, "quality")
