"""What the demo bought and what it was worth, written into the run folder.

Every figure is read back from the market's API, and the cost-per-win-rate figures come
from ``GET /v1/campaigns/{id}/accounting`` (so the report, the portal and any client say
the same thing). Files:

===================== ===============================================================
``report.md``         the figures and the verdict, with the plots
``summary.json``      the same figures, machine-readable
``evaluations.csv``   every evaluation of both campaigns (win rate, CI, n, metrics)
``rounds.csv``        every round: bids, labels, clearing price, money
``ledger.csv``        every ledger posting of both campaigns, payees' kinds added
``dataset.jsonl``     what the auction bought, TRL prompt/chosen/rejected (+ metadata)
``baseline_dataset.jsonl`` the same for the baseline
``plots/*.png``       win rate vs dollars, clearing prices, spend by annotator kind
===================== ===============================================================
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from market.accounting import spend_by_kind
from market.client import MarketClient
from market.demo import plots
from market.demo.settings import DemoSettings

NAMES = ("auction", "baseline")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _win(point: dict | None) -> str:
    if point is None:
        return "not evaluated"
    return f"{_pct(point['win_rate'])} (95% CI {_pct(point['ci_low'])} to {_pct(point['ci_high'])}, n = {point['n']})"


def write(out: Path, req: MarketClient, settings: DemoSettings, *, auction_id: int, baseline_id: int,
          roster: list[dict], baseline_terms: dict, wall_s: float, resumed: bool) -> Path:
    ids = {"auction": auction_id, "baseline": baseline_id}
    kind_of = {b["id"]: b["kind"] for b in roster}
    acc = {"auction": req.accounting(auction_id, compare_to=baseline_id), "baseline": req.accounting(baseline_id)}
    ledgers = {name: req.ledger(cid) for name, cid in ids.items()}

    ledger_rows, labels_per_round = [], {}
    for name, led in ledgers.items():
        for e in led["entries"]:
            payee = int(e["to_account"].split(":")[1]) if e["to_account"].startswith("annotator:") else None
            ledger_rows.append({"campaign": name, "campaign_id": ids[name], **e, "annotator_id": payee,
                                "annotator_kind": kind_of.get(payee, "unknown") if payee is not None else None})
            if e["reason"] == "pay":
                labels_per_round[e["round_id"]] = labels_per_round.get(e["round_id"], 0) + 1
    pd.DataFrame(ledger_rows).to_csv(out / "ledger.csv", index=False)

    rounds = {name: sorted(req.list_rounds(campaign_id=cid), key=lambda r: r["id"]) for name, cid in ids.items()}
    for rows in rounds.values():
        for r in rows:
            r["labels"] = labels_per_round.get(r["id"], 0)
    cols = ["id", "state", "demand", "n_bids", "n_assignments", "labels", "clearing_price_cents", "budget_cents",
            "escrowed_cents", "paid_cents", "released_cents", "reason"]
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

    for name, path in (("auction", "dataset.jsonl"), ("baseline", "baseline_dataset.jsonl")):
        rows = req.export_labels(ids[name])
        (out / path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    by_kind = {name: spend_by_kind(((p["annotator_id"], p["cents"]) for p in a["paid_by_annotator"]), kind_of)
               for name, a in acc.items()}
    pdir = out / "plots"
    pdir.mkdir(exist_ok=True)
    labels = {"auction": f"auction ({settings.rule}, {settings.acquisition} items)",
              "baseline": f"baseline (posted price {baseline_terms['price_cents']}c, random items)"}
    plots.winrate_vs_spend({n: (labels[n], acc[n]["curve"]) for n in NAMES}, pdir / "winrate_vs_spend.png")
    plots.clearing_prices(rounds, pdir / "clearing_price.png")
    plots.spend_by_kind(by_kind, pdir / "spend_by_kind.png")

    summary = {
        "settings": asdict(settings), "wall_s": wall_s, "resumed": resumed, "baseline_terms": baseline_terms,
        "campaigns": {n: {k: acc[n][k] for k in ("campaign_id", "rule", "acquisition", "budget_cents", "spent_cents",
                                                   "labels", "cost_per_label_cents", "final", "dollars_per_point")}
                      | {"spend_by_kind_cents": by_kind[n], "books_balanced": ledgers[n]["books"]["balanced"],
                         "rounds": len(rounds[n])}
                      for n in NAMES},
        "comparison": acc["auction"]["comparison"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    path = out / "report.md"
    path.write_text(_markdown(summary, settings, rounds, labels), encoding="utf-8")
    return path


def verdict(cmp: dict, auction: dict, baseline: dict) -> str:
    """One plain sentence: did the auction beat the baseline, on this run's measurements?"""
    a, b = auction["final"], baseline["final"]
    if a is None or b is None:
        return "**No verdict:** a campaign was never evaluated (it bought no accepted labels)."
    if cmp["beats_baseline"]:
        return (f"**The auction beat the baseline:** its final win rate's 95% CI ({_pct(a['ci_low'])} to "
                f"{_pct(a['ci_high'])}) lies wholly above the baseline's final win rate ({_pct(b['win_rate'])}).")
    if a["win_rate"] > b["win_rate"]:
        return (f"**Not a demonstrated win:** the auction ended higher ({_pct(a['win_rate'])} against "
                f"{_pct(b['win_rate'])}), but its 95% CI reaches down to {_pct(a['ci_low'])}, so on this run "
                "the difference is within the evaluation's noise.")
    return (f"**The auction did not beat the baseline on this run:** it ended at {_pct(a['win_rate'])} against "
            f"the baseline's {_pct(b['win_rate'])}.")


def _markdown(summary: dict, s: DemoSettings, rounds: dict[str, list[dict]], labels: dict[str, str]) -> str:
    a, b = summary["campaigns"]["auction"], summary["campaigns"]["baseline"]
    cmp, terms = summary["comparison"], summary["baseline_terms"]

    def spam(c):
        paid = c["spend_by_kind_cents"].get("spammer", 0)
        share = f" ({100 * paid / c['spent_cents']:.0f}% of spend)" if c["spent_cents"] else ""
        return f"{_usd(paid / 100)}{share}"

    def per_point(c):
        return _usd(c["dollars_per_point"]) if c["dollars_per_point"] is not None else \
            "undefined (win rate not above 50%)"

    reach = cmp["dollars_to_baseline_final"]
    lines = [
        "# prefmarket demo report",
        "",
        f"Model {s.model or 'SmolLM2-135M-Instruct (embedded default)'} on {s.device}; seed {s.seed}; "
        f"{s.preset} sizes: {s.pool} prompts in the pool, rounds of {s.round_size} items, {s.bots} annotator bots, "
        f"{s.eval_prompts} held-out prompts per evaluation, completions of up to {s.max_new_tokens} tokens, "
        f"DPO with {'LoRA' if s.lora else 'full fine-tuning'} ({s.epochs:g} epoch{'' if s.epochs == 1 else 's'} "
        f"over each round's labels{'' if s.lr is None else f', lr {s.lr:g}'}). "
        f"Wall time {summary['wall_s'] / 60:.1f} min{' (this invocation; the run was resumed)' if summary['resumed'] else ''}.",
        "",
        verdict(cmp, a, b),
        "",
        "| | auction | baseline |",
        "|---|---|---|",
        f"| how labels were bought | {s.rule}, max ${s.max_price_cents / 100:.2f}/label | posted price "
        f"${terms['price_cents'] / 100:.2f}/label |",
        f"| which items | {s.acquisition} acquisition | random |",
        f"| rounds | {a['rounds']} | {b['rounds']} |",
        f"| accepted labels | {a['labels']} | {b['labels']} |",
        f"| spend | {_usd(a['spent_cents'] / 100)} of {_usd(a['budget_cents'] / 100)} | "
        f"{_usd(b['spent_cents'] / 100)} of {_usd(b['budget_cents'] / 100)} |",
        f"| average price per label | {_usd((a['cost_per_label_cents'] or 0) / 100)} | "
        f"{_usd((b['cost_per_label_cents'] or 0) / 100)} |",
        f"| final win rate vs the reference | {_win(a['final'])} | {_win(b['final'])} |",
        f"| $ per win-rate point above 50% | {per_point(a)} | {per_point(b)} |",
        f"| paid to spammers | {spam(a)} | {spam(b)} |",
        f"| books balance | {'yes' if a['books_balanced'] else 'NO'} | {'yes' if b['books_balanced'] else 'NO'} |",
        "",
        f"**$ to reach the baseline's final win rate ({_pct(cmp['baseline_final_win_rate'])}):** "
        + (f"the auction's curve first reached it after {_usd(reach)} (the baseline spent "
           f"{_usd(cmp['baseline_spend'])}); a first crossing, so with CIs this wide read it next to the plot."
           if reach is not None else "the auction never reached it."),
        "",
        "How to read this: the win rate is the policy's completion against the reference model's on held-out "
        "prompts (titles never seen in training), judged by the embedded sentiment judge, ties counted half, "
        "with a bootstrap 95% CI. The curve starts at $0 and exactly 50% (step 0: the policy is the reference); "
        "every other point was measured after a round. $ to reach a win rate interpolates linearly between "
        "those points. The baseline bought about as many labels as the auction at the auction's average "
        f"price ({terms['labels']} labels at {terms['price_cents']}c), on the same pairs, judge and seed.",
        "",
        "![win rate against dollars](plots/winrate_vs_spend.png)",
        "",
        "![clearing price per round](plots/clearing_price.png)",
        "",
        "![spend by annotator kind](plots/spend_by_kind.png)",
        "",
        "## Rounds",
        "",
        "| campaign | round | bids | labels | clearing price | paid | released |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in rounds.items():
        for k, r in enumerate(rows, 1):
            price = "-" if r["clearing_price_cents"] is None else f"{r['clearing_price_cents']}c"
            lines.append(f"| {name} | {k} | {r['n_bids'] or 0} | {r['labels']} | {price} | "
                         f"{_usd(r['paid_cents'] / 100)} | {_usd(r['released_cents'] / 100)} |")
    lines += ["", "Files: `evaluations.csv`, `rounds.csv`, `ledger.csv`, `dataset.jsonl` (TRL format), "
              "`baseline_dataset.jsonl`, `summary.json`, `plots/`, and `logs/` for each process.", ""]
    return "\n".join(lines)
