"""Points per label by acquisition function: the ``linear`` fidelity's seeds, arms and rounds.

One seed of one data set (``run_seed``):

1. The seed splits the pairs into a candidate pool and a held-out set (``held_out`` of them).
2. Features are projected on the pool's principal directions (``linear.Projection``).
3. Every pool pair gets its annotator and that annotator's answer, drawn once from a
   generator keyed on ``(seed, pair)`` (like ``bidders.bots.pair_key``): every arm that buys
   the pair gets the same answer. The annotator is a member of the bots' population
   (``bidders.population``: careful, noisy, adversarial, spammers); the answer follows
   ``bidders.labels`` (Bradley–Terry on the judge's score difference for the movie task,
   the logged preference flipped at the annotator's error rate for HH). The market's
   knowledge of each annotator is a skill posterior from ``gold`` gold answers.
4. Each arm buys ``per_round`` labels a round from what is left of the pool, by its
   acquisition function, refits the log-linear DPO policy on everything it bought, and
   records the held-out preference accuracy against the truth.

Arms: ``random`` (the baseline), ``sharp`` (least certain first), ``apl`` (entropy filter,
then most certain), ``adpo`` (greedy D-optimal design carrying what earlier rounds bought),
``noise_aware`` (expected information of the label given its annotator's skill posterior)
and the control ``coin_flip``: the random arm's pairs with coin-flip answers, which must show
no gain. W-SHARP ranks pairs exactly like SHARP (both decrease in ``|Δ|``), so it would buy
the same pairs: it is left out.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from app.experiments import linear
from app.experiments.executor import run_jobs
from app.experiments.features import JUDGE, Inputs
from bidders.labels import label_bradley_terry, label_logged
from bidders.population import PopulationConfig, sample_population
from market import files
from policy import acquisition as acq

ARMS = ("random", "sharp", "apl", "adpo", "noise_aware", "coin_flip")
BASELINE = "random"
CONTROL = "coin_flip"


@dataclass(frozen=True)
class Settings:
    """What one seed does. Fixed before any run and never tuned on the held-out sets.

    ``budget_rounds`` is the campaign the baseline buys (8 × 8 = 64 labels, a quarter of a
    256-pair pool); the curves go on to ``rounds`` (128 labels) so that an arm that buys
    labels more cheaply can be read at equal spend.
    """

    rounds: int = 16
    budget_rounds: int = 8
    per_round: int = 8
    held_out: float = 1 / 3
    dims: int = 32
    lam: float = 1.0  # the L2 prior of the fit (and ADPO's γ)
    beta: float = 0.1  # DPO's β: only APL's entropy estimate reads it
    gold: int = 10  # gold answers behind each annotator's skill posterior
    apl_f_pair: int = 16
    apl_f_prompt: int = 4

    @property
    def labels(self) -> int:
        return self.rounds * self.per_round

    @property
    def budget(self) -> int:
        return self.budget_rounds * self.per_round

    def check(self, n_pairs: int) -> None:
        """Refuse a data set too small for these settings (``ValueError`` naming what to change)."""
        held = int(round(n_pairs * self.held_out))
        pool = n_pairs - held
        if pool < 2 * self.labels or held < 20:
            raise ValueError(
                f"{n_pairs} pairs are too few: {self.rounds} rounds of {self.per_round} labels need a pool of at "
                f"least {2 * self.labels} pairs (twice what an arm buys, or the acquisition would only choose the "
                f"order) and 20 held out; this split leaves {pool} in the pool and {held} held out "
                "(lower --rounds or --per-round, or give more pairs)"
            )
        if self.budget_rounds > self.rounds:
            raise ValueError("the budget's rounds must not exceed the rounds run")


@dataclass
class SeedSetup:
    """What every arm of one seed shares: the split, projected features, answers, skill posteriors."""

    D_pool: np.ndarray  # (n_pool, dims) φ_a − φ_b, projected
    side_a: np.ndarray  # (n_pool, dims) φ_a, projected (APL's entropy)
    side_b: np.ndarray
    ref_pool: np.ndarray  # (n_pool,) ref log π(a) + ref log π(b)
    D_held: np.ndarray
    wins_held: np.ndarray
    answers: np.ndarray  # (n_pool,) bool: the annotator's answer is "a"
    coins: np.ndarray  # (n_pool,) bool: the control's coin
    error_estimate: np.ndarray  # (n_pool,) the market's posterior-mean error of the pair's annotator
    pool_index: np.ndarray  # (n_pool,) the pairs' indices in the data set


def split(n: int, seed: int, held_out: float) -> tuple[np.ndarray, np.ndarray]:
    """(pool, held-out) indices: a seeded permutation, so seeds change which pairs are held out."""
    order = np.random.default_rng([seed, 0]).permutation(n)
    held = int(round(n * held_out))
    return np.sort(order[held:]), np.sort(order[:held])


def annotator_answers(inputs: Inputs, pairs: np.ndarray, seed: int, gold: int,
                      population: PopulationConfig | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pair: its annotator's answer ("a" = True), a coin, and the market's estimate of that annotator's error.

    Each pair's draws come from a generator keyed on ``(seed, pair)``, so the answer to a pair
    does not depend on which arm buys it or when. The skill posterior is Beta(1, 1) updated
    by ``gold`` gold answers, each right with the annotator's typical accuracy.
    """
    pop = sample_population(population or PopulationConfig(), np.random.default_rng([seed, 1]))
    correct = np.random.default_rng([seed, 2]).binomial(gold, 1.0 - pop.error)
    estimate = (gold - correct + 1.0) / (gold + 2.0)
    answers, coins, error = np.empty(len(pairs), bool), np.empty(len(pairs), bool), np.empty(len(pairs))
    for row, i in enumerate(pairs):
        draw = np.random.default_rng([seed, 3, int(i)])
        who = int(draw.integers(pop.size))
        if inputs.truth_kind == JUDGE:
            answers[row] = label_bradley_terry(np.array([inputs.truth[i]]), pop.skill[who], pop.kind[who], draw)[0]
        else:
            answers[row] = label_logged(np.array([inputs.truth[i] == 1.0]), pop.error[who], pop.kind[who], draw)[0]
        coins[row] = draw.random() < 0.5
        error[row] = estimate[who]
    return answers, coins, error


def setup_seed(inputs: Inputs, seed: int, settings: Settings) -> SeedSetup:
    pool, held = split(len(inputs), seed, settings.held_out)
    diff = inputs.features_a.astype(np.float64) - inputs.features_b
    project = linear.Projection.fit(diff[pool], settings.dims)
    answers, coins, error = annotator_answers(inputs, pool, seed, settings.gold)
    return SeedSetup(
        D_pool=project(diff[pool]), side_a=project(inputs.features_a[pool]), side_b=project(inputs.features_b[pool]),
        ref_pool=inputs.ref_logp_a[pool] + inputs.ref_logp_b[pool],
        D_held=project(diff[held]), wins_held=inputs.a_wins[held],
        answers=answers, coins=coins, error_estimate=error, pool_index=pool,
    )


def choose(arm: str, s: SeedSetup, free: np.ndarray, bought: np.ndarray, theta: np.ndarray, k: int,
           settings: Settings, rng: np.random.Generator) -> np.ndarray:
    """Which ``k`` of the ``free`` pool positions ``arm`` buys next (positions into the pool)."""
    if arm in (BASELINE, CONTROL):
        return free[rng.permutation(len(free))[:k]]
    D = s.D_pool[free]
    margins = D @ theta
    if arm == "sharp":
        scores = acq.sharp(margins)
    elif arm == "apl":
        # APL's Monte-Carlo entropy −mean log πθ(y|x) over the prompt's two completions (the pool's
        # own samples), with log πθ = log πref + r̂/β; log Z(x) is unknown and left out.
        logp = s.ref_pool[free] + (s.side_a[free] + s.side_b[free]) @ theta / settings.beta
        scores = acq.apl(-logp / 2, margins, n_select=k, f_pair=settings.apl_f_pair, f_prompt=settings.apl_f_prompt,
                         rng=rng)
    elif arm == "adpo":
        V, B = acq.adpo_design(D, margins, 1.0, s.D_pool[bought], s.D_pool[bought] @ theta)
        order, _ = acq.greedy_d_optimal(V, k, gamma=settings.lam, initial=B)
        return free[order]
    elif arm == "noise_aware":
        cov = linear.posterior_cov(s.D_pool[bought], theta, settings.lam)
        return free[acq.noise_aware_select(D, theta, cov, s.error_estimate[free], k)]
    else:
        raise ValueError(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}")
    return free[acq.select(scores, k, rng)]


def run_arm(s: SeedSetup, arm: str, seed: int, settings: Settings) -> tuple[list[float], np.ndarray]:
    """Held-out accuracy after 0, 1, …, ``rounds`` rounds of ``arm``, and the pool positions it bought in order."""
    rng = np.random.default_rng([seed, 4, ARMS.index(BASELINE if arm == CONTROL else arm)])
    labels = s.coins if arm == CONTROL else s.answers
    theta = np.zeros(s.D_pool.shape[1])
    bought = np.zeros(0, dtype=np.int64)
    curve = [linear.accuracy(theta, s.D_held, s.wins_held)]
    for _ in range(settings.rounds):
        free = np.setdiff1d(np.arange(len(s.D_pool)), bought)
        bought = np.concatenate([bought, choose(arm, s, free, bought, theta, settings.per_round, settings, rng)])
        theta = linear.fit(s.D_pool[bought], labels[bought], settings.lam)
        curve.append(linear.accuracy(theta, s.D_held, s.wins_held))
    return curve, bought


def run_seed(inputs: Inputs, seed: int, arms: Sequence[str], settings: Settings) -> dict:
    """One seed, every arm on the same split and answers: ``{"seed", "labels", "accuracy": {arm: curve}}``."""
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        s = setup_seed(inputs, seed, settings)
        curves = {arm: run_arm(s, arm, seed, settings)[0] for arm in arms}
        # what the features allow: every pool pair with its true label (a reference line, not an arm)
        truth = linear.fit(s.D_pool, inputs.a_wins[s.pool_index], settings.lam)
    return {"seed": seed, "labels": [r * settings.per_round for r in range(settings.rounds + 1)],
            "accuracy": curves, "pool": len(s.D_pool), "held_out": len(s.D_held),
            "ceiling": linear.accuracy(truth, s.D_held, s.wins_held),
            "label_accuracy": float(np.mean(s.answers == inputs.a_wins[s.pool_index])),
            "seconds": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- many seeds, resumable


@functools.lru_cache(maxsize=4)
def _inputs(path: str) -> Inputs:
    return Inputs.load(Path(path))


def _seed_job(path: str, seed: int, arms: tuple[str, ...], settings: Settings, out: str) -> int:
    files.write_text(Path(out), json.dumps(run_seed(_inputs(path), seed, arms, settings)))
    return seed


def results_folder(home: Path, dataset: str, settings: Settings) -> Path:
    """Where one data set's seed files go, keyed by the settings (other settings, other folder)."""
    from app.experiments.features import fingerprint

    return home / "results" / f"{dataset}-{fingerprint(asdict(settings))}"


def run_seeds(inputs_path: Path, folder: Path, seeds: Sequence[int], arms: Sequence[str], settings: Settings, *,
              workers: int = 1, cluster: str | None = None, progress: bool = True, desc: str = "seeds") -> list[dict]:
    """Every seed's result, computing (in ``workers`` processes, or on the Dask cluster at
    ``cluster``: ``app.experiments.executor``) only those without a file.

    A seed file holding fewer arms than asked, or written before the ceiling was recorded, is
    computed again (one file per seed holds all its arms, so arms stay paired).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path_of = {seed: folder / f"seed-{seed:04d}.json" for seed in seeds}

    def done(seed: int) -> bool:
        p = path_of[seed]
        if not p.exists():
            return False
        result = json.loads(p.read_text())
        return set(arms) <= set(result["accuracy"]) and "ceiling" in result

    todo = [seed for seed in seeds if not done(seed)]
    job = (str(inputs_path), tuple(arms), settings)
    bar = tqdm(total=len(seeds), initial=len(seeds) - len(todo), desc=desc, disable=not progress)
    run_jobs(_seed_job, [(job[0], seed, job[1], settings, str(path_of[seed])) for seed in todo], workers=workers,
             cluster=cluster, done=bar.update)
    bar.close()
    return [json.loads(path_of[seed].read_text()) for seed in seeds]
