"""The whole demo: the campaigns through the real processes, then the report.

Campaigns, in order: ``auction`` (the product: an auction rule, acquisition scores, gold
checks), ``no_qc`` (the same auction without gold checks, on the same pairs; only with
quality control on), ``vetted`` (with ``--vet-once``: the auction again on the same pairs,
carrying the first one's gold records), and ``baseline`` (posted price, random items: the
usual way). The baseline's price is set in advance, as a requester would set it (the bots'
median cost, or ``--posted-price-cents``), and its budget is what the auction it is compared
with spent, so the two are compared at equal dollars (``_baseline_campaign``).

Run folder layout (everything a resumed run needs is here):

=================== ==================================================================
``settings.json``   the sizes this run was started with (a resumed run reuses them)
``state.json``      accounts and their tokens, campaign ids, the baseline's terms (price,
                    where it came from, budget, labels wanted, and at the end its fill)
``market.db``       the market's SQLite database (serve it again to browse the run)
``bots.json``       the annotator bots' accounts, kinds, costs and skills
``workers/<name>``  each policy worker's checkpoints and caches
``logs/``           each process's output
=================== ==================================================================

Resuming: run again with the same ``--out``. The market's database says which round
each campaign reached; the workers reload their last checkpoint; the bots reuse their
accounts. Nothing is bought twice.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from market import accounts, db
from market.client import MarketClient
from market.money import usd
from market.private_file import write_private
from app.demo import report
from app.demo.campaign import LABEL_WINDOW_S, ROUND_DURATION_S, CampaignDriver, Ui
from app.demo.processes import DemoError, Processes
from app.demo.settings import DemoSettings, posted_price_cents

AUCTION, NO_QC, VETTED, BASELINE = "auction", "no_qc", "vetted", "baseline"
QUALITY_CONTROL = dict(gold_rate=0.1, quality_bar=0.65, quality_confidence=0.8, probation_share=0.2)


@dataclass
class RunState:
    """What a resumed run must remember that the market cannot tell it."""

    path: Path
    accounts: dict[str, dict] = field(default_factory=dict)  # role -> {"id", "token"}
    campaigns: dict[str, int] = field(default_factory=dict)  # "auction"/"baseline" -> campaign id
    baseline_terms: dict | None = None

    @classmethod
    def load(cls, path: Path) -> RunState:
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        return cls(path, data["accounts"], data["campaigns"], data.get("baseline_terms"))

    def save(self) -> None:
        write_private(self.path, json.dumps({"accounts": self.accounts, "campaigns": self.campaigns,
                                             "baseline_terms": self.baseline_terms}, indent=1))


def torch_sees_a_gpu() -> bool:
    """Whether torch can use CUDA here (asked in a subprocess: this process stays torch-free)."""
    if not any(Path(p).exists() for p in ("/dev/nvidia0", "/proc/driver/nvidia")):
        return False
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True)
    return probe.stdout.strip() == "True"


def resolve_device(device: str) -> str:
    """``auto``: CUDA when torch sees a GPU. ``cuda`` where torch sees none is refused: the
    worker would fall back to the CPU without a word and run the gpu preset's sizes there."""
    if device not in ("auto", "cuda"):
        return device
    gpu = torch_sees_a_gpu()
    if device == "cuda" and not gpu:
        raise ValueError("--device cuda: torch sees no GPU on this machine (torch.cuda.is_available() is False); "
                         "use --device cpu, or auto")
    return "cuda" if gpu else "cpu"


def tiny_model_dir(out: Path) -> Path:
    """Save the tiny test model into the run folder once (in a subprocess: it needs torch)."""
    target = out / "models" / "tiny"
    if not (target / "config.json").exists():
        code = ("import sys; from policy.model import tiny_model; m, t = tiny_model(seed=0); "
                "m.save_pretrained(sys.argv[1]); t.save_pretrained(sys.argv[1])")
        subprocess.run([sys.executable, "-c", code, str(target)], check=True, capture_output=True)
    return target


class Display:
    """Rich progress: a bar per campaign, a status line, one printed line per round."""

    def __init__(self, console: Console):
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=20),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
                                 console=console)
        self.tasks: dict[str, int] = {}
        self.last: dict[str, dict] = {}

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def print(self, text: str) -> None:
        self.progress.console.print(text)

    def ui(self, name: str, req: MarketClient, cid: int, total: int, done: int) -> Ui:
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.progress.add_task(name, total=total, completed=done, status="")
        self.last[name] = {"spent": None, "win": None}

        def headline() -> str:
            s = self.last[name]
            win = "" if s["win"] is None else f" · win rate {s['win']}"
            return f"spent {s['spent'] or '$0.00'}{win}"

        def status(text: str) -> None:
            self.progress.update(task, status=f"{headline()} · {text}")

        def settled(r: dict) -> None:
            spent = req.campaign_summary(cid)["spent_cents"]
            self.last[name]["spent"] = usd(spent)
            k = len(req.list_rounds(campaign_id=cid))
            price = "-" if r["clearing_price_cents"] is None else f"{r['clearing_price_cents']}c"
            self.progress.update(task, completed=min(k, self.progress.tasks[task].total or k),
                                 total=max(k, self.progress.tasks[task].total or 0))
            self.print(f"{name} round {k}: {r['n_bids'] or 0} bids, {r['n_assignments']} assignments, "
                       f"clearing price {price}, paid {usd(r['paid_cents'])}; campaign spent {usd(spent)}")
            status("")

        def evaluated(r: dict, ev: dict) -> None:
            win = f"{100 * ev['win_rate']:.1f}% [{100 * ev['ci_low']:.1f}, {100 * ev['ci_high']:.1f}]"
            self.last[name]["win"] = win
            k = [x["id"] for x in sorted(req.list_rounds(campaign_id=cid), key=lambda x: x["id"])].index(r["id"]) + 1
            acc = ev["metrics"].get("prequential_accuracy")
            extra = "" if acc is None else f"; before training on them the policy agreed with {100 * acc:.0f}% of the new labels"
            self.print(f"{name} after round {k}: win rate {win} over {ev['n']} held-out prompts "
                       f"at {usd(ev['spend_cents'])}{extra}")
            status("")

        return Ui(status=status, settled=settled, evaluated=evaluated)


def run(settings: DemoSettings, out: Path, console: Console | None = None) -> Path:
    """Run (or resume) the demo in ``out``; returns the report's path."""
    console = console or Console()
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    resumed = (out / "state.json").exists()
    settings.save(out / "settings.json")
    state = RunState.load(out / "state.json")
    database_url = f"sqlite:///{(out / 'market.db').resolve()}"
    model = str(tiny_model_dir(out)) if settings.model == "tiny" else settings.model

    if "admin" not in state.accounts:  # bootstrap: the first admin exists before any token does
        engine = db.make_engine(database_url)
        db.init_db(engine)
        with db.session_scope(engine) as s:
            acct, token = accounts.create_account(s, "demo-admin", "admin")
            s.commit()
            state.accounts["admin"] = {"id": acct.id, "token": token}
        engine.dispose()
        state.save()

    with Processes(out / "logs") as procs, Display(console) as display:
        display.print(f"{'resuming' if resumed else 'starting'} the demo in {out} "
                      f"({settings.preset} sizes, model {settings.model or 'SmolLM2-135M-Instruct'}, {settings.device})")
        url = procs.serve(database_url)
        admin = MarketClient(url, state.accounts["admin"]["token"])
        for role in ("requester", "worker"):
            if role not in state.accounts:
                acct = admin.create_account(f"demo-{role}", role)
                state.accounts[role] = {"id": acct["id"], "token": acct["token"]}
                state.save()
        req = admin.with_token(state.accounts["requester"]["token"])
        roster = _start_bots(procs, url, state, settings, out)

        def bidders_for(max_price_cents: int) -> int:
            return sum(1 for b in roster if b["cost_cents"] <= max_price_cents)

        cid = _auction_campaign(req, state, settings)
        _phase(AUCTION, cid, req, procs, display, bidders_for, settings, out, url, state, model,
               max_rounds=settings.rounds)

        def on_the_auctions_pairs(name: str, campaign_id: int, **rounds) -> None:
            """Run a campaign on the auction's pairs, its worker starting from the auction
            worker's reference caches."""
            _warm_caches(out / "workers" / AUCTION, out / "workers" / name)
            _phase(name, campaign_id, req, procs, display, bidders_for, settings, out, url, state, model, **rounds)

        twin = vetted = None
        if settings.quality:
            twin = _twin_campaign(req, state, settings, cid)
            on_the_auctions_pairs(NO_QC, twin, max_rounds=settings.rounds)
        if settings.vet_once:
            vetted = _vetted_campaign(req, state, settings, cid)
            on_the_auctions_pairs(VETTED, vetted, max_rounds=settings.rounds)

        bid = _baseline_campaign(req, state, settings, roster, twin or cid, pairs_from=cid)
        wanted = state.baseline_terms["labels"]
        on_the_auctions_pairs(BASELINE, bid, max_rounds=2 * settings.rounds,
                              want_more=lambda: req.campaign_summary(bid)["labels"] < wanted)
        _record_fill(req, state, bid)

        display.print("writing the report")
        path = report.write(out, req, settings, auction_id=cid, baseline_id=bid, no_qc_id=twin, vetted_id=vetted,
                            roster=roster, baseline_terms=state.baseline_terms, wall_s=time.monotonic() - started,
                            resumed=resumed)
    return path


def _start_bots(procs: Processes, url: str, state: RunState, settings: DemoSettings, out: Path) -> list[dict]:
    roster = out / "bots.json"
    procs.bots(url, state.accounts["admin"]["token"], size=settings.bots, seed=settings.seed, roster=roster,
               judge="sentiment", spammers=settings.spammers, capacity=settings.bot_capacity)
    deadline = time.monotonic() + 120
    while not roster.exists():
        procs.check("bots")
        if time.monotonic() > deadline:
            raise DemoError(f"the bots wrote no roster in 120 s; see {procs.logs / 'bots.log'}")
        time.sleep(0.2)
    return json.loads(roster.read_text())["bots"]


def _auction_terms(s: DemoSettings, state: RunState) -> dict:
    return dict(budget_cents=s.budget_cents, max_price_cents=s.max_price_cents, rule=s.rule, acquisition=s.acquisition,
                labels_per_item=1, round_size=s.round_size, round_budget_cents=s.round_budget_cents,
                round_duration_s=ROUND_DURATION_S, label_duration_s=LABEL_WINDOW_S,
                worker_id=state.accounts["worker"]["id"])


def _auction_campaign(req: MarketClient, state: RunState, s: DemoSettings) -> int:
    """The product's campaign: the pool's prompts (the worker samples the pairs) and, with
    quality control, the gold checks. Gold goes up first, so a resumed run that finds items
    knows both uploads happened (one request each, and the pool's is last)."""
    from task import prompts as task  # the built-in prompt pool (plain templates; no torch)

    if AUCTION not in state.campaigns:
        qc = QUALITY_CONTROL | {"min_gold_answers": s.min_gold_answers} if s.quality else {}
        _created(req, state, AUCTION, name=f"demo auction: {s.rule} + {s.acquisition}{' + gold checks' if s.quality else ''}",
                 **_auction_terms(s, state), **qc)
    cid = state.campaigns[AUCTION]
    items = req.list_items(cid)
    if s.quality and not any(it["gold_check"] for it in items):
        req.upload_items(cid, task.gold_jsonl(s.gold_items, seed=s.seed))
    if not any(not it["gold_check"] for it in items):
        req.upload_items(cid, task.pool_jsonl(s.pool, seed=s.seed))
    return cid


def _twin_campaign(req: MarketClient, state: RunState, s: DemoSettings, auction_id: int) -> int:
    """The auction campaign again without gold checks: same rule, budget, bots and pairs."""
    if NO_QC not in state.campaigns:
        _created(req, state, NO_QC, name=f"demo auction without quality control: {s.rule} + {s.acquisition}",
                 **_auction_terms(s, state))
    return _with_pairs(req, state.campaigns[NO_QC], auction_id)


def _vetted_campaign(req: MarketClient, state: RunState, s: DemoSettings, auction_id: int) -> int:
    """The auction again, on its pairs and with its terms, carrying its gold records
    (``gold_carry`` 1): the requester's next campaign, with vetting paid once. Its gold
    items are new (the next seed's), and go up first, as in the first campaign."""
    from task import prompts as task

    if VETTED not in state.campaigns:
        _created(req, state, VETTED, name=f"demo auction again, gold records carried: {s.rule} + {s.acquisition}",
                 **_auction_terms(s, state), **QUALITY_CONTROL, min_gold_answers=s.min_gold_answers, gold_carry=1.0)
    vid = state.campaigns[VETTED]
    items = req.list_items(vid)
    if not any(it["gold_check"] for it in items):
        req.upload_items(vid, task.gold_jsonl(s.gold_items, seed=s.seed + 1))
    if not any(not it["gold_check"] for it in items):
        req.upload_items(vid, _pairs_jsonl(req, auction_id))
    return vid


def _created(req: MarketClient, state: RunState, role: str, **fields) -> int:
    """Create the run's campaign ``role`` (auction, no_qc, vetted, baseline) and remember it (a
    resumed run finds it there); ``fields`` go to the API as they are."""
    state.campaigns[role] = req.create_campaign(**fields)["id"]
    state.save()
    return state.campaigns[role]


def _with_pairs(req: MarketClient, campaign_id: int, pairs_from: int) -> int:
    """Upload ``pairs_from``'s pairs into an empty ``campaign_id``; a campaign with items is left alone."""
    if not req.list_items(campaign_id):
        req.upload_items(campaign_id, _pairs_jsonl(req, pairs_from))
    return campaign_id


def _pairs_jsonl(req: MarketClient, campaign_id: int) -> str:
    """The campaign's generated pairs (gold checks left out), ready to upload elsewhere."""
    pairs = [it for it in req.list_items(campaign_id) if it["completion_a"] and not it["gold_check"]]
    return "".join(json.dumps({"prompt": it["prompt"], "completion_a": it["completion_a"],
                               "completion_b": it["completion_b"]}) + "\n" for it in pairs)


def baseline_price(s: DemoSettings, roster: list[dict]) -> tuple[int, str]:
    """The baseline's posted price and where it came from: the price the user gave
    (``given``), else the median private cost of the bot population in the roster, rounded
    up to a cent and capped at the campaigns' maximum price (``median cost``)."""
    if s.posted_price_cents is not None:
        return s.posted_price_cents, "given"
    return posted_price_cents([b["cost"] for b in roster], s.max_price_cents), "median cost"


def _baseline_campaign(req: MarketClient, state: RunState, s: DemoSettings, roster: list[dict], auction_id: int, *,
                       pairs_from: int) -> int:
    """Posted price + random items, with the budget the auction ``auction_id`` spent, on the
    pairs of ``pairs_from`` (the same pairs everywhere).

    The price is set in advance (``baseline_price``), never read off the auction's prices:
    a price found after the fact would erase the auction's price discovery by construction.
    Equal spend: the budget is what that auction spent, so the baseline wants
    ``budget // price`` labels and buys as many as annotators accept at that price, the pool
    and its rounds allow (its fill, recorded by ``_record_fill``). With quality control on,
    the budget comes from the auction without gold checks: the baseline has none either,
    and money spent on gold buys no training data."""
    if BASELINE not in state.campaigns:
        done = req.campaign_summary(auction_id)
        if not done["spent_cents"]:
            raise DemoError("the auction campaign spent nothing, so there is nothing to compare with; "
                            "see logs/ (a bigger --budget or a higher price cap may help)")
        price, source = baseline_price(s, roster)
        budget = done["spent_cents"]
        wanted = budget // price
        if not wanted:
            raise DemoError(f"the auction spent {usd(budget)}, less than one label at the posted price "
                            f"{usd(price)}; nothing for the baseline to buy (try a lower --posted-price-cents)")
        per_round = math.ceil(wanted / s.rounds)
        state.baseline_terms = {"price_cents": price, "price_source": source, "budget_cents": budget,
                                "labels": wanted, "round_size": per_round, "auction_spent_cents": budget,
                                "auction_labels": done["labels"],
                                "budget_from": NO_QC if auction_id == state.campaigns.get(NO_QC) else AUCTION}
        _created(req, state, BASELINE, name="demo baseline: posted price + random", budget_cents=budget,
                 max_price_cents=price, rule="posted_price", posted_price_cents=price, acquisition="random",
                 labels_per_item=1, round_size=per_round, round_budget_cents=price * per_round,
                 round_duration_s=ROUND_DURATION_S, label_duration_s=LABEL_WINDOW_S,
                 worker_id=state.accounts["worker"]["id"])
    return _with_pairs(req, state.campaigns[BASELINE], pairs_from)


def _record_fill(req: MarketClient, state: RunState, baseline_id: int) -> None:
    """After the baseline's rounds: the labels it bought and spent, against the labels its
    budget would buy at its price (its fill)."""
    done = req.campaign_summary(baseline_id)
    terms = state.baseline_terms
    terms.update(labels_bought=done["labels"], spent_cents=done["spent_cents"],
                 fill=done["labels"] / terms["labels"] if terms["labels"] else None)
    state.save()


def _warm_caches(src: Path, dst: Path) -> None:
    """Give a campaign's worker on the auction's pairs the auction worker's reference caches:
    same model, same prompts and seeds, so the same values (each cache checks its own key),
    computed once."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("reference_completions.json", "reference_logps.json"):
        if (src / name).exists() and not (dst / name).exists():
            shutil.copy2(src / name, dst / name)


def _worker_args(s: DemoSettings, model: str | None, workdir: Path) -> list[str]:
    args = ["--workdir", str(workdir), "--eval-prompts", str(s.eval_prompts), "--max-new-tokens", str(s.max_new_tokens),
            "--epochs", str(s.epochs), "--batch-size", str(s.batch_size), "--seed", str(s.seed),
            "--lora" if s.lora else "--full", "--poll", "0.5"]  # scores on the method's scale (auto)
    return args + (["--model", model] if model else []) + (["--lr", str(s.lr)] if s.lr else [])


def _phase(name: str, cid: int, req: MarketClient, procs: Processes, display: Display, bidders_for, s: DemoSettings,
           out: Path, url: str, state: RunState, model: str | None, *, max_rounds: int, want_more=lambda: True) -> None:
    rounds = sorted(req.list_rounds(campaign_id=cid), key=lambda r: r["id"])
    evaluated = {e["round_id"] for e in req.list_evaluations(cid)}
    if rounds and (len(rounds) >= max_rounds or not want_more()) and all(r["state"] == "settled" for r in rounds) \
            and (not rounds[-1]["paid_cents"] or rounds[-1]["id"] in evaluated):
        return  # finished before an interruption: no worker to start
    worker = f"worker-{name}"
    procs.worker(worker, url, state.accounts["worker"]["token"], cid, _worker_args(s, model, out / "workers" / name),
                 cpu_only=s.device == "cpu")
    ui = display.ui(name, req, cid, total=s.rounds, done=sum(r["state"] == "settled" for r in rounds))
    CampaignDriver(req, cid, procs, worker, bidders_for, ui).drive(max_rounds, want_more)
    procs.stop(worker)
