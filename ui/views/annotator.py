"""Annotator pages: open rounds and sealed bids, labelling, earnings."""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import streamlit as st

from ui import data, state
from ui import quality_data as qd
from ui.guidance_data import guidance_frame
from ui.views.common import act, fetch, fetch_or_none, flash, require_account, show_flash

SHOWN = 20  # rejected labels listed with their full reason (the latest)

# --- open rounds and bids ---------------------------------------------------------------


def _place_bid(round_id: int) -> None:
    ask = int(st.session_state[f"ask_{round_id}"])
    capacity = int(st.session_state[f"capacity_{round_id}"])
    act(state.client().place_bid, round_id, ask, capacity,
        success=f"Sealed bid on round #{round_id}: {data.dollars(ask)} per label for up to {capacity} labels.")


def _withdraw_bid(round_id: int) -> None:
    act(state.client().withdraw_bid, round_id, success=f"Bid on round #{round_id} withdrawn.")


def rounds_page() -> None:
    bidder = require_account()["role"] == "annotator"  # an admin may look, but only annotators bid
    st.title("Open rounds")
    st.caption("Name your price per label in a sealed bid. Nobody sees anyone else's bid; "
               "when bidding closes the round's rule picks the winners and their pay.")
    show_flash()
    client = state.client()
    rounds = fetch(client.list_rounds, state="open")
    st.button("Refresh", icon=":material/refresh:", key="rounds_refresh")
    if not rounds:
        st.info("No round is open right now. Rounds open when a requester starts one; check back soon.")
        return
    bids = {r["id"]: fetch_or_none(client.my_bid, r["id"]) if bidder else None for r in rounds}
    now = datetime.now(UTC)
    st.dataframe(data.open_rounds_rows(rounds, bids, now), hide_index=True, width="stretch")

    by_id = {r["id"]: r for r in rounds}
    round_id = st.selectbox("Round", list(by_id), format_func=lambda i: data.round_label(by_id[i]), key="round_pick")
    r, bid = by_id[round_id], bids[round_id]
    left, right = st.columns([3, 2], gap="large")
    with left:
        _round_facts(r, now)
    with right:
        if bidder:
            _bid_form(r, bid)
        else:
            st.info("Only annotator accounts place bids.")


def _round_facts(r: dict, now: datetime) -> None:
    cols = st.columns(3)
    cols[0].metric("Labels wanted", r["demand"])
    cols[1].metric("Max price per label", data.dollars(r["max_price_cents"]))
    cols[2].metric("Closes in", data.time_left(r["deadline"], now))
    rule = f"Rule: **{r['rule'].replace('_', ' ')}**."
    if r.get("posted_price_cents"):
        rule += f" Every winning label pays the posted {data.dollars(r['posted_price_cents'])}."
    st.markdown(rule)
    past = r["past_clearing_prices_cents"]
    st.markdown(f"**Past clearing prices** · {data.price_history_label(r)}")
    if past:
        st.altair_chart(_price_chart(data.clearing_price_frame(past)), width="stretch")
    else:
        st.caption("No cleared rounds yet to compare with.")


def _price_chart(frame):
    """Line with points (a single cleared round still shows), whole-number round axis."""
    x, y = "cleared round (oldest first)", "clearing price ($)"
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X(f"{x}:O", axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{y}:Q", axis=alt.Axis(format="$.2f"), scale=alt.Scale(zero=True)),
        tooltip=[x, alt.Tooltip(f"{y}:Q", format="$.2f")],
    ).properties(height=220)


def _bid_form(r: dict, bid: dict | None) -> None:
    rid = r["id"]
    st.markdown("**Your sealed bid**")
    if bid:
        st.success(f"{data.dollars(bid['ask_cents'])} per label, up to {bid['capacity']} labels.")
    else:
        st.caption("You have no bid on this round.")
    ask = st.number_input(
        "Ask per label (cents)", min_value=1, step=1, key=f"ask_{rid}",
        value=bid["ask_cents"] if bid else data.suggested_ask(r["past_clearing_prices_cents"], r["max_price_cents"]),
    )
    st.number_input("Labels you offer", min_value=1, step=1, key=f"capacity_{rid}",
                    value=bid["capacity"] if bid else 1)
    preview = data.win_preview(int(ask), r["past_clearing_prices_cents"], r["max_price_cents"])
    (st.warning if preview.above_max else st.info)(preview.text)
    c1, c2 = st.columns(2)
    c1.button("Change bid" if bid else "Place bid", type="primary", key=f"bid_{rid}",
              on_click=_place_bid, args=(rid,))
    c2.button("Withdraw bid", key=f"withdraw_{rid}", disabled=bid is None, on_click=_withdraw_bid, args=(rid,))


# --- labelling --------------------------------------------------------------------------


def _submit_label(assignment_id: int, choice: str) -> None:
    words = st.session_state.get(f"confidence_{assignment_id}")
    result = act(state.client().submit_label, assignment_id, choice, data.CONFIDENCE.get(words) if words else None,
                 key=f"portal-{assignment_id}")  # a double click replays the first label instead of failing
    if isinstance(result, dict):
        # a label rejected by the campaign's quality control is a warning, with the reason
        kept = result.get("accepted") or result.get("replayed")
        flash("success" if kept else "warning", data.label_message(result))


def label_page() -> None:
    require_account()
    st.title("Label")
    show_flash()
    work = fetch(state.client().my_assignments, state="open")
    if not work:
        st.info("Nothing to label. You get pairs to label by winning a round: see Open rounds.")
        return
    a = work[0]
    now = datetime.now(UTC)
    st.caption(f"{len(work)} pair{'s' if len(work) != 1 else ''} to label · this one pays "
               f"{data.dollars(a['price_cents'])} · due in {data.time_left(a['deadline'], now)} · "
               f"assignment #{a['id']}")
    st.markdown("**Prompt**")
    with st.container(border=True):
        st.markdown(data.plain(a["prompt"]))
    col_a, col_b = st.columns(2, gap="medium")
    for col, side, text in ((col_a, "A", a["completion_a"]), (col_b, "B", a["completion_b"])):
        with col:
            st.markdown(f"**Completion {side}**")
            with st.container(border=True, height=260):
                st.markdown(data.plain(text))
    _guidance(a)
    st.segmented_control("Confidence (optional)", list(data.CONFIDENCE), key=f"confidence_{a['id']}")
    buttons = st.columns(len(data.CHOICES))
    for col, (choice, text, key) in zip(buttons, data.CHOICES):
        col.button(text, shortcut=key, key=f"choose_{choice}_{a['id']}", width="stretch",
                   type="primary" if choice != "tie" else "secondary",
                   on_click=_submit_label, args=(a["id"], choice))
    st.caption("Keyboard: **A** · **B** · **T** for a tie.")


def _guidance(a: dict) -> None:
    """The task judge's reading of both completions, facet by facet (ui.guidance_data)."""
    table = guidance_frame(a["prompt"], a["completion_a"], a["completion_b"])
    if table is None:
        return
    with st.expander("Guidance: how the task's rubric reads A and B", icon=":material/lightbulb:"):
        st.caption("The task asks for a positive review of the film and the aspect in the prompt, written "
                   "cleanly. Each row is one thing the rubric checks and what it adds to or takes from each "
                   "completion's score. It is a guide, not the answer: your own reading decides.")
        st.dataframe(table, hide_index=True, width="stretch")


# --- earnings ---------------------------------------------------------------------------


def earnings_page() -> None:
    require_account()
    st.title("Earnings")
    show_flash()
    client = state.client()
    e = fetch(client.earnings)
    done = fetch(client.my_assignments, state="done")
    tally = data.label_tally(done)
    cols = st.columns(6)
    cols[0].metric("Earned", data.dollars(e["earned_cents"]))
    cols[1].metric("Pending (open work)", data.dollars(e["pending_cents"]),
                   help=f"open assignments, and {tally['held']} label(s) held while on probation "
                        "(paid once your checks on the campaign end well)")
    cols[2].metric("Labels accepted", tally["accepted"])
    cols[3].metric("Labels rejected", tally["rejected"])
    cols[4].metric("Not paid (rejected)", data.dollars(e.get("rejected_cents", 0)),
                   help="what your rejected labels would have paid")
    cols[5].metric("Still to label", e["open_assignments"])
    if e["by_campaign"]:
        st.markdown("**Earned by campaign**")
        by_campaign = data.earnings_by_campaign(e["by_campaign"])
        st.altair_chart(alt.Chart(by_campaign).mark_bar(size=22).encode(
            y=alt.Y("campaign:N", sort=None, title=None),
            x=alt.X("earned ($):Q", axis=alt.Axis(format="$.2f")),
            tooltip=["campaign", alt.Tooltip("earned ($):Q", format="$.2f")],
        ).properties(height=40 + 34 * len(by_campaign)), width="stretch")
    _rejected(done)
    st.markdown("**Labelled work**")
    rows = data.work_rows(done)
    if rows.empty:
        st.caption("No labels yet.")
    else:
        st.dataframe(rows, hide_index=True, width="stretch")
    if e["released_assignments"]:
        st.caption(f"{e['released_assignments']} assignment(s) were released unlabelled after their deadline "
                   "(not paid).")


def _rejected(done: list[dict]) -> None:
    """Rejected labels with their reasons, and how many for each reason."""
    rejected = qd.rejected_rows(done)
    if rejected.empty:
        return
    n = len(rejected)
    st.markdown("**Rejected labels**")
    st.warning(f"{n} of your labels {'was' if n == 1 else 'were'} rejected by a campaign's quality control and "
               "not paid; the price went back to the campaign. Each campaign checks answers on pairs whose "
               "answer it knows, and rejects the labels of annotators whose accuracy is likely below its bar.")
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.dataframe(qd.my_rejections_by_reason(done), hide_index=True, width="stretch")
    with right:
        st.table(rejected.tail(SHOWN)[::-1], hide_index=True)  # full reasons, wrapped; newest first
        if len(rejected) > SHOWN:
            st.caption(f"The latest {SHOWN} of {len(rejected)}; every one is in the table below.")
