"""Evaluations the policy worker reports: win rate (with CI) after some spend.

The market only stores and checks them (a win rate and its interval are probabilities,
``ci_low <= win_rate <= ci_high``); computing them is the policy's job.
"""

from __future__ import annotations

import math
from typing import Any

from sqlmodel import Session, select

from market.errors import Invalid
from market.tables import Campaign, Evaluation, Round


def _prob(name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or not 0.0 <= x <= 1.0:
        raise Invalid(f"{name}: must be a number between 0 and 1 (got {x!r})")
    return float(x)


HELD_OUT = ("heldout_accuracy", "heldout_ci_low", "heldout_ci_high")
MAX_METRIC_DEPTH = 4  # {"skipped_eval_prompts": {"too_long": 3}} is depth 2
MAX_METRIC_VALUES = 1_000


def _check_json(value: Any, where: str, *, depth: int, budget: list[int]) -> None:
    """Metrics are free-form but bounded: nested at most ``MAX_METRIC_DEPTH`` deep, at most
    ``MAX_METRIC_VALUES`` values in all, every number finite (a NaN anywhere would reach the
    database, and PostgreSQL's JSON refuses it), every key a string."""
    budget[0] -= 1
    if budget[0] < 0:
        raise Invalid(f"metrics: at most {MAX_METRIC_VALUES} values")
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{where}: must be finite")
    if isinstance(value, (dict, list)):
        if depth >= MAX_METRIC_DEPTH:
            raise Invalid(f"{where}: nested deeper than {MAX_METRIC_DEPTH} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            if isinstance(value, dict) and not isinstance(k, str):
                raise Invalid(f"{where}: keys must be strings")
            _check_json(v, f"{where}.{k}" if isinstance(value, dict) else f"{where}[{k}]", depth=depth + 1,
                        budget=budget)


def _check_held_out(metrics: dict) -> None:
    """Held-out accuracy is priced like the win rate (``market.accounting``), so it is held to
    the same rules when present: probabilities, and an interval that contains the figure."""
    if "heldout_accuracy" not in metrics:
        return
    acc, lo, hi = (_prob(f"metrics.{k}", metrics.get(k, metrics["heldout_accuracy"])) for k in HELD_OUT)
    if not lo <= acc <= hi:
        raise Invalid("metrics.heldout_ci_low: the interval must contain the held-out accuracy")


def add_evaluation(
    session: Session,
    campaign: Campaign,
    *,
    spend_cents: int,
    win_rate: float,
    ci_low: float,
    ci_high: float,
    n: int,
    round_id: int | None = None,
    metrics: dict | None = None,
) -> Evaluation:
    """Validate and store one evaluation. Caller commits."""
    if type(spend_cents) is not int or spend_cents < 0:  # noqa: E721
        raise Invalid("spend_cents: must be a non-negative integer number of cents")
    if type(n) is not int or n < 0:  # noqa: E721
        raise Invalid("n: must be a non-negative integer")
    w, lo, hi = _prob("win_rate", win_rate), _prob("ci_low", ci_low), _prob("ci_high", ci_high)
    if not lo <= w <= hi:
        raise Invalid("ci_low: the interval must contain the win rate (ci_low <= win_rate <= ci_high)")
    if round_id is not None:
        rnd = session.get(Round, round_id)
        if rnd is None or rnd.campaign_id != campaign.id:
            raise Invalid(f"round_id: round {round_id} is not a round of campaign {campaign.id}")
    metrics = metrics or {}
    if not isinstance(metrics, dict):
        raise Invalid("metrics: must be a JSON object")
    _check_json(metrics, "metrics", depth=0, budget=[MAX_METRIC_VALUES])
    _check_held_out(metrics)
    ev = Evaluation(
        campaign_id=campaign.id, round_id=round_id, spend_cents=spend_cents, win_rate=w, ci_low=lo, ci_high=hi,
        n=n, metrics=metrics,
    )
    session.add(ev)
    session.flush()
    return ev


def list_evaluations(session: Session, campaign: Campaign) -> list[Evaluation]:
    return list(session.exec(select(Evaluation).where(Evaluation.campaign_id == campaign.id).order_by(Evaluation.id)).all())
