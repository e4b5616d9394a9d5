"""Pure shaping for the economist lab: form values → simulator config, results → tables.

The lab runs ``bidders.simulate`` in the portal's own process (no server, no account).
This module builds the config dict that ``bidders.config.parse_config`` validates and turns
the simulator's tidy tables into the comparisons the page shows; it imports no Streamlit.
"""

from __future__ import annotations

import pandas as pd

from market.mechanisms import RULES

# (column in the simulator's summary table, what the page calls it, lower is better?)
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("spend", "spend ($)", True),
    ("labels", "labels bought", False),
    ("cost_per_label", "cost per label ($)", True),
    ("cost_per_correct_label", "cost per correct label ($)", True),
    ("accuracy", "expected label accuracy", False),
    ("efficiency", "efficiency (welfare / optimum)", False),
    ("overpayment", "overpayment (spend / true cost)", True),
    ("requester_surplus", "requester surplus ($)", False),
    ("annotator_surplus", "annotator surplus ($)", False),
    ("regret_mean", "truthfulness regret, per unit ($)", True),
    ("regret_bidder_mean", "truthfulness regret, per bidder ($)", True),
    ("spammer_share", "share of labels from spammers", True),
    ("learner_markup_end", "learners' markup at the end", True),
    ("ir_violations", "IR violations", True),
    ("budget_violations", "budget violations", True),
)
METRIC_NAMES = {col: name for col, name, _ in METRICS}
DEFAULT_METRICS = ("cost_per_label", "cost_per_correct_label", "accuracy", "efficiency", "regret_mean")


def lab_config(
    *,
    rules: list[str],
    population: int,
    cost_median: float,
    cost_sigma: float,
    spammer_share: float,
    learner_weight: float,
    rounds: int,
    round_size: int,
    round_budget: float,
    max_price: float,
    posted_price: float,
    seeds: int,
) -> dict:
    """The simulator config (dollars) for what the lab form says.

    ``spammer_share`` replaces the spammers' weight and scales the other kinds down so the
    shares still sum to one; ``learner_weight`` is the share of bidders that learn to shade
    their asks (the rest bid truthfully). Validation is left to ``parse_config``, whose
    messages name the key."""
    if not rules:
        raise ValueError("rules: pick at least one rule")
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise ValueError(f"rules: unknown {unknown}")
    others = {"diligent": 0.60, "noisy": 0.25, "adversarial": 0.05}
    scale = (1.0 - spammer_share) / sum(others.values())
    kinds = {k: {"share": v * scale} for k, v in others.items()}
    kinds["spammer"] = {"share": spammer_share}
    return {
        "population": {
            "size": population,
            "cost": {"dist": "lognormal", "median": cost_median, "sigma": cost_sigma},
            "kinds": kinds,
        },
        "strategies": {"truthful": 1.0 - learner_weight, "learner": learner_weight, "markup": 0.0},
        "market": {
            "rules": [r for r in RULES if r in rules],
            "rounds": rounds,
            "round_size": round_size,
            "round_budget": round_budget,
            "max_price": max_price,
            "posted_price": posted_price,
        },
        "run": {"seeds": list(range(seeds)), "workers": 1},
    }


def compare_table(summary: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean of each metric over seeds, one row per rule (rules in the market's order)."""
    cols = [m for m in metrics if m in summary.columns]
    table = summary.groupby("rule", sort=False)[cols].mean()
    table = table.reindex([r for r in RULES if r in table.index])
    return table.rename(columns=METRIC_NAMES)


def best_rule(summary: pd.DataFrame, metric: str) -> str | None:
    """The rule with the best mean ``metric`` (direction from ``METRICS``); None if all NaN."""
    lower = {col: low for col, _, low in METRICS}.get(metric, True)
    means = summary.groupby("rule")[metric].mean().dropna()
    if means.empty:
        return None
    return str(means.idxmin() if lower else means.idxmax())


def price_over_rounds(rounds: pd.DataFrame, window: int = 10) -> pd.DataFrame:
    """Average price per label by round, one column per rule, smoothed over ``window`` rounds
    and averaged over seeds (a wide frame for ``st.line_chart``)."""
    wide = rounds.groupby(["round", "rule"])["price"].mean().unstack("rule")
    wide = wide[[r for r in RULES if r in wide.columns]]
    return wide.rolling(window, min_periods=1).mean()


def to_csv(table: pd.DataFrame) -> bytes:
    """CSV bytes for a download button."""
    return table.to_csv(index=False).encode("utf-8")
