"""Cost per win-rate point: what the requester's money bought, from evaluations and the ledger.

All inputs are plain numbers (cents, win rates in [0, 1]) so the same functions serve the
API, the demo report and the portal. Definitions (design.md, "Training and evaluation"):

* dollars per win-rate point = spend in dollars / (win rate - 50%) in percentage points;
  undefined (``None``) while the policy does not beat the reference;
* dollars to reach a win rate = the spend at which the win-rate curve first reaches it,
  interpolated linearly between evaluations (``None`` if it never does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation: cumulative spend and the win rate it bought, with its 95% CI."""

    spend_cents: int
    win_rate: float
    ci_low: float
    ci_high: float
    n: int = 0


def curve(points: Iterable[CurvePoint | Mapping]) -> list[CurvePoint]:
    """Evaluations as a curve ordered by spend (mappings with the same keys are accepted)."""
    pts = [p if isinstance(p, CurvePoint) else CurvePoint(**{k: p[k] for k in _FIELDS if k in p}) for p in points]
    return sorted(pts, key=lambda p: (p.spend_cents, p.n))


_FIELDS = ("spend_cents", "win_rate", "ci_low", "ci_high", "n")


def dollars_per_point(spend_cents: int, win_rate: float) -> float | None:
    """Dollars per percentage point of win rate above 50%; None at or below 50%."""
    points = (win_rate - 0.5) * 100
    if points <= 0:
        return None
    return spend_cents / 100 / points


def dollars_to_reach(points: list[CurvePoint], target: float) -> float | None:
    """Dollars spent when the curve first reaches ``target`` win rate (linear between points)."""
    prev = None
    for p in points:
        if p.win_rate >= target:
            if prev is None or prev.win_rate >= target:
                return p.spend_cents / 100
            frac = (target - prev.win_rate) / (p.win_rate - prev.win_rate)
            return (prev.spend_cents + frac * (p.spend_cents - prev.spend_cents)) / 100
        prev = p
    return None


@dataclass(frozen=True)
class Comparison:
    """The campaign against its baseline (posted price + random items) on the same prompts."""

    final_win_rate: float
    baseline_final_win_rate: float
    dollars_per_point: float | None
    baseline_dollars_per_point: float | None
    dollars_to_baseline_final: float | None  # campaign's spend to match the baseline's end
    baseline_spend: float
    beats_baseline: bool  # campaign's final CI lies above the baseline's final point estimate

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def compare(campaign: list[CurvePoint], baseline: list[CurvePoint]) -> Comparison:
    """Compare two win-rate curves; both must hold at least one evaluation."""
    if not campaign or not baseline:
        raise ValueError("both curves need at least one evaluation")
    end, base_end = campaign[-1], baseline[-1]
    return Comparison(
        final_win_rate=end.win_rate,
        baseline_final_win_rate=base_end.win_rate,
        dollars_per_point=dollars_per_point(end.spend_cents, end.win_rate),
        baseline_dollars_per_point=dollars_per_point(base_end.spend_cents, base_end.win_rate),
        dollars_to_baseline_final=dollars_to_reach(campaign, base_end.win_rate),
        baseline_spend=base_end.spend_cents / 100,
        beats_baseline=end.ci_low > base_end.win_rate,
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
