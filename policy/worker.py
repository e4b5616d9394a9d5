"""The policy worker: the policy side of one campaign, talking to the market over HTTP only.

Each ``step`` does whatever the campaign needs now, in this order:

1. rounds that settled since the last step: train on their accepted labels (``continue``:
   the new labels, Adam's state carried from the last training; ``retrain``: all labels so
   far) and save a checkpoint, and the pairs as trained in ``trained/v<version>.jsonl``;
2. items uploaded as prompts only: sample two completions with the current policy and
   ``set_completions``;
3. items with a pair and labels still to buy: score them with the current policy and
   ``post_scores`` (only when the policy or the pool changed since the last scoring);
4. after a training: evaluate against the reference on held-out prompts and post an
   ``Evaluation``. It comes last so that its arrival also means "the pool is scored by
   the policy trained on that round": a requester may open the next round on it.

What an evaluation measures. The win rate needs a judge (``WorkerConfig.judge``). A
campaign with a held-out labelled set (``GET /v1/campaigns/{id}/held-out``) also gets
held-out preference accuracy, which needs none: ``metrics`` carries ``heldout_accuracy``
(the share of held-out pairs whose implicit reward margin agrees with the logged
preference, ties half), ``heldout_ci_low``/``heldout_ci_high`` (percentile bootstrap, 95%),
``heldout_n`` (pairs scored) and ``heldout_skipped`` (pairs too long for the context).
With ``judge="none"`` no win rate is measured: the evaluation says so with ``n=0`` judged
pairs, ``win_rate`` 0.5 and the uninformative interval [0, 1]. ``prequential_accuracy`` is
the policy's accuracy on each round's new labels *before* it trains on them (free, but
measured on the labels just bought, not on a fixed set).

Resuming. ``state.json`` in the work folder records the last checkpoint and what was
trained, evaluated and scored; it is replaced atomically, after the checkpoint it names
is on disk. A killed worker reloads that checkpoint and redoes at most the round it was
training. An evaluation is posted once per round (the worker checks the campaign's
evaluations first).

Quality (``WorkerConfig.quality``, the QA-DPO weight of each pair; see ``pairs_from_export``):
``market`` (the default) takes the weight and the soft label that the market's export
computes from its aggregation posterior; ``confidence`` the annotator's self-reported
confidence; ``facet`` a facet reward model fitted on the labels; ``none`` plain DPO. Under
``market`` the weights reach the loss only when they differ between pairs (the worker
switches ``recipe.qa_weights`` on for that training), so a campaign whose export says
nothing pair by pair (one label per item, no gold answers) trains plain DPO, as before.
With ``soft_labels`` (the default) each pair is also trained toward the export's posterior
that its label is right (``DPORecipe.soft_labels``: conservative DPO per pair) instead of
as certain: a label from an annotator right 85% of the time pulls toward a bounded margin
instead of an ever larger one. (Measured: on 137 pairs with 18% flipped it did not rescue
the win rate, 44.7% against 43.8% hard; ``app.experiments.quality``.) Unlike the weights, soft labels speak even
when they are all equal: one label per item from unjudged annotators sits at the prior's
2/3, which is what the market believes of it.

Documented skips, never crashes: an empty pool (nothing to do until items arrive);
prompts too long for the context, identical or empty pairs (kept in ``state.unusable``
with the reason, never retried); rounds that settled without accepted labels (no
training, no evaluation).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from task import prompts as task
from market import acquisition as registry
from market import files
from policy.acquire import AcquisitionConfig, score_pool
from policy.evaluate import evaluate_win_rate, heldout_accuracy, implicit_reward_accuracy, reference_completions
from policy.generate import SamplingConfig, generate_pairs
from task.judges import FacetRewardModel, make_judge
from policy.model import context_length, data_home, load
from policy.scoring import ReferenceCache, encode, fits_context, pair_scores
from policy.train import (DPORecipe, PreferencePair, initial_models, load_checkpoint, load_optimizer_state, qa_weight,
                          save_checkpoint, train_dpo)

log = logging.getLogger("prefmarket.worker")

QUALITY_SIGNALS = ("market", "confidence", "facet", "none")
SCORE_TRANSFORMS = ("auto", "raw", "rank")
_CHUNK = 500  # rows per completions/scores request


@dataclass
class WorkerConfig:
    campaign_id: int
    workdir: Path | None = None  # default: $PREFMARKET_HOME/workers/campaign-<id>
    model: str | None = None  # None: the embedded default
    recipe: DPORecipe = field(default_factory=DPORecipe)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    evaluation: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.7, seed=1234))
    acquisition: AcquisitionConfig | None = None  # None: the campaign's method; n_select is always its round size
    eval_prompts: list[str] = field(default_factory=lambda: task.prompts("eval", 128))
    judge: str = "sentiment"  # or "none": no win rate (a campaign priced on its held-out accuracy)
    quality: str | None = "market"  # QA-DPO weights: one of QUALITY_SIGNALS (None means "none": plain DPO)
    # what to post: rank/n (in (0, 1]) or the raw acquisition value; "auto" posts rank/n for an
    # ordinal method and raw values for a cardinal one (market.acquisition), safe for any reader
    score_transform: str = "auto"
    soft_labels: bool = True  # train toward the export's posterior (quality "market" only), not certainty

    def __post_init__(self):
        if self.quality is None:
            self.quality = "none"
        if self.quality not in QUALITY_SIGNALS:
            raise ValueError(f"quality must be one of {', '.join(QUALITY_SIGNALS)} (got {self.quality!r})")
        if self.score_transform not in SCORE_TRANSFORMS:
            raise ValueError(f"score_transform must be one of {SCORE_TRANSFORMS}, got {self.score_transform!r}")
        if self.quality in ("confidence", "facet"):  # "market" decides per training (see _train_on_settled_rounds)
            self.recipe = replace(self.recipe, qa_weights=True)
        if self.workdir is None:
            self.workdir = data_home() / "workers" / f"campaign-{self.campaign_id}"
        self.workdir = Path(self.workdir)


@dataclass
class WorkerState:
    checkpoint: str | None = None
    version: int = 0  # trainings done; 0 is the reference
    rounds_trained: list[int] = field(default_factory=list)
    labels_trained: list[int] = field(default_factory=list)
    pending_evaluation: dict | None = None  # {"round_id", "metrics"} until it is posted
    unusable: dict[str, str] = field(default_factory=dict)  # item id -> why it has no usable pair
    scored_version: int = -1
    scored_items: list[int] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> WorkerState:
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def save(self, path: Path) -> None:
        files.write_text(path, json.dumps(asdict(self), indent=1))


@dataclass
class StepReport:
    empty_pool: bool = False
    trained_rounds: list[int] = field(default_factory=list)
    evaluation: dict | None = None
    completed: int = 0
    skipped: Counter = field(default_factory=Counter)
    scored: int = 0


class PolicyWorker:
    def __init__(self, client, cfg: WorkerConfig, *, load_model: Callable | None = None, progress: bool = False):
        self.client, self.cfg, self.progress = client, cfg, progress
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        self.state_path = cfg.workdir / "state.json"
        self.state = WorkerState.load(self.state_path)
        base, tokenizer = (load_model or (lambda: load(cfg.model)))()
        initial = initial_models(base, tokenizer, cfg.recipe)
        self.models = load_checkpoint(initial, self.state.checkpoint) if self.state.checkpoint else initial
        self.optimizer_state = load_optimizer_state(self.state.checkpoint) if self.state.checkpoint else None
        if self.state.checkpoint:
            log.info("resumed from %s (version %d)", self.state.checkpoint, self.state.version)
        self.cache = ReferenceCache(cfg.workdir / "reference_logps.json")
        self.judge = None if cfg.judge == "none" else make_judge(cfg.judge)

    # ------------------------------------------------------------------ the loop

    def run(self, *, poll_s: float = 5.0, max_rounds: int | None = None, once: bool = False) -> None:
        """Step until the campaign is no longer active, ``max_rounds`` rounds were trained, or once."""
        while True:
            report = self.step()
            log.info("step: %s", report)
            campaign = self.client.get_campaign(self.cfg.campaign_id)
            done = max_rounds is not None and len(self.state.rounds_trained) >= max_rounds
            if once or done or campaign["status"] != "active":
                return
            time.sleep(poll_s)

    def step(self) -> StepReport:
        report = StepReport()
        campaign = self.client.get_campaign(self.cfg.campaign_id)
        self._train_on_settled_rounds(report)
        items = self.client.list_items(self.cfg.campaign_id)
        if items:
            if self._complete(items, report):
                items = self.client.list_items(self.cfg.campaign_id)
            self._score(items, campaign, report)
        else:
            report.empty_pool = True
            log.info("campaign %d has no items yet; nothing to generate or score", self.cfg.campaign_id)
        # Last, so that a round's evaluation also tells the requester that the pool is
        # scored by the policy trained on it: the next round may open (the demo waits on it).
        self._post_pending_evaluation(report)
        return report

    # ------------------------------------------------------------------ training

    def _train_on_settled_rounds(self, report: StepReport) -> None:
        cid = self.cfg.campaign_id
        settled = sorted(r["id"] for r in self.client.list_rounds(state="settled", campaign_id=cid))
        new_rounds = [r for r in settled if r not in self.state.rounds_trained]
        if not new_rounds:
            return
        labels = self.client.export_labels(cid)
        previous = self.state.checkpoint
        seen = set(self.state.labels_trained)
        new = [lab for lab in labels if lab["label_id"] not in seen]
        if new:
            metrics = {"prequential_accuracy": self._prequential_accuracy(new), "n_prequential": len(new)}
            train_on = new if self.cfg.recipe.schedule == "continue" else labels
            pairs = pairs_from_export(train_on, self.cfg.quality, all_labels=labels)
            weighted = any(p.weight != 1.0 for p in pairs)
            soft = self.cfg.soft_labels and any(p.soft_label != 1.0 for p in pairs)
            recipe = replace(self.cfg.recipe, qa_weights=self.cfg.recipe.qa_weights or weighted,
                             soft_labels=self.cfg.recipe.soft_labels or soft)
            result = train_dpo(self.models, pairs, recipe, self.cache, self.cfg.workdir / "trainer", progress=self.progress,
                               optimizer_state=self.optimizer_state)
            metrics.update(
                quality=self.cfg.quality, qa_weighted=recipe.qa_weights, soft_labels=recipe.soft_labels,
                flipped_labels=sum(p.chosen != r["chosen"] for p, r in zip(pairs, train_on, strict=True)),
            )
            version = self.state.version + 1
            path = save_checkpoint(result.models, self.cfg.workdir / "checkpoints" / f"v{version}", {"rounds": new_rounds},
                                   optimizer_state=result.optimizer_state)
            save_trained_pairs(self.cfg.workdir, version, pairs)
            self.models, self.optimizer_state = result.models, result.optimizer_state
            self.cache.save()
            self.state.checkpoint, self.state.version = str(path), version
            self.state.labels_trained += [lab["label_id"] for lab in new]
            self.state.pending_evaluation = {"round_id": new_rounds[-1], "metrics": {**metrics, **result.metrics}}
            report.trained_rounds = new_rounds
        self.state.rounds_trained += new_rounds
        self.state.save(self.state_path)
        if previous and previous != self.state.checkpoint:
            shutil.rmtree(previous, ignore_errors=True)

    def _prequential_accuracy(self, labels: list[dict]) -> float:
        """Implicit-reward accuracy of the policy *before* it sees these labels: a held-out figure for free."""
        s = pair_scores(
            self.models, self.cache, [x["prompt"] for x in labels], [x["chosen"] for x in labels],
            [x["rejected"] for x in labels], beta=self.cfg.recipe.beta,
        )
        return implicit_reward_accuracy(s.margins)

    # ------------------------------------------------------------------ evaluation

    def _post_pending_evaluation(self, report: StepReport) -> None:
        pending = self.state.pending_evaluation
        if pending is None:
            return
        cid = self.cfg.campaign_id
        if not any(e.get("round_id") == pending["round_id"] for e in self.client.list_evaluations(cid)):
            metrics = {**pending["metrics"], **self._heldout_metrics(), "version": self.state.version}
            if self.judge is None:  # nothing judged: n=0 and an interval that claims nothing
                win = {"win_rate": 0.5, "ci_low": 0.0, "ci_high": 1.0, "n": 0}
            else:
                result = evaluate_win_rate(
                    self.models, self.cfg.eval_prompts, self._reference_completions(), self.judge,
                    self.cfg.evaluation, progress=self.progress,
                )
                win = {"win_rate": result.win.rate, "ci_low": result.win.ci_low, "ci_high": result.win.ci_high,
                       "n": result.win.n}
                metrics["skipped_eval_prompts"] = result.skipped
            spend = int(self.client.campaign_summary(cid)["spent_cents"])
            report.evaluation = self.client.post_evaluation(
                cid, round_id=pending["round_id"], spend_cents=spend, metrics=_jsonable(metrics), **win,
            )
        self.state.pending_evaluation = None
        self.state.save(self.state_path)

    def _heldout_metrics(self) -> dict:
        """Held-out preference accuracy of the current policy, or nothing without a held-out set.

        Pairs too long for the model's context are counted in ``heldout_skipped``, never
        truncated (a truncated reply is not the reply that was preferred)."""
        pairs = self.client.list_held_out(self.cfg.campaign_id)
        if not pairs:
            return {}
        tok, limit, prompts = self.models.tokenizer, context_length(self.models.policy), [p["prompt"] for p in pairs]
        fits = (fits_context(encode(tok, prompts, [p["chosen"] for p in pairs]), limit)
                & fits_context(encode(tok, prompts, [p["rejected"] for p in pairs]), limit))
        usable = [p for p, ok in zip(pairs, fits, strict=True) if ok]
        skipped = len(pairs) - len(usable)
        if len(usable) < 2:
            log.warning("campaign %d: %d held-out pairs fit the context; no held-out accuracy",
                        self.cfg.campaign_id, len(usable))
            return {"heldout_skipped": skipped}
        s = pair_scores(
            self.models, self.cache, [p["prompt"] for p in usable], [p["chosen"] for p in usable],
            [p["rejected"] for p in usable], beta=self.cfg.recipe.beta, progress=self.progress,
        )
        self.cache.save()
        return {**heldout_accuracy(s.margins, seed=self.cfg.evaluation.seed).metrics(), "heldout_skipped": skipped}

    def _reference_completions(self) -> list[str | None]:
        """The reference's held-out completions, drawn once per work folder and reused every round."""
        path = self.cfg.workdir / "reference_completions.json"
        key = {"prompts": self.cfg.eval_prompts, "sampling": asdict(self.cfg.evaluation)}
        if path.exists():
            saved = json.loads(path.read_text())
            if saved["key"] == key:
                return saved["completions"]
        completions = reference_completions(self.models, self.cfg.eval_prompts, self.cfg.evaluation, progress=self.progress)
        path.write_text(json.dumps({"key": key, "completions": completions}))
        return completions

    # ------------------------------------------------------------------ the pool

    def _complete(self, items: list[dict], report: StepReport) -> bool:
        """Sample pairs for prompt-only items; returns whether any were written."""
        todo = [
            it for it in items
            if it["completion_a"] is None and it["n_labels"] == 0 and it["round_id"] is None
            and str(it["id"]) not in self.state.unusable
        ]
        if not todo:
            return False
        with self.models.for_generation() as policy:
            pairs = generate_pairs(
                policy, self.models.tokenizer, [it["prompt"] for it in todo], self.cfg.sampling, progress=self.progress
            )
        for i, reason in pairs.skipped.items():
            self.state.unusable[str(todo[i]["id"])] = reason
        report.skipped.update(pairs.skip_counts)
        rows = [
            {"item_id": todo[i]["id"], "completion_a": a, "completion_b": b}
            for i, a, b in zip(pairs.index, pairs.completion_a, pairs.completion_b, strict=True)
        ]
        for start in range(0, len(rows), _CHUNK):
            self.client.set_completions(self.cfg.campaign_id, rows[start : start + _CHUNK])
        report.completed = len(rows)
        self.state.save(self.state_path)
        return bool(rows)

    def _score(self, items: list[dict], campaign: dict, report: StepReport) -> None:
        wanted = [
            it for it in items
            if it["completion_a"] and it["completion_b"] and it["n_labels"] < campaign["labels_per_item"]
            and str(it["id"]) not in self.state.unusable
        ]
        ids = sorted(it["id"] for it in wanted)
        if not wanted or (self.state.scored_version == self.state.version and set(ids) <= set(self.state.scored_items)):
            return
        prompts = [it["prompt"] for it in wanted]
        a, b = [it["completion_a"] for it in wanted], [it["completion_b"] for it in wanted]
        limit = context_length(self.models.policy)
        tok = self.models.tokenizer
        fits = fits_context(encode(tok, prompts, a), limit) & fits_context(encode(tok, prompts, b), limit)
        for it in np.array(wanted, dtype=object)[~fits]:
            self.state.unusable[str(it["id"])] = "pair_too_long"
        report.skipped["pair_too_long"] += int((~fits).sum())
        keep = np.flatnonzero(fits)
        if len(keep):
            acquisition = self._acquisition(campaign)
            labelled = [it for it in items if it["n_labels"] > 0 and it["completion_a"] and it["completion_b"]
                        and str(it["id"]) not in self.state.unusable]
            bought = ([it["prompt"] for it in labelled], [it["completion_a"] for it in labelled],
                      [it["completion_b"] for it in labelled])
            scores = score_pool(
                self.models, self.cache, [prompts[i] for i in keep], [a[i] for i in keep], [b[i] for i in keep],
                acquisition, bought=bought, progress=self.progress,
            )
            transform = self.cfg.score_transform
            if transform == "rank" or (transform == "auto" and registry.scale(acquisition.method) == "ordinal"):
                scores = (np.argsort(np.argsort(scores)) + 1) / len(scores)
            posted = {int(wanted[i]["id"]): float(s) for i, s in zip(keep, scores, strict=True)}
            chunks = list(posted.items())
            for start in range(0, len(chunks), _CHUNK):
                self.client.post_scores(self.cfg.campaign_id, dict(chunks[start : start + _CHUNK]))
            report.scored = len(posted)
            self.cache.save()
        self.state.scored_version, self.state.scored_items = self.state.version, ids
        self.state.save(self.state_path)

    def _acquisition(self, campaign: dict) -> AcquisitionConfig:
        """The configured acquisition (or the campaign's), sized to the round, reseeded per policy version.

        A campaign method outside the registry (a name stored before the market checked them)
        stops the worker with what to do, rather than scoring at random under another name."""
        base = self.cfg.acquisition
        if base is None:
            method = campaign["acquisition"]
            if method not in registry.METHODS:
                raise ValueError(f"campaign {self.cfg.campaign_id}: {registry.unknown_message(method)} "
                                 "(pass the worker --acquisition to choose)")
            base = AcquisitionConfig(method=method, beta=self.cfg.recipe.beta, seed=self.cfg.recipe.seed)
        return replace(base, n_select=campaign["round_size"], seed=base.seed + self.state.version)


def pairs_from_export(rows: list[dict], quality: str = "market", *, all_labels: list[dict] | None = None) -> list[PreferencePair]:
    """One training pair per exported label (``MarketClient.export_labels`` rows), weighted by ``quality``.

    ``market``: the market aggregates every accepted vote on an item into a posterior
    (``soft_label``: P(this row's ``chosen`` beats its ``rejected``)) and exports the QA-DPO
    weight ``weight = 0.5 + σ(b_chosen − b_rejected)`` that goes with it. The pair takes that
    weight as is. Where the posterior contradicts the label (``soft_label < 0.5``: the other
    annotators, or this annotator's own gold record, say the other side is better) the pair
    is *flipped* to the posterior's direction with the reversed pair's weight ``2 − weight``
    (``0.5 + σ(−d) = 2 − (0.5 + σ(d))``), which is above 1 exactly as confidently as the
    posterior leans. Flipped rather than dropped because the posterior is the best estimate
    of the truth the market has: a vote from an annotator whose gold record is worse than a
    coin is evidence for the other side, and dropping it would throw away what was paid
    for; an item still counts once per accepted vote, as every other item does. A posterior
    of exactly 0.5 keeps the label's own direction at weight 1. Each pair's ``soft_label`` is
    the posterior's probability that the pair, as trained, is the right way round
    (``max(s, 1 − s)``); it reaches the loss only under ``DPORecipe.soft_labels``.

    Weights that are all equal say nothing about one pair against another (one vote per
    item and no gold answers yet gives every row the prior's 2/3): they become 1.0, so the
    training is plain DPO rather than DPO with a silently rescaled learning rate. Rows
    without ``soft_label``/``weight`` (an export from before quality control) count as a
    coin flip: weight 1.0, in the label's direction, and soft label 1 (taken as given).

    ``confidence``: the annotator's self-reported confidence ``c`` (0.5 when missing) as
    ``qa_weight(c, 1 − c)``. ``facet``: a facet reward model fitted on ``all_labels`` (default
    ``rows``) scores both completions. ``none``: every weight 1.0.
    """
    if quality not in QUALITY_SIGNALS:
        raise ValueError(f"quality must be one of {', '.join(QUALITY_SIGNALS)} (got {quality!r})")
    chosen, rejected = [r["chosen"] for r in rows], [r["rejected"] for r in rows]
    weights, soft = np.ones(len(rows)), np.ones(len(rows))
    if quality == "market":
        for i, r in enumerate(rows):
            if r.get("soft_label") is None or r.get("weight") is None:
                continue
            weights[i] = float(r["weight"])
            soft[i] = max(float(r["soft_label"]), 1.0 - float(r["soft_label"]))
            if float(r["soft_label"]) < 0.5:
                chosen[i], rejected[i] = rejected[i], chosen[i]
                weights[i] = 2.0 - weights[i]
        if len(rows) and np.ptp(weights) < 1e-9:
            weights[:] = 1.0
    elif quality == "confidence":
        conf = np.array([0.5 if r.get("confidence") is None else float(r["confidence"]) for r in rows])
        weights = qa_weight(conf, 1.0 - conf)
    elif quality == "facet":
        fit_on = rows if all_labels is None else all_labels
        facet = FacetRewardModel().fit([x["prompt"] for x in fit_on], [x["chosen"] for x in fit_on], [x["rejected"] for x in fit_on])
        prompts = [r["prompt"] for r in rows]
        weights = qa_weight(facet.score(prompts, chosen), facet.score(prompts, rejected))
    return [
        PreferencePair(r["prompt"], c, rj, float(w), float(s))
        for r, c, rj, w, s in zip(rows, chosen, rejected, weights, soft, strict=True)
    ]


TRAINED = "trained"  # the work folder's record of what each training saw: trained/v<version>.jsonl


def save_trained_pairs(workdir: Path, version: int, pairs: list[PreferencePair]) -> Path:
    """Write the pairs training ``version`` saw, as trained (direction, weight, soft label), so
    that a control arm can repeat the campaign's trainings exactly with other answers
    (the demo's coin-flip control). Replaced whole: a redone round writes the same file."""
    folder = Path(workdir) / TRAINED
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v{version}.jsonl"
    files.write_text(path, "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs))
    return path


def trained_pairs(workdir: Path, version: int) -> list[list[PreferencePair]]:
    """The pairs of trainings 1 to ``version`` (the worker's ``state.version``), one list per training, in order."""
    folder = Path(workdir) / TRAINED
    return [[PreferencePair(**json.loads(line)) for line in (folder / f"v{v}.jsonl").read_text(encoding="utf-8").splitlines()]
            for v in range(1, version + 1)]


def _jsonable(d: dict) -> dict:
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in d.items()}
