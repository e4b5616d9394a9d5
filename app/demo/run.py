"""The whole demo: the pairs, the campaigns through the real processes, the paired evaluation, the report.

Phases, in order:

1. ``prepare`` (two child processes with the model, ``app.demo.paired``): the pool's pairs
   and the judge-labelled held-out pairs, sampled from the reference once for every campaign;
2. ``vetting`` (with quality control): rounds of mostly gold checks on the flagship's pairs,
   everyone on probation, no training: the annotators' track records, paid for once, on
   their own budget line;
3. ``auction``, the flagship: an auction rule and the acquisition's items, the records
   carried (``gold_carry`` 1), a steady share of gold checks; its worker trains after every
   round and posts the held-out accuracy;
4. ``no_qc`` (only with ``--twin``): the flagship again without gold checks, same pairs;
5. ``baseline``: a posted price and random items, with the same quality control and
   records, at the auction's spend. Its price is set in advance, as a requester would set
   it (the bots' median cost, or ``--posted-price-cents``), never read off the auction's
   prices (``_baseline_campaign``);
6. ``final``: every policy and the coin-flip control sampled on the same held-out prompts
   with the same seeds, and judged against the reference (``paired.json``).

The final draws do not wait for the end: each policy is sampled by a model job beside the
campaigns as soon as it exists (``ModelJobs``): the reference's during the vetting and the
auction, the auction's and the control's during the baseline, so the end waits only for
the baseline's, its two blocks of prompts at once. On two cores the worker and that job take one core each.

Run folder layout (everything a resumed run needs is here):

=================== ==================================================================
``settings.json``   the sizes this run was started with (a resumed run reuses them)
``state.json``      accounts and their tokens, campaign ids, the baseline's terms (price,
                    where it came from, budget, labels wanted, and at the end its fill)
``market.db``       the market's SQLite database (serve it again to browse the run)
``bots.json``       the annotator bots' accounts, kinds, costs and skills
``pool.jsonl``      the pool's pairs; ``held_out.jsonl`` the judge-labelled held-out pairs
``paired.json``     the final paired evaluation (``paired_completions.jsonl``: what each wrote)
``workers/<name>``  each policy worker's checkpoints, caches and trained pairs
``logs/``           each process's output
=================== ==================================================================

Resuming: run again with the same ``--out``. The market's database says which round
each campaign reached; the workers reload their last checkpoint (and Adam's state); the
bots reuse their accounts; the model steps skip what they already wrote. Nothing is
bought twice.
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
from market.files import write_private
from app.demo import paired, report
from app.demo.campaign import LABEL_WINDOW_S, ROUND_DURATION_S, CampaignDriver, Ui
from app.demo.processes import DemoError, Processes
from app.demo.report import pct
from app.demo.settings import DemoSettings, posted_price_cents

VETTING, AUCTION, NO_QC, BASELINE = "vetting", "auction", "no_qc", "baseline"
QUALITY_CONTROL = dict(gold_rate=0.1, quality_bar=0.65, quality_confidence=0.8, probation_share=0.2)
CARRIED = dict(QUALITY_CONTROL, gold_carry=1.0)  # the vetting phase's records count in full
# The vetting phase buys gold checks, not labels: almost all of every unit (the market's most
# is under 1; at QUALITY_CONTROL's 0.1 an annotator on probation does half gold, half labels,
# and a CPU run's vetting paid for 85 labels nothing trains on beside its 80 gold checks),
# with the whole round open to annotators on probation.
VETTING_QC = dict(gold_rate=0.95, probation_share=1.0)


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
    """Rich progress: a bar per campaign and a status line, and one printed line per round
    (campaign, round i of n, spend, labels, the latest metric, an ETA), which is what remains
    when the output goes to a file."""

    def __init__(self, console: Console):
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=20),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
                                 console=console)
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def print(self, text: str) -> None:
        self.progress.console.print(text, soft_wrap=True)

    def step(self, name: str, status: str) -> None:
        """A status line for a step without rounds (the model's work)."""
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.progress.add_task(name, total=None, status="")
        self.progress.update(task, status=status)

    def ui(self, name: str, req: MarketClient, cid: int, total: int, done: int) -> Ui:
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.progress.add_task(name, total=total, completed=done, status="")
        started, first = time.monotonic(), done  # the ETA counts the rounds this invocation ran
        last = {"metric": None}

        def status(text: str) -> None:
            self.progress.update(task, status=text)

        def line(r: dict, metric: str | None) -> None:
            ids = [x["id"] for x in sorted(req.list_rounds(campaign_id=cid), key=lambda x: x["id"])]
            k = ids.index(r["id"]) + 1
            summary = req.campaign_summary(cid)
            data = len(req.export_labels(cid))
            ran = k - first
            eta = "-" if ran <= 0 or k >= total else f"{(time.monotonic() - started) / ran * (total - k) / 60:.1f} min"
            if metric is not None:
                last["metric"] = metric
            self.progress.update(task, completed=min(k, total), total=max(k, total))
            self.print(f"{name} round {k} of {total}: spent {usd(summary['spent_cents'])} of "
                       f"{usd(summary['budget_cents'])}, {data} training labels + {summary['labels'] - data} gold checks"
                       f"; {last['metric'] or 'no metric yet'}; ETA {eta}")

        def settled(r: dict) -> None:
            price = "-" if r["clearing_price_cents"] is None else f"{r['clearing_price_cents']}c"
            status(f"round settled: {r['n_bids'] or 0} bids, {r['n_assignments']} assignments, "
                   f"clearing price {price}, paid {usd(r['paid_cents'])}")

        def evaluated(r: dict, ev: dict | None) -> None:
            m = (ev or {}).get("metrics") or {}
            line(r, None if m.get("heldout_accuracy") is None else (
                f"held-out accuracy {pct(m['heldout_accuracy'])} [{pct(m['heldout_ci_low'])}, "
                f"{pct(m['heldout_ci_high'])}] on {m['heldout_n']} pairs"))
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

        jobs = ModelJobs(procs, display, settings, out)
        for part in (1, 2):
            jobs.start(f"prepare-{part}", "prepare", str(part))
        jobs.wait("prepare", f"sampling the pool ({settings.pool} pairs) and the held-out pairs with the reference",
                  "prepare-1", "prepare-2")
        paired.join_pool(out)
        # from here on one model job at a time runs beside the campaign's worker, on the core
        # the worker leaves: the reference's draws during the first campaigns, the auction's
        # and the control's once the auction is done
        jobs.start("draw-reference", "sample", paired.REFERENCE, beside=2)
        pool = (out / paired.POOL).read_text(encoding="utf-8")
        held_out = (out / paired.HELD_OUT).read_text(encoding="utf-8")

        def phase(name: str, campaign_id: int, **rounds) -> None:
            if name not in (VETTING, AUCTION):
                _warm_caches(out / "workers" / AUCTION, out / "workers" / name)
            _phase(name, campaign_id, req, procs, display, bidders_for, settings, out, url, state, model, **rounds)

        if settings.quality:
            phase(VETTING, _vetting_campaign(req, state, settings, pool), max_rounds=settings.vet_rounds)
        cid = _auction_campaign(req, state, settings, pool, held_out)
        phase(AUCTION, cid, max_rounds=settings.rounds)
        jobs.start("draw-auction", "sample", AUCTION, paired.COIN_FLIP, beside=2)
        twin = None
        if settings.twin:
            twin = _twin_campaign(req, state, settings, pool, held_out)
            phase(NO_QC, twin, max_rounds=settings.rounds)
        bid = _baseline_campaign(req, state, settings, roster, cid, pool, held_out)
        wanted = state.baseline_terms["labels"]
        phase(BASELINE, bid, max_rounds=2 * settings.rounds,
              want_more=lambda: req.campaign_summary(bid)["labels"] < wanted)
        _record_fill(req, state, bid)
        last = [BASELINE, *([NO_QC] if twin is not None else [])]
        for b in range(1, paired.EVAL_BLOCKS + 1):  # the last policies' blocks at once, one core each
            jobs.start(f"draw-last-{b}", "sample", *(f"{name}:{b}" for name in last), beside=paired.EVAL_BLOCKS)
        jobs.wait("final", f"every policy and the coin-flip control sampled on {settings.eval_prompts} held-out prompts",
                  "draw-reference", "draw-auction", *(f"draw-last-{b}" for b in range(1, paired.EVAL_BLOCKS + 1)))
        jobs.start("judge", "judge")
        jobs.wait("judge", "judging each policy against the reference, prompt by prompt", "judge")

        display.print("writing the report")
        path = report.write(out, req, settings, auction_id=cid, baseline_id=bid, no_qc_id=twin,
                            vetting_id=state.campaigns.get(VETTING), roster=roster,
                            baseline_terms=state.baseline_terms, wall_s=time.monotonic() - started, resumed=resumed)
    return path


class ModelJobs:
    """The demo's model steps (``app.demo.paired``) as child processes: started when their
    inputs exist, waited for when their outputs are needed. Each skips what it already wrote."""

    def __init__(self, procs: Processes, display: Display, s: DemoSettings, out: Path):
        self.procs, self.display, self.s, self.out = procs, display, s, out

    def start(self, name: str, step: str, *args: str, beside: int = 2) -> None:
        self.procs.model_job(name, [sys.executable, "-m", "app.demo.paired", step, str(self.out), *args],
                             cpu_only=self.s.device == "cpu", beside=beside)

    def wait(self, label: str, what: str, *names: str) -> None:
        """Wait for ``names`` (a failed one raises ``DemoError`` with its log's end)."""
        self.display.print(f"{label}: {what}")
        started = time.monotonic()
        pending = [n for n in names if n in self.procs.running]
        while pending:
            pending = [n for n in pending if not self.procs.finished(n)]
            self.display.step(label, f"{what} ({time.monotonic() - started:.0f} s)")
            time.sleep(0.5)
        self.display.step(label, f"done in {time.monotonic() - started:.0f} s")
        self.display.print(f"{label}: done in {time.monotonic() - started:.0f} s")


def _start_bots(procs: Processes, url: str, state: RunState, settings: DemoSettings, out: Path) -> list[dict]:
    roster = out / "bots.json"
    procs.bots(url, state.accounts["admin"]["token"], size=settings.bots, seed=settings.seed, roster=roster,
               judge=settings.judge, spammers=settings.spammers, capacity=settings.bot_capacity)
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


def _vetting_campaign(req: MarketClient, state: RunState, s: DemoSettings, pool: str) -> int:
    """The vetting phase: gold checks on everyone (``VETTING_QC``), on the flagship's pairs as
    cover (nothing is trained on the few labels it buys). Its gold records are what the
    campaigns after it carry."""
    from task import prompts as task  # the built-in prompt pool (plain templates; no torch)

    if VETTING not in state.campaigns:
        _created(req, state, VETTING, name="demo vetting: gold checks before the campaigns", budget_cents=s.vet_budget_cents,
                 max_price_cents=s.max_price_cents, rule=s.rule, acquisition="random", labels_per_item=1,
                 round_size=s.vet_round_size, round_budget_cents=max(s.max_price_cents, s.vet_budget_cents // s.vet_rounds),
                 round_duration_s=ROUND_DURATION_S, label_duration_s=LABEL_WINDOW_S,
                 **QUALITY_CONTROL | VETTING_QC | {"min_gold_answers": s.min_gold_answers})
    return _with_items(req, state.campaigns[VETTING], pool, gold=task.gold_jsonl(s.gold_items, seed=s.seed))


def _auction_campaign(req: MarketClient, state: RunState, s: DemoSettings, pool: str, held_out: str) -> int:
    """The product's campaign on the pool's pairs; with quality control it carries the vetting
    phase's records and keeps a steady share of gold checks (new gold items)."""
    from task import prompts as task

    if AUCTION not in state.campaigns:
        qc = CARRIED | {"min_gold_answers": s.min_gold_answers} if s.quality else {}
        _created(req, state, AUCTION, name=f"demo auction: {s.rule} + {s.acquisition}{' + gold checks' if s.quality else ''}",
                 **_auction_terms(s, state), **qc)
    return _with_items(req, state.campaigns[AUCTION], pool, held_out,
                       gold=task.gold_jsonl(s.gold_items, seed=s.seed + 1) if s.quality else None)


def _twin_campaign(req: MarketClient, state: RunState, s: DemoSettings, pool: str, held_out: str) -> int:
    """The auction campaign again without gold checks: same rule, budget, bots and pairs."""
    if NO_QC not in state.campaigns:
        _created(req, state, NO_QC, name=f"demo auction without quality control: {s.rule} + {s.acquisition}",
                 **_auction_terms(s, state))
    return _with_items(req, state.campaigns[NO_QC], pool, held_out)


def _created(req: MarketClient, state: RunState, role: str, **fields) -> int:
    """Create the run's campaign ``role`` (vetting, auction, no_qc, baseline) and remember it (a
    resumed run finds it there); ``fields`` go to the API as they are."""
    state.campaigns[role] = req.create_campaign(**fields)["id"]
    state.save()
    return state.campaigns[role]


def _with_items(req: MarketClient, campaign_id: int, pool: str, held_out: str | None = None, *,
                gold: str | None = None) -> int:
    """Upload the gold checks, the held-out pairs and the pool into ``campaign_id``, each once.
    The pool goes last, so a resumed run that finds pool items knows the others went up."""
    items = req.list_items(campaign_id)
    if any(not it["gold_check"] for it in items):
        return campaign_id
    if gold is not None and not any(it["gold_check"] for it in items):
        req.upload_items(campaign_id, gold)
    if held_out is not None and not req.list_held_out(campaign_id):
        req.upload_held_out(campaign_id, held_out)
    req.upload_items(campaign_id, pool)
    return campaign_id


def baseline_price(s: DemoSettings, roster: list[dict]) -> tuple[int, str]:
    """The baseline's posted price and where it came from: the price the user gave
    (``given``), else the median private cost of the bot population in the roster, rounded
    up to a cent and capped at the campaigns' maximum price (``median cost``)."""
    if s.posted_price_cents is not None:
        return s.posted_price_cents, "given"
    return posted_price_cents([b["cost"] for b in roster], s.max_price_cents), "median cost"


def _baseline_campaign(req: MarketClient, state: RunState, s: DemoSettings, roster: list[dict], auction_id: int,
                       pool: str, held_out: str) -> int:
    """Posted price + random items, with the budget the auction ``auction_id`` spent, on the
    same pairs, with the same quality control and the same carried records.

    The price is set in advance (``baseline_price``), never read off the auction's prices:
    a price found after the fact would erase the auction's price discovery by construction.
    Equal spend: the budget is what that auction spent, so the baseline wants
    ``budget // price`` labels and buys as many as annotators accept at that price, the pool
    and its rounds allow (its fill, recorded by ``_record_fill``)."""
    from task import prompts as task

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
                                "auction_labels": done["labels"], "budget_from": AUCTION}
        qc = CARRIED | {"min_gold_answers": s.min_gold_answers} if s.quality else {}
        _created(req, state, BASELINE, name="demo baseline: posted price + random", budget_cents=budget,
                 max_price_cents=price, rule="posted_price", posted_price_cents=price, acquisition="random",
                 labels_per_item=1, round_size=per_round, round_budget_cents=price * per_round,
                 round_duration_s=ROUND_DURATION_S, label_duration_s=LABEL_WINDOW_S,
                 worker_id=state.accounts["worker"]["id"], **qc)
    return _with_items(req, state.campaigns[BASELINE], pool, held_out,
                       gold=task.gold_jsonl(s.gold_items, seed=s.seed + 2) if s.quality else None)


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
    """The worker trains with ``paired.recipe``'s knobs (the coin-flip control repeats them) and
    samples nothing: the pairs are uploaded, and its per-round metric is the held-out accuracy
    (``--judge none``: no sampled win rate each round; the final paired evaluation has it)."""
    args = ["--workdir", str(workdir), "--judge", "none", "--max-new-tokens", str(s.max_new_tokens),
            "--epochs", str(s.epochs), "--batch-size", str(s.batch_size), "--seed", str(s.seed),
            "--schedule", "continue", "--keep-optimizer",
            "--lora" if s.lora else "--full", "--poll", "0.5"]  # scores on the method's scale (auto)
    return args + (["--model", model] if model else []) + (["--lr", str(s.lr)] if s.lr else [])


def _phase(name: str, cid: int, req: MarketClient, procs: Processes, display: Display, bidders_for, s: DemoSettings,
           out: Path, url: str, state: RunState, model: str | None, *, max_rounds: int, want_more=lambda: True) -> None:
    """Drive campaign ``name`` through its rounds, with its policy worker (the vetting phase has none)."""
    train = name != VETTING
    rounds = sorted(req.list_rounds(campaign_id=cid), key=lambda r: r["id"])
    evaluated = {e["round_id"] for e in req.list_evaluations(cid)}
    if rounds and (len(rounds) >= max_rounds or not want_more()) and all(r["state"] == "settled" for r in rounds) \
            and (not train or not rounds[-1]["paid_cents"] or rounds[-1]["id"] in evaluated):
        return  # finished before an interruption: no worker to start
    worker = f"worker-{name}" if train else None
    if train:
        procs.worker(worker, url, state.accounts["worker"]["token"], cid, _worker_args(s, model, out / "workers" / name),
                     cpu_only=s.device == "cpu", beside=2)
    ui = display.ui(name, req, cid, total=s.rounds if train else s.vet_rounds,
                    done=sum(r["state"] == "settled" for r in rounds))
    CampaignDriver(req, cid, procs, worker, bidders_for, ui).drive(max_rounds, want_more)
    if train:
        procs.stop(worker)
