"""Gold checks cannot be told from real work by an annotator (issue 18, item 1).

An adversary holds several colluding annotator accounts and one throwaway account that
answers wrongly until it is rejected. It works honestly in every round, and scores each
assignment of its accounts for "is gold" with everything the HTTP API shows it: the
assignment ids and their order (in each account and across its accounts), the prices,
how long each label took to answer, which labels were held (work won on probation), the
reasons of rejected labels, and how often the
same prompt reached its accounts, in the same round or in others. Over more than 500
assignments the AUC of its score must stay within [0.45, 0.55], and no single sign it
reads may stray beyond [0.4, 0.6] (a single sign, being noisier, gets more room).

The campaign's gold share is 0.5, which is also the share of an unproven annotator's
work: the share an account's standing implies is public policy (``mixing``), so every
account here has the same one and the AUC measures only what tells items apart. Gold
and real pairs are written alike (as a requester must write them), and the pool has
pairs with a known answer that become gold when the gold items run out.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict

import numpy as np
from scipy.stats import mannwhitneyu
from sqlmodel import Session, select

from market.tables import Assignment, Item

WORDS = ("quiet", "loud", "slow", "bright", "odd", "warm", "sharp", "long", "brief", "gentle", "bold", "dark")
ROUNDS, ROUND_SIZE, CAPACITY = 14, 40, 10


def _pairs(rng: random.Random, n_real: int, n_known: int, n_gold: int) -> str:
    """One upload, lines in random order: real pairs, pairs with a known answer (real
    work the requester can vouch for) and gold checks, all written the same way."""
    kinds = ["real"] * n_real + ["known"] * n_known + ["gold"] * n_gold
    rng.shuffle(kinds)
    lines = []
    for i, kind in enumerate(kinds):
        film = f"{rng.choice(WORDS)} {rng.choice(WORDS)} film no. {rng.randrange(10**6)}"
        good_a = rng.random() < 0.5
        good, bad = f"good: a {film} worth seeing", f"bad: a {film} to miss"
        row = {"prompt": f"Review the {film}", "completion_a": good if good_a else bad,
               "completion_b": bad if good_a else good}
        if kind != "real":
            row["gold"] = "a" if good_a else "b"
        if kind == "gold":
            row["gold_check"] = True
        lines.append(json.dumps(row))
    return "\n".join(lines) + "\n"


def _right(x: dict) -> str:
    return "a" if x["completion_a"].startswith("good") else "b"


def _auc(score, is_gold) -> float:
    score, is_gold = np.asarray(score, dtype=float), np.asarray(is_gold, dtype=bool)
    u = mannwhitneyu(score[is_gold], score[~is_gold]).statistic
    return float(u) / (is_gold.sum() * (~is_gold).sum())


def _z(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return (v - v.mean()) / (v.std() or 1.0)


def test_an_adversary_with_colluding_accounts_cannot_tell_gold(market, engine, monkeypatch):
    monkeypatch.setenv("PREFMARKET_SECRET", "test-secret-" + "x" * 20)  # fixed draws: the figures are reproducible
    rng = random.Random(18)
    req = market.requester()
    c = req.create_campaign(name="secret gold", budget_cents=500_000, max_price_cents=50, rule="second_price",
                            labels_per_item=2, round_size=ROUND_SIZE, round_duration_s=300, gold_rate=0.5,
                            min_gold_answers=4, quality_bar=0.65, quality_confidence=0.8)
    req.upload_items(c["id"], _pairs(rng, n_real=400, n_known=300, n_gold=120))
    honest = market.annotators(4, prefix="honest")
    colluders = market.annotators(4, prefix="ring")
    throwaway = market.annotators(1, prefix="throwaway")[0]
    ring = colluders + [throwaway]

    seen: list[dict] = []  # the adversary's record: one row per assignment of its accounts
    for r in range(ROUNDS):
        rnd = req.open_round(c["id"])
        for a in honest + ring:
            a.place_bid(rnd["id"], rng.randint(10, 20), CAPACITY)
        req.close_round(rnd["id"])
        for a in honest:
            for x in a.my_assignments(state="open"):
                a.submit_label(x["id"], _right(x))
        for k, a in enumerate(ring):
            work = a.my_assignments(state="open")
            for pos, x in enumerate(work):
                answer = _right(x) if a is not throwaway else ("b" if _right(x) == "a" else "a")
                t0 = time.perf_counter()
                out = a.submit_label(x["id"], answer)
                seen.append({"id": x["id"], "account": k, "round": x["round_id"], "pos": pos / max(len(work) - 1, 1),
                             "price": x["price_cents"], "prompt": x["prompt"], "pair": (x["completion_a"], x["completion_b"]),
                             "took": time.perf_counter() - t0, "rejected": out.get("reject_reason") is not None,
                             "held": not out["accepted"] and out.get("reject_reason") is None,
                             "reason": out.get("reject_reason") or ""})
    assert len(seen) >= 500

    # the truth, which only the market knows
    with Session(engine) as s:
        gold_ids = set(s.exec(select(Assignment.id).join(Item, Item.id == Assignment.item_id)
                              .where(Assignment.campaign_id == c["id"], Item.gold_check == True)).all())  # noqa: E712
    is_gold = np.array([x["id"] in gold_ids for x in seen])
    assert 0.3 < is_gold.mean() < 0.7, is_gold.mean()

    # the adversary's signs, each oriented the way the old market leaked
    by_round = defaultdict(list)
    for x in seen:
        by_round[x["round"]].append(x)
    sightings = defaultdict(list)  # prompt -> (account, round) of every sighting
    for x in seen:
        sightings[x["prompt"]].append((x["account"], x["round"], x["pair"]))
    first_rejected = {}
    for x in seen:
        if x["rejected"] and x["account"] not in first_rejected:
            first_rejected[x["account"]] = x["id"]
    signs = {
        # gold came first, then ids counted up from the round's first row
        "early in its account's list": [-x["pos"] for x in seen],
        "low id among the ring's round": [-sorted(y["id"] for y in by_round[x["round"]]).index(x["id"]) for x in seen],
        "id parity": [x["id"] % 2 for x in seen],
        "price below its round's median": [-(x["price"] - np.median([y["price"] for y in by_round[x["round"]]]))
                                           for x in seen],
        "slow to answer (more database work)": [x["took"] for x in seen],
        "first label rejected (the judging gold answer)": [float(first_rejected.get(x["account"]) == x["id"])
                                                          for x in seen],
        "reason carries figures": [float(any(ch.isdigit() for ch in x["reason"])) for x in seen],
        # work won on probation is held until the test ends: all of a bid's work alike
        "held when answered": [float(x["held"]) for x in seen],
        "prompt reached another account of the ring": [
            sum(1 for acc, _, _ in sightings[x["prompt"]] if acc != x["account"]) for x in seen],
        "prompt recurs in another round": [
            sum(1 for _, rd, _ in sightings[x["prompt"]] if rd != x["round"]) for x in seen],
        "prompt recurs in another order": [
            sum(1 for _, _, pair in sightings[x["prompt"]] if pair != x["pair"]) for x in seen],
    }
    aucs = {name: _auc(v, is_gold) if np.ptp(v) > 0 else 0.5 for name, v in signs.items()}
    score = sum(_z(v) for v in signs.values())
    overall = _auc(score, is_gold)
    report = ", ".join(f"{k}: {v:.3f}" for k, v in aucs.items())
    assert 0.45 <= overall <= 0.55, f"AUC {overall:.3f} over {len(seen)} assignments; {report}"
    assert all(0.4 <= v <= 0.6 for v in aucs.values()), report
    # the throwaway was rejected, and learned nothing measured from gold from it
    assert any(x["rejected"] for x in seen) and not any(any(ch.isdigit() for ch in x["reason"]) for x in seen)
