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
