"""What a point of an evaluation metric cost: the requester's money against what it bought.

All inputs are plain numbers (cents, metric values as fractions in [0, 1]) so the same
functions serve the API, the demo and the portal; only the API computes the figures a
person reads, and the portal and the demo report show the API's. Money stays in cents
(a rate such as cents per point is a float in cents); ``market.money.usd`` shows it.

Metrics (:data:`METRICS`): any evaluation metric on a 0-100% scale whose no-gain level is
50% prices the same way. ``win_rate`` is the judge's win rate against the reference;
``heldout_accuracy`` is held-out preference accuracy (how often the implicit reward agrees
with a logged preference), posted in an evaluation's ``metrics``. Both are 50% at step 0:
the policy *is* the reference, so the judge ties it with itself and the implicit reward is
zero on every pair.

Definitions:

* **cents per point** = everything the campaign has spent / (metric - 50%) in percentage
  points at its latest evaluation; undefined (``None``) at or below 50%. *Everything
  spent*, not the spend at that evaluation, because rounds bought after the last
  evaluation still cost money: a campaign's last rounds may buy only gold checks, after
  which nothing is trained or evaluated (CPU demo run 7, seed 1: evaluated at $23.03,
  finished at $37.91), and charging the spend at the evaluation would leave those bills
  out and reward a campaign for evaluating early and spending on. While a campaign runs,
  a round bought and not yet evaluated is charged before it can lift the metric, so the
  figure errs high until the next evaluation, never flattering.
* **cents to reach** a level = the spend at which the metric's curve first reaches it,
  interpolated linearly between evaluations (``None`` if it never does): a point on the
  curve, so it uses the spend at the evaluations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

NO_GAIN = 0.5


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation: cumulative spend and the metric's value it bought, with its 95% CI."""

    spend_cents: int
    value: float
    ci_low: float
    ci_high: float
    n: int = 0


@dataclass(frozen=True)
class Metric:
    """Where an evaluation carries a metric: its own fields, or keys of its ``metrics``."""

    name: str
    title: str
    keys: tuple[str, str, str, str]  # value, ci_low, ci_high, n
    in_metrics: bool

    def point(self, evaluation: Mapping) -> CurvePoint | None:
        """The evaluation as a point of this metric's curve; ``None`` if it does not carry
        the metric (an evaluation posted before the metric existed, or by a worker that does
        not measure it). Without a posted interval the interval is the value itself."""
        source = (evaluation.get("metrics") or {}) if self.in_metrics else evaluation
        value, low, high, n = (source.get(k) for k in self.keys)
        if value is None:
            return None
        value = float(value)
        return CurvePoint(int(evaluation["spend_cents"]), value, value if low is None else float(low),
                          value if high is None else float(high), 0 if n is None else int(n))


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("win_rate", "win rate", ("win_rate", "ci_low", "ci_high", "n"), in_metrics=False),
    Metric("heldout_accuracy", "held-out accuracy",
           ("heldout_accuracy", "heldout_ci_low", "heldout_ci_high", "heldout_n"), in_metrics=True),
)}


def cents_per_point(spent_cents: int, value: float) -> float | None:
    """Cents per percentage point of the metric above 50%; None at or below 50%."""
    points = (value - NO_GAIN) * 100
    if points <= 0:
        return None
    return spent_cents / points


def cents_to_reach(points: Sequence[CurvePoint], target: float) -> float | None:
    """Cents spent when the curve first reaches ``target`` (a fraction; linear between points)."""
    prev = None
    for p in points:
        if p.value >= target:
            if prev is None or prev.value >= target:
                return float(p.spend_cents)
            frac = (target - prev.value) / (p.value - prev.value)
            return prev.spend_cents + frac * (p.spend_cents - prev.spend_cents)
        prev = p
    return None


@dataclass(frozen=True)
class Comparison:
    """The campaign against its baseline (posted price + random items) on the same prompts."""

    final_value: float
    baseline_final_value: float
    cents_per_point: float | None
    baseline_cents_per_point: float | None
    cents_to_baseline_final: float | None  # campaign's spend to match the baseline's end
    baseline_final_spend_cents: int  # the baseline's spend at its final evaluation
    beats_baseline: bool  # campaign's final CI lies above the baseline's final point estimate

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def compare(campaign: Sequence[CurvePoint], baseline: Sequence[CurvePoint], spent_cents: int,
            baseline_spent_cents: int) -> Comparison:
    """Compare two curves of one metric, each campaign charged with all it spent; both
    curves must hold at least one evaluation."""
    if not campaign or not baseline:
        raise ValueError("both curves need at least one evaluation")
    end, base_end = campaign[-1], baseline[-1]
    return Comparison(
        final_value=end.value,
        baseline_final_value=base_end.value,
        cents_per_point=cents_per_point(spent_cents, end.value),
        baseline_cents_per_point=cents_per_point(baseline_spent_cents, base_end.value),
        cents_to_baseline_final=cents_to_reach(campaign, base_end.value),
        baseline_final_spend_cents=base_end.spend_cents,
        beats_baseline=end.ci_low > base_end.value,
    )


def spend_by_kind(payments: Iterable[tuple[int, int]], kind_of: Mapping[int, str]) -> dict[str, int]:
    """Cents paid per annotator kind, from (annotator_id, cents) payments.

    The market does not know who is a spammer; whoever does (the simulator, the demo,
    quality control) supplies ``kind_of``. Annotators it does not name count as "unknown".
    """
    totals: dict[str, int] = {}
    for annotator, cents in payments:
        kind = kind_of.get(annotator, "unknown")
        totals[kind] = totals.get(kind, 0) + int(cents)
    return totals
