"""Did the money buy a better model? Win rate against the reference, and implicit-reward accuracy.

- Win rate: on held-out prompts, the policy's completion against the reference model's,
  judged pair by pair (ties count half), with a percentile-bootstrap 95% CI. The reference's
  completions are drawn once with a fixed seed and reused every round, so round-to-round
  changes come from the policy alone.
- Implicit-reward accuracy: the share of labelled pairs where the policy's margin
  ``Δ = r̂(chosen) − r̂(rejected)`` agrees with the label (ties count half). It needs no
  judge, which is what imported logged data (e.g. HH) offers. On a campaign's held-out set
  (``heldout_accuracy``) it comes with a percentile-bootstrap 95% CI from
  ``scipy.stats.bootstrap``. The reference's own margins are all 0, so the reference scores
  exactly 50%: points above 50% are what training bought, as for the win rate.
- Paired evaluation (``sample_completions``, ``judged_outcomes``, ``win_share``,
  ``paired_difference``): one draw per prompt against one fixed reference draw swings by
  about ±10 points from seed to seed, which hid any effect of the labels. Instead every
  model draws ``samples`` completions per prompt, sample ``j`` with seed ``cfg.seed + j``
  for every model (common random numbers), each is judged against the reference's sample
  with the same seed, and two policies are compared prompt by prompt with a paired
  bootstrap over prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from policy.generate import SamplingConfig, complete
from task.judges import Judge
from policy.model import PolicyModels


@dataclass
class WinRate:
    rate: float
    ci_low: float
    ci_high: float
    n: int

    def excludes_half(self) -> bool:
        return self.ci_low > 0.5 or self.ci_high < 0.5


def win_rate(outcomes, *, n_boot: int = 4000, level: float = 0.95, seed: int = 0) -> WinRate:
    """Mean outcome (1 win, 0.5 tie, 0 loss) with a percentile-bootstrap CI over pairs."""
    o = np.asarray(outcomes, dtype=np.float64)
    if o.size == 0:
        raise ValueError("no judged pairs: cannot compute a win rate")
    if not np.isin(o, (0.0, 0.5, 1.0)).all():
        raise ValueError("outcomes must be 1 (win), 0.5 (tie) or 0 (loss)")
    rng = np.random.default_rng(seed)
    means = o[rng.integers(0, o.size, size=(n_boot, o.size))].mean(axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return WinRate(rate=float(o.mean()), ci_low=float(low), ci_high=float(high), n=int(o.size))


def agreement(margins) -> np.ndarray:
    """Per pair: 1 where ``Δ(chosen − rejected) > 0``, 0 where it is negative, 0.5 on an exact tie."""
    m = np.asarray(margins, dtype=np.float64)
    if m.size == 0:
        raise ValueError("no labelled pairs")
    return np.where(m == 0, 0.5, (m > 0).astype(np.float64))


def implicit_reward_accuracy(margins) -> float:
    """Share of pairs with ``Δ(chosen − rejected) > 0``; exact ties count half."""
    return float(agreement(margins).mean())


@dataclass
class HeldOutAccuracy:
    accuracy: float
    ci_low: float
    ci_high: float
    n: int

    def metrics(self) -> dict:
        """The evaluation's ``metrics`` keys the accounting prices (``?metric=heldout_accuracy``)."""
        return {"heldout_accuracy": self.accuracy, "heldout_ci_low": self.ci_low,
                "heldout_ci_high": self.ci_high, "heldout_n": self.n}


def heldout_accuracy(margins, *, level: float = 0.95, n_resamples: int = 4000, seed: int = 0) -> HeldOutAccuracy:
    """Implicit-reward accuracy on a held-out set with a percentile-bootstrap CI over pairs.

    Percentile rather than BCa: at step 0 every margin is 0 and BCa has no interval for
    constant data, while the percentile interval is the honest [0.5, 0.5]."""
    o = agreement(margins)
    if o.size < 2:
        raise ValueError("a bootstrap interval needs at least 2 held-out pairs")
    ci = stats.bootstrap((o,), np.mean, confidence_level=level, n_resamples=n_resamples, method="percentile",
                         vectorized=True, rng=np.random.default_rng(seed)).confidence_interval
    rate = float(o.mean())
    # resampled means are averages of the same values; clip float noise so the interval holds the rate
    return HeldOutAccuracy(accuracy=rate, ci_low=min(float(ci.low), rate), ci_high=max(float(ci.high), rate),
                           n=int(o.size))


def sample_completions(models: PolicyModels, prompts: Sequence[str], cfg: SamplingConfig, *, samples: int,
                       reference: bool = False, progress: bool = False) -> list[list[str | None]]:
    """``samples`` completions per prompt, indexed ``[prompt][sample]``; ``None`` where the prompt was skipped.

    Sample ``j`` is drawn with seed ``cfg.seed + j`` whatever the model, so two models see the
    same prompts with the same sampling seeds and their difference is not sampling luck."""
    if samples < 1:
        raise ValueError("samples: at least 1 completion per prompt")
    with models.for_generation(reference=reference) as model:
        draws = [complete(model, models.tokenizer, prompts, cfg, seed=cfg.seed + j, progress=progress)
                 for j in range(samples)]
    return [list(row) for row in zip(*draws, strict=True)] if prompts else []


def judged_outcomes(judge: Judge, prompts: Sequence[str], mine: Sequence[Sequence[str | None]],
                    theirs: Sequence[Sequence[str | None]]) -> np.ndarray:
    """``(n_prompts, samples)``: 1 where ``mine[i][j]`` beats ``theirs[i][j]``, 0.5 a tie, 0 a loss, NaN where either is missing."""
    if len(mine) != len(prompts) or len(theirs) != len(prompts):
        raise ValueError("mine and theirs need one row of completions per prompt")
    width = {len(row) for row in (*mine, *theirs)}
    if len(width) > 1:
        raise ValueError("mine and theirs need the same number of samples for every prompt")
    out = np.full((len(prompts), width.pop() if width else 0), np.nan)
    keep = [(i, j) for i in range(out.shape[0]) for j in range(out.shape[1])
            if mine[i][j] is not None and theirs[i][j] is not None]
    if keep:
        judged = judge.compare([prompts[i] for i, _ in keep], [mine[i][j] for i, j in keep],
                               [theirs[i][j] for i, j in keep])
        out[tuple(np.array(keep).T)] = judged
    return out


def per_prompt(outcomes) -> np.ndarray:
    """Each prompt's mean outcome over its judged samples (NaN where none was judged)."""
    o = np.asarray(outcomes, dtype=np.float64)
    judged = ~np.isnan(o)
    counts = judged.sum(axis=1)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, np.where(judged, o, 0.0).sum(axis=1) / np.maximum(counts, 1), np.nan)


def win_share(outcomes, *, level: float = 0.95, n_resamples: int = 4000, seed: int = 0) -> WinRate:
    """The mean over prompts of each prompt's mean outcome, with a percentile-bootstrap interval over prompts.

    Prompts are the unit resampled: a prompt's samples share its difficulty, so treating
    them as independent pairs would narrow the interval dishonestly. ``n`` counts prompts."""
    shares = per_prompt(outcomes)
    shares = shares[~np.isnan(shares)]
    if shares.size < 2:
        raise ValueError("a bootstrap interval needs at least 2 judged prompts")
    rate = float(shares.mean())
    if np.ptp(shares) == 0:
        return WinRate(rate=rate, ci_low=rate, ci_high=rate, n=int(shares.size))
    ci = stats.bootstrap((shares,), np.mean, confidence_level=level, n_resamples=n_resamples, method="percentile",
                         vectorized=True, rng=np.random.default_rng(seed)).confidence_interval
    return WinRate(rate=rate, ci_low=min(float(ci.low), rate), ci_high=max(float(ci.high), rate), n=int(shares.size))


@dataclass
class Interval:
    mean: float
    ci_low: float
    ci_high: float
    n: int

    def excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def paired_difference(a, b, *, level: float = 0.95, n_resamples: int = 4000, seed: int = 0) -> Interval:
    """Mean of ``a − b`` over units measured on both (prompts, or seeds), with a paired bootstrap interval.

    ``scipy.stats.bootstrap(paired=True)`` resamples the units, keeping each unit's two
    values together, so what the two sides share (a prompt's difficulty, a seed's pool)
    cancels. NaN on either side drops the unit."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("a and b need one value per unit, the same units in the same order")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if x.size < 2:
        raise ValueError("a paired interval needs at least 2 units measured on both sides")
    mean = float((x - y).mean())
    if np.ptp(x - y) == 0:
        return Interval(mean=mean, ci_low=mean, ci_high=mean, n=int(x.size))
    ci = stats.bootstrap((x, y), lambda u, v, axis=-1: (u - v).mean(axis=axis), paired=True, vectorized=True,
                         confidence_level=level, n_resamples=n_resamples, method="percentile",
                         rng=np.random.default_rng(seed)).confidence_interval
    return Interval(mean=mean, ci_low=min(float(ci.low), mean), ci_high=max(float(ci.high), mean), n=int(x.size))


def reference_completions(models: PolicyModels, prompts: Sequence[str], cfg: SamplingConfig, *, progress: bool = False):
    """The reference model's completions for the held-out prompts (``None`` where skipped)."""
    with models.for_generation(reference=True) as reference:
        return complete(reference, models.tokenizer, prompts, cfg, progress=progress)


@dataclass
class WinRateReport:
    win: WinRate
    policy_completions: list[str | None]
    skipped: int  # prompts without both completions (too long for the context)


def evaluate_win_rate(
    models: PolicyModels,
    prompts: Sequence[str],
    reference: Sequence[str | None],
    judge: Judge,
    cfg: SamplingConfig,
    *,
    progress: bool = False,
) -> WinRateReport:
    """Sample the policy on ``prompts`` (seeded by ``cfg``) and judge it against ``reference``."""
    with models.for_generation() as policy:
        mine = complete(policy, models.tokenizer, prompts, cfg, progress=progress)
    keep = [i for i, (a, b) in enumerate(zip(mine, reference, strict=True)) if a is not None and b is not None]
    outcomes = judge.compare([prompts[i] for i in keep], [mine[i] for i in keep], [reference[i] for i in keep])
    return WinRateReport(win=win_rate(outcomes, seed=cfg.seed), policy_completions=mine, skipped=len(prompts) - len(keep))
