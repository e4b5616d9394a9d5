"""Requester pages: campaigns (create), and one campaign's dashboard (pool, rounds, money,
win rate against dollars, export)."""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from market.mechanisms import RULES
from ui import data, navigation, state
from ui.views.common import act, fetch, flash, require_account, show_flash

CAMPAIGN_KEY = "dashboard_campaign"  # the campaign the dashboard shows, shared by both pages

# --- campaigns --------------------------------------------------------------------------


def _create_campaign() -> None:
    s = st.session_state
    try:
        fields = data.campaign_fields(
            name=s["new_name"], budget_dollars=s["new_budget"], max_price_cents=s["new_max_price"],
            rule=s["new_rule"], acquisition=s["new_acquisition"], labels_per_item=s["new_labels_per_item"],
            round_size=s["new_round_size"], round_duration_s=s["new_round_duration"],
            round_budget_dollars=s["new_round_budget"], posted_price_cents=s["new_posted_price"],
        )
    except ValueError as err:
        flash("error", str(err))
        return
    created = act(state.client().create_campaign, **fields,
                  success=lambda c: f"Campaign #{c['id']} “{c['name']}” created and funded with "
                                    f"{data.dollars(c['budget_cents'])}. Upload its pool on the dashboard.")
    if created:
        s[CAMPAIGN_KEY] = created["id"]


def campaigns_page() -> None:
    require_account()
    st.title("Campaigns")
    show_flash()
    campaigns = fetch(state.client().list_campaigns)
    if campaigns:
        st.dataframe(pd.DataFrame([{
            "campaign": c["id"], "name": c["name"], "rule": c["rule"], "acquisition": c["acquisition"],
            "budget": data.dollars(c["budget_cents"]), "max price": data.dollars(c["max_price_cents"]),
            "labels per item": c["labels_per_item"], "status": c["status"],
        } for c in campaigns]), hide_index=True, width="stretch")
        if st.session_state.get(CAMPAIGN_KEY):
            st.page_link(navigation.page("dashboard"), label="Open the dashboard")
    else:
        st.caption("No campaigns yet.")

    st.subheader("New campaign")
    with st.form("new_campaign", border=True):
        st.text_input("Name", key="new_name", placeholder="movie reviews")
        c1, c2, c3 = st.columns(3)
        c1.number_input("Budget ($)", min_value=0.01, value=20.0, step=1.0, key="new_budget")
        c2.number_input("Max price per label (cents)", min_value=1, value=50, step=1, key="new_max_price")
        c3.number_input("Round budget ($, 0 = whatever remains)", min_value=0.0, value=0.0, step=1.0,
                        key="new_round_budget")
        c1.selectbox("Auction rule", RULES, index=RULES.index("budget_feasible"), key="new_rule",
                     format_func=lambda r: r.replace("_", " "))
        c2.number_input("Posted price (cents, posted-price rule only)", min_value=0, value=0, step=1,
                        key="new_posted_price")
        c3.selectbox("Acquisition", data.ACQUISITIONS, key="new_acquisition",
                     help="How the policy scores items; the highest-scored items are offered first.")
        c1.number_input("Labels per item", min_value=1, value=1, step=1, key="new_labels_per_item")
        c2.number_input("Items per round", min_value=1, value=25, step=1, key="new_round_size")
        c3.number_input("Bidding window (seconds)", min_value=10, value=300, step=10, key="new_round_duration")
        st.form_submit_button("Create campaign", type="primary", on_click=_create_campaign)


# --- dashboard --------------------------------------------------------------------------


def _pool_key(campaign_id: int) -> str:
    """The uploader's key; it changes after each import, which empties the widget so a
    second click cannot import the same file twice."""
    return f"pool_{campaign_id}_{st.session_state.get(f'pool_uploads_{campaign_id}', 0)}"


def _upload_pool(campaign_id: int) -> None:
    upload = st.session_state.get(_pool_key(campaign_id))
    if upload is None:
        flash("error", "Choose a JSONL file first.")
        return
    try:
        text = upload.getvalue().decode("utf-8-sig")
    except UnicodeDecodeError:
        flash("error", f"{upload.name} is not UTF-8 text.")
        return
    done = act(state.client().upload_items, campaign_id, text,
               success=lambda r: f"Imported {r['imported']} items from {upload.name} ({r['format']} format).")
    if done:
        st.session_state[f"pool_uploads_{campaign_id}"] = st.session_state.get(f"pool_uploads_{campaign_id}", 0) + 1


def _open_round(campaign_id: int) -> None:
    act(state.client().open_round, campaign_id, float(st.session_state[f"duration_{campaign_id}"]),
        success=lambda r: f"Round #{r['id']} is open for bids on {r['n_items']} items "
                          f"({r['demand']} labels, budget {data.dollars(r['budget_cents'])}).")


def _closed(r: dict) -> str:
    if not r["n_assignments"]:
        return f"Round #{r['id']} closed without buying anything ({r.get('reason') or 'no winners'})."
    return (f"Round #{r['id']} closed: {r['n_assignments']} labels assigned at clearing price "
            f"{data.dollars(r['clearing_price_cents'])} ({r.get('reason')}).")


def _close_round(round_id: int) -> None:
    act(state.client().close_round, round_id, success=_closed)


def _settle_round(round_id: int) -> None:
    act(state.client().settle_round, round_id,
        success=lambda r: f"Round #{r['id']} settled; {data.dollars(r['released_cents'])} returned to the budget.")


def pick_campaign(campaigns: list[dict]) -> dict:
    """The campaign picker shared by the dashboard and the quality page (one remembered choice)."""
    by_id = {c["id"]: c for c in campaigns}
    if st.session_state.get(CAMPAIGN_KEY) not in by_id:
        st.session_state[CAMPAIGN_KEY] = campaigns[-1]["id"]
    cid = st.selectbox("Campaign", list(by_id), key=CAMPAIGN_KEY,
                       format_func=lambda i: f"#{i} · {by_id[i]['name']} · {by_id[i]['rule'].replace('_', ' ')}")
    return by_id[cid]


def dashboard_page() -> None:
    require_account()
    st.title("Dashboard")
    show_flash()
    client = state.client()
    campaigns = fetch(client.list_campaigns)
    if not campaigns:
        st.info("No campaigns yet.")
        st.page_link(navigation.page("campaigns"), label="Create a campaign")
        return
    c = pick_campaign(campaigns)
    cid = c["id"]
    if c.get("gold_rate"):
        st.page_link(navigation.page("quality"), label="Quality control: skill, flags and rejected labels")
    live = st.toggle("Live: refresh money and rounds every 5 s", key="dashboard_live")
    st.fragment(_money_and_rounds, run_every=5 if live else None)(cid)
    rounds = fetch(client.list_rounds, campaign_id=cid)
    _round_controls(c, rounds)
    _pool(c)
    _charts(cid, rounds)
    _export(cid)


def _money_and_rounds(cid: int) -> None:
    client = state.client()
    s = fetch(client.campaign_summary, cid)
    rounds = fetch(client.list_rounds, campaign_id=cid)
    st.subheader("Money")
    cols = st.columns(6)
    cols[0].metric("Budget", data.dollars(s["budget_cents"]))
    cols[1].metric("Spent", data.dollars(s["spent_cents"]))
    cols[2].metric("In escrow", data.dollars(s["escrowed_cents"]))
    cols[3].metric("Remaining", data.dollars(s["remaining_cents"]))
    cols[4].metric("Labels bought", s["labels"])
    cols[5].metric("Cost per label", data.dollars(s["cost_per_label_cents"]))
    shares = data.spend_shares(s)
    st.progress(shares["spent"], text=f"{shares['spent']:.0%} of the budget spent, "
                                      f"{shares['escrowed']:.0%} held for open work")
    if not s["balanced"]:
        st.error("The ledger does not balance for this campaign: report this to an admin.")
    st.subheader("Rounds")
    if rounds:
        st.dataframe(data.rounds_rows(rounds, datetime.now(UTC)), hide_index=True, width="stretch")
    else:
        st.caption("No rounds yet.")


def _round_controls(c: dict, rounds: list[dict]) -> None:
    cid = c["id"]
    left, right = st.columns(2, gap="large")
    with left:
        st.number_input("Bidding window (seconds)", min_value=10, value=int(c["round_duration_s"]), step=10,
                        key=f"duration_{cid}")
        st.button("Open a round", type="primary", key=f"open_{cid}", on_click=_open_round, args=(cid,))
    active = [r for r in rounds if r["state"] != "settled"]
    with right:
        if not active:
            st.caption("No round is open or waiting for labels.")
            return
        by_id = {r["id"]: r for r in active}
        rid = st.selectbox("Round", list(by_id), key=f"round_{cid}",
                           format_func=lambda i: f"#{i} · {by_id[i]['state']} · {by_id[i]['demand']} labels")
        r = by_id[rid]
        b1, b2 = st.columns(2)
        b1.button("Close bidding now", key=f"close_{rid}", disabled=r["state"] != "open",
                  on_click=_close_round, args=(rid,))
        b2.button("Settle", key=f"settle_{rid}", disabled=r["state"] not in ("cleared", "labeling"),
                  help="Release unlabelled assignments and return their money to the budget.",
                  on_click=_settle_round, args=(rid,))


def _pool(c: dict) -> None:
    cid = c["id"]
    with st.expander("Pool: upload items (JSONL)", expanded=False):
        st.markdown(
            "One JSON object per line, in one of these formats: "
            "`{\"prompt\", \"completion_a\", \"completion_b\"}` (pairs), "
            "`{\"prompt\", \"chosen\", \"rejected\"}` (TRL), "
            "`{\"chosen\", \"rejected\"}` with `Human:`/`Assistant:` turns (HH), "
            "or `{\"prompt\"}` alone (the policy worker writes the completions). "
            "A bad line is named and nothing is imported."
        )
        st.file_uploader("Pool file", type=["jsonl", "json", "txt"], key=_pool_key(cid))
        st.button("Upload pool", key=f"upload_{cid}", on_click=_upload_pool, args=(cid,))


def _charts(cid: int, rounds: list[dict]) -> None:
    held = len(fetch(state.client().list_held_out, cid))
    metrics = list(data.METRIC_TITLES)
    # a campaign that brought its own labelled truth is judged on it first
    first = metrics.index("heldout_accuracy") if held else 0
    metric = st.radio("Metric", metrics, index=first, format_func=data.METRIC_TITLES.get, horizontal=True,
                      key=f"metric_{cid}", help="what the policy worker measures after each round; each is 50% "
                      "at step 0, so a point is a percentage point above 50%")
    if held:
        st.caption(f"Held-out set: {held} labelled pairs, never offered to annotators nor trained on; the policy "
                   "worker measures held-out accuracy on them after each round.")
    accounting = fetch(state.client().accounting, cid, metric=metric)  # the API's figures, not recomputed here
    title = data.METRIC_TITLES[metric]
    st.subheader(f"{title.capitalize()} against dollars")
    head = data.metric_headline(accounting)
    cols = st.columns(len(head))
    for col, (name, value) in zip(cols, head.items()):
        col.metric(name, value)
    left, right = st.columns(2, gap="large")
    with left:
        if accounting["final"] is None:
            st.caption(f"No evaluation with {title} yet: the policy worker posts one after each training step.")
        else:
            st.altair_chart(_metric_chart(data.metric_frame(accounting), title), width="stretch")
    with right:
        prices = data.price_history(rounds)
        if prices.empty:
            st.caption("No cleared rounds yet.")
        else:
            st.markdown("**Clearing price by round**")
            st.altair_chart(alt.Chart(prices).mark_bar().encode(
                x=alt.X("round:O", axis=alt.Axis(labelAngle=0)),
                y=alt.Y("clearing price ($):Q", axis=alt.Axis(format="$.2f")),
                tooltip=["round", alt.Tooltip("clearing price ($):Q", format="$.2f"), "labels assigned"],
            ).properties(height=260), width="stretch")


def _metric_chart(frame: pd.DataFrame, title: str) -> alt.Chart:
    base = alt.Chart(frame).encode(x=alt.X("spend ($):Q", title="cumulative spend", axis=alt.Axis(format="$.2f")))
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("ci low (%):Q", title=f"{title} (%)", scale=alt.Scale(zero=False)), y2="ci high (%):Q")
    line = base.mark_line(point=True).encode(y="value (%):Q", tooltip=list(frame.columns))
    even = alt.Chart(pd.DataFrame({"y": [50]})).mark_rule(strokeDash=[4, 4]).encode(y="y:Q")
    return (band + line + even).properties(height=260)


def _export(cid: int) -> None:
    client = state.client()
    st.subheader("Export")
    summary = fetch(client.campaign_summary, cid)
    if not summary["labels"]:
        st.caption("No accepted labels to export yet.")
        return
    rows = fetch(client.export_labels, cid)
    st.download_button(
        f"Download {len(rows)} labelled pairs (JSONL)", data=data.to_jsonl(rows),
        file_name=f"campaign-{cid}-labels.jsonl", mime="application/x-ndjson", key=f"export_{cid}",
        icon=":material/download:", on_click="ignore",
    )
    held = len(fetch(client.list_held_out, cid))
    st.caption("TRL format: prompt, chosen, rejected, with item, label and annotator ids. Ties are left out."
               + (f" The {held} held-out pairs are not in it: they are never training data." if held else ""))
