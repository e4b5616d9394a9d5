"""The economist lab: replay auction rules on a simulated population, with no server.

Runs ``bidders.simulate`` in this process (one worker, so a page click never forks a
process pool) on a config built by ``ui.lab_data.lab_config``; results stay in the session
so changing which metric to chart does not rerun the simulation.
"""

from __future__ import annotations

import time

import altair as alt
import pandas as pd
import streamlit as st

from bidders.config import ConfigError, parse_config
from bidders.simulate import simulate
from market.mechanisms import RULES
from ui import lab_data
from ui.views.common import show_flash

RESULT = "lab_result"


def _form() -> dict | None:
    """Draw the settings form; the config dict when it was submitted, else None."""
    with st.form("lab", border=True):
        st.multiselect("Rules", RULES, default=list(RULES), key="lab_rules",
                       format_func=lambda r: r.replace("_", " "))
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Annotators", min_value=2, max_value=5000, value=100, step=10, key="lab_population")
        c2.number_input("Median cost per label ($)", min_value=0.01, value=0.25, step=0.05, key="lab_cost_median")
        c3.number_input("Cost spread (lognormal σ)", min_value=0.05, value=0.5, step=0.1, key="lab_cost_sigma")
        c4.slider("Share of spammers", 0.0, 0.9, 0.10, 0.05, key="lab_spammers")
        c1.slider("Share of learning (shading) bidders", 0.0, 1.0, 0.5, 0.1, key="lab_learners")
        c2.number_input("Rounds", min_value=1, max_value=5000, value=200, step=50, key="lab_rounds")
        c3.number_input("Items per round", min_value=1, max_value=1000, value=50, step=5, key="lab_round_size")
        c4.number_input("Budget per round ($)", min_value=0.1, value=10.0, step=1.0, key="lab_round_budget")
        c1.number_input("Max price per label ($)", min_value=0.01, value=1.0, step=0.1, key="lab_max_price")
        c2.number_input("Posted price ($, posted-price rule)", min_value=0.01, value=0.30, step=0.05,
                        key="lab_posted_price")
        c3.number_input("Seeds", min_value=1, max_value=20, value=2, step=1, key="lab_seeds")
        if not st.form_submit_button("Run simulation", type="primary"):
            return None
    s = st.session_state
    return lab_data.lab_config(
        rules=s["lab_rules"], population=int(s["lab_population"]), cost_median=s["lab_cost_median"],
        cost_sigma=s["lab_cost_sigma"], spammer_share=s["lab_spammers"], learner_weight=s["lab_learners"],
        rounds=int(s["lab_rounds"]), round_size=int(s["lab_round_size"]), round_budget=s["lab_round_budget"],
        max_price=s["lab_max_price"], posted_price=s["lab_posted_price"], seeds=int(s["lab_seeds"]),
    )


def _run(config: dict) -> None:
    cfg = parse_config(config)
    start = time.perf_counter()
    with st.spinner("Simulating…"):
        result = simulate(cfg, workers=1)
    st.session_state[RESULT] = {"summary": result.summary, "rounds": result.rounds,
                                "seconds": time.perf_counter() - start, "config": config}


def page() -> None:
    st.title("Economist lab")
    st.caption("Replay the market's own auction rules (the same clearing code the live market runs) on a "
               "simulated population of annotators: who wins, what it costs, how truthful bidding pays.")
    show_flash()
    try:
        config = _form()
        if config is not None:
            _run(config)
    except (ConfigError, ValueError) as err:
        st.error(str(err))
    result = st.session_state.get(RESULT)
    if result is None:
        st.info("Pick rules and a population, then run the simulation.")
        return
    _results(result)


def _results(result: dict) -> None:
    summary, rounds = result["summary"], result["rounds"]
    m = result["config"]["market"]
    st.success(f"Simulated {m['rounds']} rounds × {len(m['rules'])} rules × "
               f"{len(result['config']['run']['seeds'])} seeds in {result['seconds']:.1f} s.")
    st.subheader("Compare rules (mean over seeds)")
    names = lab_data.METRIC_NAMES
    chosen = st.multiselect("Metrics", list(names), default=list(lab_data.DEFAULT_METRICS),
                            format_func=names.get, key="lab_metrics")
    st.dataframe(lab_data.compare_table(summary, chosen), width="stretch")

    left, right = st.columns(2, gap="large")
    with left:
        metric = st.selectbox("Chart a metric", list(names), format_func=names.get, key="lab_chart_metric",
                              index=list(names).index("cost_per_label"))
        st.altair_chart(_bars(lab_data.compare_table(summary, [metric])), width="stretch")
        best = lab_data.best_rule(summary, metric)
        if best:
            st.caption(f"Best on {names[metric]}: **{best.replace('_', ' ')}**.")
    with right:
        st.markdown("**Average price per label over rounds** (10-round moving average)")
        st.altair_chart(_lines(lab_data.price_over_rounds(rounds)), width="stretch")

    c1, c2 = st.columns(2)
    c1.download_button("Download summary (CSV)", lab_data.to_csv(summary), file_name="lab-summary.csv",
                       mime="text/csv", key="lab_dl_summary", icon=":material/download:", on_click="ignore")
    c2.download_button("Download rounds (CSV)", lab_data.to_csv(rounds), file_name="lab-rounds.csv",
                       mime="text/csv", key="lab_dl_rounds", icon=":material/download:", on_click="ignore")


def _bars(table: pd.DataFrame) -> alt.Chart:
    """One horizontal bar per rule, in the market's rule order."""
    name = table.columns[0]
    frame = table.reset_index()
    return alt.Chart(frame).mark_bar(size=18).encode(
        y=alt.Y("rule:N", sort=list(frame["rule"]), title=None, axis=alt.Axis(labelLimit=220)),
        x=alt.X(f"{name}:Q", title=name),
        tooltip=["rule", alt.Tooltip(f"{name}:Q", format=".4g")],
    ).properties(height=40 + 30 * len(frame))


def _lines(wide: pd.DataFrame) -> alt.Chart:
    long = wide.reset_index().melt("round", var_name="rule", value_name="price ($)")
    return alt.Chart(long).mark_line().encode(
        x="round:Q", y=alt.Y("price ($):Q", axis=alt.Axis(format="$.2f")),
        color=alt.Color("rule:N", sort=list(wide.columns), legend=alt.Legend(orient="bottom", columns=2, labelLimit=220)),
        tooltip=["round", "rule", alt.Tooltip("price ($):Q", format="$.3f")],
    ).properties(height=280)
