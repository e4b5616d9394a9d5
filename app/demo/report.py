"""What the demo bought and what it was worth, written into the run folder.

Every figure is read back from the market's API, and the cost-per-win-rate figures come
from ``GET /v1/campaigns/{id}/accounting`` (so the report, the portal and any client say
the same thing: $ per point charges all a campaign spent, see ``market.accounting``).
Money is formatted by ``market.money.usd``. Files:

===================== ===============================================================
``report.md``         the figures and the verdict, with the plots
``summary.json``      the same figures, machine-readable
``evaluations.csv``   every evaluation of every campaign (win rate, CI, n, metrics)
``rounds.csv``        every round: bids, labels (training data and gold checks), spammers'
                      share of the paid training labels, clearing price, money
``ledger.csv``        every ledger posting of every campaign, payees' kinds added
``dataset.jsonl``     what the auction bought, TRL prompt/chosen/rejected (+ metadata)
``baseline_dataset.jsonl`` the same for the baseline (``no_qc_dataset.jsonl`` for the twin,
                      ``vetted_dataset.jsonl`` for the auction run again)
``plots/*.png``       win rate vs dollars, clearing prices, spend by annotator kind,
                      spammers' share of paid labels per round, and training labels the
                      judge agrees with by annotator kind
===================== ===============================================================

Campaigns: ``auction`` (the product), ``baseline`` (posted price, random items) and, when
quality control is on, ``no_qc`` (the auction without gold checks); with ``--vet-once``,
``vetted`` (the auction again on the same pairs, carrying its gold records). A paid label is
*training data* when the export holds it; the other paid labels are gold checks.

The baseline's terms (``baseline_terms`` in ``summary.json``, from ``run._baseline_campaign``):
its posted price and where it came from (``median cost``: the bots' median private cost,
rounded up to a cent; ``given``: ``--posted-price-cents``), its budget (what the auction it
is compared with spent), the labels that budget buys at that price, and the labels it bought
(its fill). The report says how the price was set and shows the fill.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from market.accounting import spend_by_kind
from market.client import MarketClient
from market.money import usd
from app.demo import plots
from app.demo.settings import DemoSettings

DATASETS = {"auction": "dataset.jsonl", "vetted": "vetted_dataset.jsonl", "no_qc": "no_qc_dataset.jsonl",
            "baseline": "baseline_dataset.jsonl"}


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal, '-' when there is none."""
    return "-" if x is None else f"{100 * x:.1f}%"


def _win(point: dict | None) -> str:
    if point is None:
        return "not evaluated"
    return f"{pct(point['win_rate'])} (95% CI {pct(point['ci_low'])} to {pct(point['ci_high'])}, n = {point['n']})"


def write(out: Path, req: MarketClient, settings: DemoSettings, *, auction_id: int, baseline_id: int,
          roster: list[dict], baseline_terms: dict, wall_s: float, resumed: bool, no_qc_id: int | None = None,
          vetted_id: int | None = None) -> Path:
    ids = {"auction": auction_id, "vetted": vetted_id, "no_qc": no_qc_id, "baseline": baseline_id}
    ids = {name: cid for name, cid in ids.items() if cid is not None}
    kind_of = {b["id"]: b["kind"] for b in roster}
    acc = {name: req.accounting(cid, compare_to=baseline_id if name == "auction" else None, metric="win_rate")
           for name, cid in ids.items()}
    ledgers = {name: req.ledger(cid) for name, cid in ids.items()}
    exports = {name: req.export_labels(cid) for name, cid in ids.items()}

    ledger_rows, paid_labels = [], []
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
    for name, cid in ids.items():
        for e in req.list_evaluations(cid):
            metrics = {k: v for k, v in (e.get("metrics") or {}).items() if not isinstance(v, (dict, list))}
            eval_rows.append({"campaign": name, "campaign_id": cid, "round_id": e["round_id"],
                              "spend_cents": e["spend_cents"], "win_rate": e["win_rate"], "ci_low": e["ci_low"],
                              "ci_high": e["ci_high"], "n": e["n"], **metrics})
    pd.DataFrame(eval_rows).to_csv(out / "evaluations.csv", index=False)

    for name, rows in exports.items():
        (out / DATASETS[name]).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                          encoding="utf-8")

    from task.judges import SentimentJudge  # the truth the bots answer to; no torch behind it

    judge = SentimentJudge()
    right = {name: labels_right(rows, kind_of, judge) for name, rows in exports.items()}
    by_kind = {name: spend_by_kind(((p["annotator_id"], p["cents"]) for p in a["paid_by_annotator"]), kind_of)
               for name, a in acc.items()}
    pdir = out / "plots"
    pdir.mkdir(exist_ok=True)
    labels = {"auction": f"auction ({settings.rule}, {settings.acquisition} items"
                         f"{', gold checks' if 'no_qc' in ids else ''})",
              "vetted": "the auction again, gold records carried",
              "no_qc": "the same auction without gold checks",
              "baseline": f"baseline (posted price {baseline_terms['price_cents']}c, random items)"}
    plots.winrate_vs_spend({n: (labels[n], [win_rate_point(p) for p in acc[n]["curve"]]) for n in ids},
                           pdir / "winrate_vs_spend.png")
    plots.clearing_prices(rounds, pdir / "clearing_price.png")
    plots.spend_by_kind(by_kind, pdir / "spend_by_kind.png")
    plots.spammer_share(rounds, pdir / "spammer_share.png")
    plots.labels_right(right, pdir / "labels_right.png")

    summary = {
        "settings": asdict(settings), "wall_s": wall_s, "resumed": resumed, "baseline_terms": baseline_terms,
        "campaigns": {n: {k: acc[n][k] for k in ("campaign_id", "rule", "acquisition", "budget_cents", "spent_cents",
                                                   "labels", "cost_per_label_cents", "cents_per_point")}
                      | {"final": win_rate_point(acc[n]["final"]),
                         "spend_by_kind_cents": by_kind[n], "books_balanced": ledgers[n]["books"]["balanced"],
                         "rounds": len(rounds[n]), "training_labels": len(exports[n])}
                      | spammer_shares(paid_labels, n) | right[n]
                      for n in ids},
        "comparison": acc["auction"]["comparison"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    path = out / "report.md"
    path.write_text(_markdown(summary, settings, rounds, labels), encoding="utf-8")
    return path


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


def verdict(cmp: dict, auction: dict, baseline: dict) -> str:
    """One plain sentence: did the auction beat the baseline, on this run's measurements?"""
    a, b = auction["final"], baseline["final"]
    if a is None or b is None:
        return "**No verdict:** a campaign was never evaluated (it bought no accepted labels)."
    if cmp["beats_baseline"]:
        return (f"**The auction beat the baseline:** its final win rate's 95% CI ({pct(a['ci_low'])} to "
                f"{pct(a['ci_high'])}) lies wholly above the baseline's final win rate ({pct(b['win_rate'])}).")
    if a["win_rate"] > b["win_rate"]:
        return (f"**Not a demonstrated win:** the auction ended higher ({pct(a['win_rate'])} against "
                f"{pct(b['win_rate'])}), but its 95% CI reaches down to {pct(a['ci_low'])}, so on this run "
                "the difference is within the evaluation's noise.")
    return (f"**The auction did not beat the baseline on this run:** it ended at {pct(a['win_rate'])} against "
            f"the baseline's {pct(b['win_rate'])}.")


def quality_verdict(auction: dict, no_qc: dict, *, vetted: bool = False) -> str:
    """What gold checks bought, on this run: spammers' share after round 1 and $ per point
    (``vetted``: for the auction run again with its gold records carried)."""
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
    head = "Quality control, vetted once (the auction again, gold records carried)" if vetted else "Quality control"
    return f"**{head}:** " + "; ".join(parts) + "."


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


def _markdown(summary: dict, s: DemoSettings, rounds: dict[str, list[dict]], labels: dict[str, str]) -> str:
    camps = summary["campaigns"]
    a, b = camps["auction"], camps["baseline"]
    cmp, terms = summary["comparison"], summary["baseline_terms"]
    names = list(camps)
    titles = {"auction": "auction", "vetted": "auction again, records carried", "no_qc": "auction, no gold checks",
              "baseline": "baseline"}

    def spam(c):
        paid = c["spend_by_kind_cents"].get("spammer", 0)
        share = f" ({100 * paid / c['spent_cents']:.0f}% of spend)" if c["spent_cents"] else ""
        return f"{usd(paid)}{share}"

    def per_point(c):
        return usd(c["cents_per_point"], none="undefined (win rate not above 50%)")

    def how(n):
        return f"posted price {usd(terms['price_cents'])}/label ({price_source(terms)})" if n == "baseline" else \
            f"{s.rule}, max {usd(s.max_price_cents)}/label"

    def row(title, cell):
        return f"| {title} | " + " | ".join(cell(n, camps[n]) for n in names) + " |"

    reach = cmp["cents_to_baseline_final"]
    lines = [
        "# prefmarket demo report",
        "",
        f"Model {s.model or 'SmolLM2-135M-Instruct (embedded default)'} on {s.device}; seed {s.seed}; "
        f"{s.preset} sizes: {s.pool} prompts in the pool, rounds of {s.round_size} items, {s.bots} annotator bots "
        f"({100 * s.spammers:.0f}% spammers), "
        f"{s.eval_prompts} held-out prompts per evaluation, completions of up to {s.max_new_tokens} tokens, "
        f"DPO with {'LoRA' if s.lora else 'full fine-tuning'} ({s.epochs:g} epoch{'' if s.epochs == 1 else 's'} "
        f"over each round's labels{'' if s.lr is None else f', lr {s.lr:g}'}). "
        f"Wall time {summary['wall_s'] / 60:.1f} min{' (this invocation; the run was resumed)' if summary['resumed'] else ''}.",
        "",
        verdict(cmp, a, b),
        "",
        baseline_sentence(terms, "no_qc" in camps),
        "",
    ]
    if "no_qc" in camps:
        lines += [quality_verdict(a, camps["no_qc"]), ""]
    if "vetted" in camps:
        lines += [quality_verdict(camps["vetted"], camps["no_qc"], vetted=True), ""]
    lines += [
        "| | " + " | ".join(titles[n] for n in names) + " |",
        "|---|" + "---|" * len(names),
        row("how labels were bought", lambda n, c: how(n)),
        row("which items", lambda n, c: "random" if n == "baseline" else f"{s.acquisition} acquisition"),
        row("gold checks", lambda n, c: f"{c['gold_labels']} paid" if n in ("auction", "vetted") and "no_qc" in camps
            else "none"),
        row("rounds", lambda n, c: str(c["rounds"])),
        row("training labels bought", lambda n, c: str(c["training_labels"])),
        row("... that the judge agrees with", lambda n, c: pct(c["labels_right"])),
        row("posted-price fill (labels bought of those its budget buys at its price)",
            lambda n, c: fill(terms) if n == "baseline" else "-"),
        row("spend", lambda n, c: f"{usd(c['spent_cents'])} of {usd(c['budget_cents'])}"),
        row("average price per paid label", lambda n, c: usd(c["cost_per_label_cents"] or 0)),
        row("final win rate vs the reference", lambda n, c: _win(c["final"])),
        row("$ per win-rate point above 50%", lambda n, c: per_point(c)),
        row("paid to spammers", lambda n, c: spam(c)),
        row("spammers' share of paid training labels (all rounds)", lambda n, c: pct(c["spammer_share"])),
        row("... after round 1", lambda n, c: pct(c["spammer_share_after_round_1"])),
        row("spammers' share of all paid labels, gold checks included, after round 2",
            lambda n, c: pct(c["spammer_share_of_paid_after_round_2"])),
        row("books balance", lambda n, c: "yes" if c["books_balanced"] else "NO"),
        "",
        f"**$ to reach the baseline's final win rate ({pct(cmp['baseline_final_value'])}):** "
        + (f"the auction's curve first reached it after {usd(reach)} (the baseline had spent "
           f"{usd(cmp['baseline_final_spend_cents'])} at that evaluation); a first crossing, so with CIs this wide read it next to the plot."
           if reach is not None else "the auction never reached it."),
        "",
        "How to read this: the win rate is the policy's completion against the reference model's on held-out "
        "prompts (titles never seen in training), judged by the embedded sentiment judge, ties counted half, "
        "with a bootstrap 95% CI. $ per point counts all a campaign spent, rounds after its last evaluation "
        "included. The curve starts at $0 and exactly 50% (step 0: the policy is the reference); "
        "every other point was measured after a round that bought training labels. $ to reach a win rate "
        "interpolates linearly between those points. Spend includes gold checks, which buy no training data: "
        "they are what it costs to find out who the spammers are. One run's CIs are wide; pool runs on other "
        "seeds with `prefmarket demo-compare RUN...`.",
        "",
        "![win rate against dollars](plots/winrate_vs_spend.png)",
        "",
        "![spammers' share of paid labels per round](plots/spammer_share.png)",
        "",
        "![training labels the judge agrees with, by annotator kind](plots/labels_right.png)",
        "",
        "![clearing price per round](plots/clearing_price.png)",
        "",
        "![spend by annotator kind](plots/spend_by_kind.png)",
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
    lines += ["", "Files: `evaluations.csv`, `rounds.csv`, `ledger.csv`, `dataset.jsonl` (TRL format), "
              "`baseline_dataset.jsonl`" + (", `no_qc_dataset.jsonl`" if "no_qc" in camps else "")
              + (", `vetted_dataset.jsonl`" if "vetted" in camps else "")
              + ", `summary.json`, `plots/`, and `logs/` for each process.", ""]
    return "\n".join(lines)
