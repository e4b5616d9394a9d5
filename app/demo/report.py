"""What the demo bought and what it was worth, written into the run folder.

``report.md`` leads with the claim (issue 17): the auction with its acquisition against a
posted price with random items, at equal spend, on the final paired evaluation
(``paired.json``, from ``app.demo.paired``):

- price per label: what each campaign paid per accepted label (the mechanism's part);
- points per label: win-rate points above 50% per training label (the acquisition's part);
- dollars per point (``market.accounting.cents_per_point``: all a campaign spent, gold
  checks included);
- the auction against the baseline prompt by prompt (a paired 95% interval), the
  coin-flip control beside them, and a plain verdict. The verdict calls nothing a finding
  unless the evaluation told the auction's labels from coin flips (their intervals do not
  overlap): an evaluation that cannot see labels cannot rank two ways of buying them.

Then quality control (the vetting phase's own budget line, the gold checks' share of the
flagship's spend, spammers' share of the training labels), the run's caveats, and the
rounds. Market figures are read back from the API. Money is formatted by
``market.money.usd``. Files:

===================== ===============================================================
``report.md``         the claim, quality control, caveats, rounds, with the plots
``summary.json``      the same figures, machine-readable (``wall_s``: the run's wall time)
``evaluations.csv``   every per-round evaluation (held-out accuracy, its CI, metrics)
``rounds.csv``        every round: bids, labels (training data and gold checks), spammers'
                      share of the paid training labels, clearing price, money
``ledger.csv``        every ledger posting of every campaign, payees' kinds added
``dataset.jsonl``     what the auction bought, TRL prompt/chosen/rejected (+ metadata)
``baseline_dataset.jsonl`` the same for the baseline (``no_qc_dataset.jsonl`` for the twin)
``plots/*.png``       final win rates, held-out accuracy against dollars, clearing prices,
                      spend by annotator kind, spammers' share per round, labels the
                      judge agrees with by annotator kind
===================== ===============================================================

Campaigns: ``vetting`` (gold checks before the campaigns; nothing trained), ``auction``
(the product), ``baseline`` (posted price, random items) and, with ``--twin``, ``no_qc``
(the auction without gold checks). A paid label is *training data* when the export holds
it; the other paid labels are gold checks.

The baseline's terms (``baseline_terms`` in ``summary.json``, from ``run._baseline_campaign``):
its posted price and where it came from (``median cost``: the bots' median private cost,
rounded up to a cent; ``given``: ``--posted-price-cents``), its budget (what the auction
spent), the labels that budget buys at that price, and the labels it bought (its fill).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from market.accounting import cents_per_point, spend_by_kind
from market.client import MarketClient
from market.money import usd
from app.demo import plots
from app.demo.settings import DemoSettings

DATASETS = {"vetting": "vetting_dataset.jsonl", "auction": "dataset.jsonl", "no_qc": "no_qc_dataset.jsonl",
            "baseline": "baseline_dataset.jsonl"}
TITLES = {"vetting": "vetting", "auction": "auction", "no_qc": "auction, no gold checks", "baseline": "baseline",
          "coin_flip": "coin-flip control"}
TARGET_GOLD_SHARE = 0.25  # gold checks' most of the flagship's spend once records are carried (issue 17)


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal, '-' when there is none."""
    return "-" if x is None else f"{100 * x:.1f}%"


def write(out: Path, req: MarketClient, settings: DemoSettings, *, auction_id: int, baseline_id: int,
          roster: list[dict], baseline_terms: dict, wall_s: float, resumed: bool, no_qc_id: int | None = None,
          vetting_id: int | None = None) -> Path:
    ids = {"vetting": vetting_id, "auction": auction_id, "no_qc": no_qc_id, "baseline": baseline_id}
    ids = {name: cid for name, cid in ids.items() if cid is not None}
    trained = [n for n in ids if n != "vetting"]
    kind_of = {b["id"]: b["kind"] for b in roster}
    acc = {name: req.accounting(cid, metric="heldout_accuracy") for name, cid in ids.items()}
    ledgers = {name: req.ledger(cid) for name, cid in ids.items()}
    exports = {name: req.export_labels(cid) for name, cid in ids.items()}
    terms = {name: req.get_campaign(cid) for name, cid in ids.items()}
    final = json.loads((out / "paired.json").read_text())

    ledger_rows, paid_labels = [], []
    gold_cents = dict.fromkeys(ids, 0)
    for name, led in ledgers.items():
        data = {row["label_id"] for row in exports[name]}
        for e in led["entries"]:
            payee = int(e["to_account"].split(":")[1]) if e["to_account"].startswith("annotator:") else None
            kind = kind_of.get(payee, "unknown") if payee is not None else None
            ledger_rows.append({"campaign": name, "campaign_id": ids[name], **e, "annotator_id": payee,
                                "annotator_kind": kind})
            if e["reason"] == "pay":
                paid_labels.append({"campaign": name, "round_id": e["round_id"], "kind": kind,
                                    "data": e["label_id"] in data})
                gold_cents[name] += 0 if e["label_id"] in data else e["cents"]
    pd.DataFrame(ledger_rows).to_csv(out / "ledger.csv", index=False)

    rounds = {name: sorted(req.list_rounds(campaign_id=cid), key=lambda r: r["id"]) for name, cid in ids.items()}
    for name, rows in rounds.items():
        for r in rows:
            r.update(paid_label_counts(paid_labels, r["id"]))
    cols = ["id", "state", "demand", "n_bids", "n_assignments", "labels", "gold_labels", "spammer_share",
            "clearing_price_cents", "budget_cents", "escrowed_cents", "paid_cents", "released_cents", "reason"]
    pd.DataFrame([{"campaign": name, **{c: r.get(c) for c in cols}} for name, rows in rounds.items() for r in rows]
                 ).rename(columns={"id": "round_id"}).to_csv(out / "rounds.csv", index=False)

    eval_rows = []
    for name in trained:
        for e in req.list_evaluations(ids[name]):
            metrics = {k: v for k, v in (e.get("metrics") or {}).items() if not isinstance(v, (dict, list))}
            eval_rows.append({"campaign": name, "campaign_id": ids[name], "round_id": e["round_id"],
                              "spend_cents": e["spend_cents"], **metrics})
    pd.DataFrame(eval_rows).to_csv(out / "evaluations.csv", index=False)

    for name, rows in exports.items():
        (out / DATASETS[name]).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                          encoding="utf-8")

    from task.judges import make_judge  # the truth the bots answer to; no torch behind it

    judge = make_judge(settings.judge)
    right = {name: labels_right(rows, kind_of, judge) for name, rows in exports.items()}
    by_kind = {name: spend_by_kind(((p["annotator_id"], p["cents"]) for p in a["paid_by_annotator"]), kind_of)
               for name, a in acc.items()}
    arms = final["arms"]
    campaigns = {}
    for n in ids:
        a = acc[n]
        f = arms.get(n)
        point = None if f is None else {k: f[k] for k in ("win_rate", "ci_low", "ci_high", "n")}
        campaigns[n] = ({k: a[k] for k in ("campaign_id", "rule", "acquisition", "budget_cents", "spent_cents",
                                           "labels", "cost_per_label_cents")}
                        | {"final": point, "cents_per_point": None if f is None else cents_per_point(a["spent_cents"], f["win_rate"]),
                           "gold_cents": gold_cents[n], "spend_by_kind_cents": by_kind[n],
                           "books_balanced": ledgers[n]["books"]["balanced"], "rounds": len(rounds[n]),
                           "training_labels": len(exports[n]), "heldout_final": _last_heldout(a),
                           # the quality terms it ran under: whether a few rounds drew a gold check is chance
                           "quality_terms": {k: terms[n].get(k) for k in ("gold_rate", "gold_carry", "probation_share",
                                                                          "min_gold_answers", "quality_bar")}}
                        | spammer_shares(paid_labels, n) | right[n])
    summary = {"settings": asdict(settings), "wall_s": wall_s, "resumed": resumed, "baseline_terms": baseline_terms,
               "campaigns": campaigns, "paired": final,
               "comparison": claim(campaigns["auction"], campaigns["baseline"], final)}

    pdir = out / "plots"
    pdir.mkdir(exist_ok=True)
    labels = {"auction": f"auction ({settings.rule}, {settings.acquisition} items)",
              "no_qc": "the same auction without gold checks",
              "baseline": f"baseline (posted price {baseline_terms['price_cents']}c, random items)",
              "coin_flip": "coin-flip control (the auction's pairs, coin-flip answers)"}
    plots.final_win_rates({n: (labels[n], arms[n]) for n in (*trained, "coin_flip") if n in arms}, final,
                          pdir / "final_win_rates.png")
    plots.metric_vs_spend({n: (labels[n], [win_rate_point(p) for p in acc[n]["curve"]]) for n in trained},
                          pdir / "heldout_vs_spend.png", ylabel="held-out implicit-reward accuracy (%)",
                          title="Held-out accuracy (95% CI band) against dollars spent, after each round")
    plots.clearing_prices(rounds, pdir / "clearing_price.png")
    plots.spend_by_kind(by_kind, pdir / "spend_by_kind.png")
    plots.spammer_share(rounds, pdir / "spammer_share.png")
    plots.labels_right({n: right[n] for n in trained}, pdir / "labels_right.png")

    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    path = out / "report.md"
    path.write_text(_markdown(summary, settings, rounds), encoding="utf-8")
    return path


def _last_heldout(acc: dict) -> dict | None:
    """The campaign's last measured held-out accuracy (the accounting curve's last point), or None."""
    measured = [p for p in acc["curve"] if p["measured"]]
    return None if not measured else {("accuracy" if k == "value" else k): v for k, v in measured[-1].items()}


def claim(auction: dict, baseline: dict, final: dict) -> dict:
    """The figures the report leads with, and its verdict: price per label, points per
    training label, dollars per point for both; the auction against the baseline and
    against the coin-flip control, prompt by prompt; whether the evaluation separated
    real labels from coin flips at all."""
    arms, diffs = final["arms"], final["differences"]

    def figures(c: dict) -> dict:
        f = c["final"]
        paid = c["labels"]
        points = None if f is None else 100 * (f["win_rate"] - 0.5)
        return {"spent_cents": c["spent_cents"], "paid_labels": paid, "training_labels": c["training_labels"],
                "price_per_label_cents": c["spent_cents"] / paid if paid else None,
                "points": points, "points_per_label": points / c["training_labels"] if c["training_labels"] and
                points is not None else None, "cents_per_point": c["cents_per_point"]}

    coin, mine = arms.get("coin_flip"), arms.get("auction")
    separated = bool(coin and mine and coin["ci_high"] < mine["ci_low"])
    out = {"auction": figures(auction), "baseline": figures(baseline),
           "head_to_head": diffs.get("auction-baseline"), "against_coin_flip": diffs.get("auction-coin_flip"),
           "coin_flip": coin, "separated": separated,
           "coin_flip_covers_half": bool(coin and coin["ci_low"] <= 0.5 <= coin["ci_high"])}
    out["verdict"] = verdict(out, auction, baseline)
    return out


def _interval(d: dict | None, scale: float = 100.0, unit: str = " points") -> str:
    if d is None:
        return "-"
    return f"{scale * d['mean']:+.1f}{unit} [{scale * d['ci_low']:+.1f}, {scale * d['ci_high']:+.1f}]"


def _win(d: dict | None) -> str:
    return "-" if d is None else f"{pct(d['win_rate'])} [{pct(d['ci_low'])}, {pct(d['ci_high'])}]"


def verdict(cmp: dict, auction: dict, baseline: dict) -> str:
    """One plain paragraph: did the auction with its acquisition beat a posted price with random
    items on this run, and may its figures be read as a finding at all?"""
    a, b = cmp["auction"], cmp["baseline"]
    price = ""
    if a["price_per_label_cents"] is not None and b["price_per_label_cents"] is not None:
        mine_usd, theirs_usd = usd(a["price_per_label_cents"]), usd(b["price_per_label_cents"])
        cheaper = ("about the same as" if mine_usd == theirs_usd else
                   "less than" if a["price_per_label_cents"] < b["price_per_label_cents"] else "more than")
        price = (f" The auction paid {mine_usd} per label, {cheaper} the posted price's {theirs_usd} "
                 "(a market figure, not an evaluation).")
    coin, mine, h2h = cmp["coin_flip"], auction["final"], cmp["head_to_head"]
    if mine is None or h2h is None:
        return "**No verdict:** a campaign's policy was not evaluated." + price
    if not cmp["separated"]:
        paired = "" if cmp["against_coin_flip"] is None else \
            f"; paired over prompts the auction is {_interval(cmp['against_coin_flip'])} above the control"
        if coin is not None and coin["ci_low"] > mine["ci_high"]:
            why = "the coin-flip control scored above the auction"
        elif coin is not None and not cmp["coin_flip_covers_half"]:
            why = "the intervals overlap, and the control's misses 50%"
        else:
            why = "the intervals overlap"
        side = "" if coin is None or cmp["coin_flip_covers_half"] else (
            " Coin-flip answers moved the win rate off 50%: here the metric also measures a side effect of "
            "training on these pairs, whatever the answers said.")
        return ("**No finding on this run:** the evaluation did not tell the auction's labels from coin flips "
                f"(coin-flip control {_win(coin)}, auction {_win(mine)}: {why}{paired}), so the "
                f"head-to-head figure ({_interval(h2h)}) is not evidence either way." + side + price)
    if h2h["ci_low"] > 0:
        head = f"**The auction beat the posted price at equal spend:** {_interval(h2h)} head to head"
    elif h2h["ci_high"] < 0:
        head = f"**The posted price beat the auction at equal spend:** {_interval(h2h)} head to head"
    else:
        head = f"**No demonstrated difference at equal spend:** {_interval(h2h)} head to head, an interval that holds 0"
    return (head + f" (win-rate points against the reference, the same {mine['n']} prompts and sampling seeds; the "
            f"evaluation separated the auction's labels from coin flips: {_win(coin)} against {_win(mine)})." + price)


def win_rate_point(point: dict | None) -> dict | None:
    """An accounting curve point of the win rate as the report's files and plots name it
    (``win_rate`` rather than the API's metric-neutral ``value``), so that summaries
    written before the API priced other metrics read the same."""
    if point is None:
        return None
    return {("win_rate" if k == "value" else k): v for k, v in point.items()}


def paid_label_counts(paid_labels: list[dict], round_id: int) -> dict:
    """One round's paid labels: training data, gold checks, and spammers' share of the data."""
    mine = [p for p in paid_labels if p["round_id"] == round_id]
    data = [p for p in mine if p["data"]]
    share = sum(p["kind"] == "spammer" for p in data) / len(data) if data else None
    return {"labels": len(data), "gold_labels": len(mine) - len(data), "spammer_share": share}


def spammer_shares(paid_labels: list[dict], campaign: str) -> dict:
    """Spammers' share of a campaign's paid training labels: in all, and after its first round
    (the issue's yardstick: once the first gold checks are in, spammers should be out); and
    of all its paid labels, gold checks included, after its second round (what the spammers
    were paid at all once their tests had had two rounds to end)."""
    mine = [p for p in paid_labels if p["campaign"] == campaign]
    rounds = sorted({p["round_id"] for p in mine})
    data = [p for p in mine if p["data"]]
    late = [p for p in data if p["round_id"] not in rounds[:1]]
    paid_late = [p for p in mine if p["round_id"] not in rounds[:2]]

    def share(rows):
        return sum(p["kind"] == "spammer" for p in rows) / len(rows) if rows else None

    return {"spammer_share": share(data), "spammer_share_after_round_1": share(late),
            "spammer_share_of_paid_after_round_2": share(paid_late),
            "gold_labels": sum(1 for p in mine if not p["data"])}


def labels_right(rows: list[dict], kind_of: dict[int, str], judge) -> dict:
    """How many of a campaign's training labels the judge agrees with (a tie counts half), in
    all and by annotator kind. The demo's bots answer to the embedded judge (Bradley–Terry on
    its score gap), so only a demo knows the truth each label is measured against: the
    figure that says what gold checks bought before any training noise."""
    if not rows:
        return {"labels_right": None, "labels_right_by_kind": {}}
    agree = judge.compare([r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows])
    by_kind: dict[str, list[float]] = {}
    for r, v in zip(rows, agree, strict=True):
        by_kind.setdefault(kind_of.get(r["annotator_id"], "unknown"), []).append(float(v))
    return {"labels_right": float(sum(agree) / len(rows)),
            "labels_right_by_kind": {k: {"labels": len(v), "right": sum(v) / len(v)} for k, v in sorted(by_kind.items())}}


def quality_verdict(auction: dict, no_qc: dict) -> str:
    """What gold checks bought, on this run (with ``--twin``): spammers' share after round 1 and $ per point."""
    a, b = auction["spammer_share_after_round_1"], no_qc["spammer_share_after_round_1"]
    parts = [f"spammers' share of the paid training labels after round 1 was {pct(a)} with gold checks "
             f"against {pct(b)} without ({auction['gold_labels']} gold checks paid for)"]
    if auction.get("labels_right") is not None and no_qc.get("labels_right") is not None:
        parts.append(f"the judge agrees with {pct(auction['labels_right'])} of the training labels bought with "
                     f"gold checks against {pct(no_qc['labels_right'])} without")
    da, db = auction["cents_per_point"], no_qc["cents_per_point"]
    if da is not None and (db is None or da < db):
        parts.append(f"a win-rate point cost {usd(da)} with gold checks against "
                     f"{usd(db, none='no gain at all')} without")
    elif da is None and db is None:
        parts.append("neither campaign lifted the win rate above 50%, so $ per point is undefined for both")
    else:
        parts.append(f"a win-rate point cost {usd(da, none='undefined (no gain)')} with gold "
                     f"checks against {usd(db)} without, so on this run quality control did not pay for itself "
                     "in win rate")
    return "**Gold checks against none (the twin):** " + "; ".join(parts) + "."


def price_source(terms: dict) -> str:
    """How the baseline's posted price was set, in words."""
    source = terms.get("price_source")
    if source == "given":
        return "given with --posted-price-cents"
    if source == "median cost":
        return "the bots' median cost, set in advance"
    return "the auction's average price, found after the fact (a run from before prices were set in advance)"


def fill(terms: dict) -> str:
    """The baseline's fill: labels bought of the labels its budget buys at its price."""
    bought = terms.get("labels_bought")
    if bought is None:
        return f"- of {terms['labels']}"
    return f"{bought} of {terms['labels']} ({pct(bought / terms['labels'] if terms['labels'] else None)})"


def baseline_sentence(terms: dict, twin: bool) -> str:
    """How the baseline was set up: its price set in advance, equal spend, and its fill."""
    if terms.get("price_source") not in ("median cost", "given"):
        return (f"The baseline's posted price ({terms['price_cents']}c) is {price_source(terms)}, "
                f"for {terms['labels']} labels, on the same pairs, judge and seed.")
    how = ("the median private cost of the demo's annotator bots, rounded up to a cent and capped at the maximum "
           "price: a price a requester can set before any auction runs" if terms["price_source"] == "median cost"
           else "the price given with `--posted-price-cents`")
    whose = "the auction without gold checks" if terms.get("budget_from", "no_qc" if twin else "auction") == "no_qc" \
        else "the auction"
    bought = terms.get("labels_bought")
    got = "" if bought is None else (
        f"; it bought {bought} ({pct(bought / terms['labels'])} fill) for {usd(terms.get('spent_cents', 0))}"
        + ("" if bought >= terms["labels"] else ": annotators whose cost is above the price do not sell to it, "
           "and its pool of pairs and its rounds are finite"))
    return (f"The baseline's posted price, {usd(terms['price_cents'])}/label, is {how}; it is not read off the "
            f"auction's prices. Equal spend: its budget is what {whose} spent ({usd(terms['budget_cents'])}), "
            f"which buys at most {terms['labels']} labels at that price{got}. Same pairs, judge and seed.")


def _markdown(summary: dict, s: DemoSettings, rounds: dict[str, list[dict]]) -> str:
    camps, cmp, terms, final = summary["campaigns"], summary["comparison"], summary["baseline_terms"], summary["paired"]
    a, b = cmp["auction"], cmp["baseline"]
    arms = final["arms"]
    trained = [n for n in camps if n != "vetting"]

    def money(x):
        return usd(x, none="-")

    def per_label(x):
        return "-" if x is None else f"{x:+.2f}"

    lines = [
        "# prefmarket demo report",
        "",
        f"## The claim: an auction with {s.acquisition} acquisition against a posted price with random items, "
        "at equal spend",
        "",
        cmp["verdict"],
        "",
        "| | auction | posted price (baseline) |",
        "|---|---|---|",
        f"| how labels were bought | {s.rule}, max {usd(s.max_price_cents)}/label, {s.acquisition} items | "
        f"{usd(terms['price_cents'])}/label ({price_source(terms)}), random items |",
        f"| spend | {usd(a['spent_cents'])} | {usd(b['spent_cents'])} |",
        f"| labels paid (training labels + gold checks) | {a['paid_labels']} ({a['training_labels']} + "
        f"{a['paid_labels'] - a['training_labels']}) | {b['paid_labels']} ({b['training_labels']} + "
        f"{b['paid_labels'] - b['training_labels']}) |",
        f"| **price per label** (the mechanism's part) | **{money(a['price_per_label_cents'])}** | "
        f"**{money(b['price_per_label_cents'])}** |",
        f"| final win rate against the reference (95% CI) | {_win(camps['auction']['final'])} | "
        f"{_win(camps['baseline']['final'])} |",
        f"| **points per training label** (the acquisition's part) | **{per_label(a['points_per_label'])}** | "
        f"**{per_label(b['points_per_label'])}** |",
        f"| **$ per win-rate point** above 50% | **{usd(a['cents_per_point'], none='no gain')}** | "
        f"**{usd(b['cents_per_point'], none='no gain')}** |",
        "",
        f"- **Head to head:** auction minus baseline, {_interval(cmp['head_to_head'])} of win rate against the "
        f"reference, paired over the same {final['prompts']} held-out prompts ({final['samples']} sample"
        f"{'s' if final['samples'] > 1 else ''} each, the same sampling seeds for every policy), 95% bootstrap "
        "interval over prompts.",
        f"- **Coin-flip control** (the auction's {arms.get('coin_flip', {}).get('labels', 0)} pairs, coin-flip "
        f"answers, the same trainings): {_win(arms.get('coin_flip'))}; the auction minus the control "
        f"{_interval(cmp['against_coin_flip'])}. The evaluation "
        + ("separated" if cmp["separated"] else "did **not** separate") + " real labels from coin flips"
        + ("" if cmp["coin_flip_covers_half"] else " (and the control's interval does not cover 50%)") + ".",
        f"- {baseline_sentence(terms, 'no_qc' in camps)}",
        f"- How it was measured: each policy sampled {final['prompts']} held-out prompts (titles never trained on, "
        f"drawn with seed {s.seed}) with the same seeds, completions of up to {s.max_new_tokens} tokens, judged "
        f"against the reference's by the `{s.judge}` judge (ties half). That judge is also the truth the annotator "
        "bots answer to and what labelled the held-out pairs. Training accumulates: each round continues the "
        f"policy on its new labels ({s.epochs:g} pass{'es' if s.epochs != 1 else ''}, LoRA, lr "
        f"{s.lr if s.lr is not None else 'default'}) with Adam's state carried from the round before.",
        "",
        "![final win rates](plots/final_win_rates.png)",
        "",
        "## Quality control",
        "",
    ]
    if "vetting" in camps:
        v = camps["vetting"]
        lines += [f"- **Vetting, its own phase and budget line:** {usd(v['spent_cents'])} over {v['rounds']} rounds "
                  f"for {v['gold_labels']} gold checks and {v['training_labels']} labels that nothing trains on; "
                  f"spammers' share of its paid labels after round 2: {pct(v['spammer_share_of_paid_after_round_2'])}. "
                  "The campaigns after it carry these records (`gold_carry` 1) instead of paying for them again.", ""]
    auction = camps["auction"]
    if auction["spent_cents"]:
        share = auction["gold_cents"] / auction["spent_cents"]
        lines += [f"- **Gold checks' share of the auction's spend:** {pct(share)} ({usd(auction['gold_cents'])} of "
                  f"{usd(auction['spent_cents'])}; target at most {pct(TARGET_GOLD_SHARE)}: "
                  f"{'met' if share <= TARGET_GOLD_SHARE else 'missed'}).", ""]
    if "no_qc" in camps:
        lines += [quality_verdict(camps["auction"], camps["no_qc"]), ""]
    lines += [
        "| | " + " | ".join(TITLES[n] for n in camps) + " |",
        "|---|" + "---|" * len(camps),
        "| spend | " + " | ".join(f"{usd(c['spent_cents'])} of {usd(c['budget_cents'])}" for c in camps.values()) + " |",
        "| gold checks paid | " + " | ".join(f"{c['gold_labels']} ({usd(c['gold_cents'])})" for c in camps.values()) + " |",
        "| training labels | " + " | ".join(str(c["training_labels"]) for c in camps.values()) + " |",
        "| ... that the judge agrees with | " + " | ".join(pct(c["labels_right"]) for c in camps.values()) + " |",
        "| spammers' share of paid training labels | " + " | ".join(pct(c["spammer_share"]) for c in camps.values()) + " |",
        "| paid to spammers | " + " | ".join(usd(c["spend_by_kind_cents"].get("spammer", 0)) for c in camps.values()) + " |",
        "| last held-out accuracy | " + " | ".join(
            "-" if c["heldout_final"] is None else f"{pct(c['heldout_final']['accuracy'])} "
            f"[{pct(c['heldout_final']['ci_low'])}, {pct(c['heldout_final']['ci_high'])}]" for c in camps.values()) + " |",
        "| posted-price fill | " + " | ".join(fill(terms) if n == "baseline" else "-" for n in camps) + " |",
        "| books balance | " + " | ".join("yes" if c["books_balanced"] else "NO" for c in camps.values()) + " |",
        "",
        "![held-out accuracy against dollars](plots/heldout_vs_spend.png)",
        "",
        "![spammers' share of paid labels per round](plots/spammer_share.png)",
        "",
        "![training labels the judge agrees with, by annotator kind](plots/labels_right.png)",
        "",
        "![clearing price per round](plots/clearing_price.png)",
        "",
        "![spend by annotator kind](plots/spend_by_kind.png)",
        "",
        "## Caveats",
        "",
        f"- One run, seed {s.seed}: its intervals are over prompts, not over seeds. Pool runs on other seeds with "
        "`prefmarket demo-compare RUN...`; for the multi-seed evidence on acquisition and pricing see "
        "`prefmarket experiment` (docs/results.md).",
        f"- {s.preset} sizes: a pool of {s.pool} pairs (at least four times what a campaign can buy), rounds of "
        f"{s.round_size} items, {s.bots} annotator bots ({100 * s.spammers:.0f}% spammers), "
        f"{len(trained)} campaign{'s' if len(trained) > 1 else ''} trained on a few dozen labels: small data.",
        f"- The per-round metric is held-out implicit-reward accuracy on {s.heldout_pairs} judge-labelled held-out "
        "pairs (ties dropped), a cheap signal with wide intervals; the final win rates are the measurement.",
        f"- Wall time {summary['wall_s'] / 60:.1f} min"
        f"{' (this invocation; the run was resumed)' if summary['resumed'] else ''}, model "
        f"{s.model or 'SmolLM2-135M-Instruct (embedded default)'} on {s.device}.",
        "",
        "## Rounds",
        "",
        "| campaign | round | bids | training labels | gold checks | spammers' share | clearing price | paid | released |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in rounds.items():
        for k, r in enumerate(rows, 1):
            price = "-" if r["clearing_price_cents"] is None else f"{r['clearing_price_cents']}c"
            lines.append(f"| {name} | {k} | {r['n_bids'] or 0} | {r['labels']} | {r['gold_labels']} | "
                         f"{pct(r['spammer_share'])} | {price} | {usd(r['paid_cents'])} | "
                         f"{usd(r['released_cents'])} |")
    lines += ["", "Files: `paired.json` and `paired_completions.jsonl` (the final evaluation and what each policy "
              "wrote), `evaluations.csv`, `rounds.csv`, `ledger.csv`, `dataset.jsonl` (TRL format), "
              "`baseline_dataset.jsonl`" + (", `no_qc_dataset.jsonl`" if "no_qc" in camps else "")
              + ", `summary.json`, `plots/`, and `logs/` for each process.", ""]
    return "\n".join(lines)
