"""Quality page (a campaign's owner, admins): annotators' skill and status, integrity
flags, spend by status, rejected labels by reason and spend on accepted against rejected
labels per round. Reads only; quality control acts by itself when labels are submitted."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui import data, state
from ui import quality_data as qd
from ui.views.common import fetch, fetch_or_none, require_account, show_flash
from ui.views.requester import pick_campaign

SHOWN = 20  # rejected labels listed with their full reason (the latest)
STATUS_COLOURS = {"below the bar": "#d62728", "probation": "#ff7f0e", "provisional": "#bcbd22",
                  "qualified": "#2ca02c"}


def page() -> None:
    acct = require_account()
    st.title("Quality")
    st.caption("Who labels well, who is below the campaign's quality bar, and what that cost. Gold checks "
               "judge each annotator; labels of an annotator judged below the bar are rejected and not paid, "
               "and the ledger records why.")
    show_flash()
    client = state.client()
    campaigns = fetch(client.list_campaigns)
    if not campaigns:
        st.info("No campaigns yet.")
        return
    cid = pick_campaign(campaigns)["id"]
    quality = fetch(client.campaign_quality, cid)
    flags = fetch(client.campaign_flags, cid)
    paid = fetch(client.accounting, cid)["paid_by_annotator"]
    book = fetch_or_none(client.ledger, cid, missing=403)  # the owner's books only; an admin gets 403

    st.markdown(qd.policy_text(quality))
    _headline(quality, paid, book)
    _annotators(quality, paid, flags)
    if qd.judged(quality):
        _spend_by_status(quality, paid)
    _flags(flags)
    _rejections(quality, book)
    if acct["role"] == "admin":
        _all_flags()


def _headline(quality: dict, paid: list[dict], book: dict | None) -> None:
    if not qd.judged(quality):
        cols = st.columns(3)
        cols[0].metric("Annotators", len(quality["annotators"]))
        cols[1].metric("Labels paid", sum(p["labels"] for p in paid))
        cols[2].metric("Spend", data.dollars(sum(p["cents"] for p in paid)))
        return
    counts = qd.status_counts(quality)
    cols = st.columns(6)
    cols[0].metric("Annotators", len(quality["annotators"]))
    cols[1].metric("Qualified", counts["qualified"] + counts["provisional"],
                   help="qualified, or provisional (labels accepted, half the work gold checks: recently passed, or undecided after a long probation)")
    cols[2].metric("On probation", counts["probation"])
    cols[3].metric("Below the bar", counts["below_bar"])
    cols[4].metric("Labels rejected", sum(a["rejected"] for a in quality["annotators"]))
    if book is not None:
        not_paid = sum(e["cents"] for e in qd.ledger_rejections(book["entries"]))
        cols[5].metric("Not paid (rejected)", data.dollars(not_paid),
                       help="the price of rejected labels, returned to the campaign's budget")
    else:
        cols[5].metric("Spend", data.dollars(sum(p["cents"] for p in paid)))


def _annotators(quality: dict, paid: list[dict], flags: list[dict]) -> None:
    st.subheader("Annotators")
    rows = qd.annotator_rows(quality, paid, flags)
    if rows.empty:
        st.caption("Nobody has bid on or labelled this campaign yet.")
        return
    st.dataframe(rows, hide_index=True, width="stretch")
    if not qd.judged(quality):
        return
    st.caption("Accuracy: posterior mean on gold checks (prior Beta(2, 1), i.e. 0.67 before any answer), "
               "with its 90% credible interval. Auction quality: the weight the quality-weighted rules give "
               "the annotator's ask. Annotator ids only: the API gives requesters no names.")
    st.markdown("**Skill: posterior accuracy and 90% interval**")
    st.altair_chart(_skill_chart(qd.skill_frame(quality), quality["quality_bar"]), width="stretch")


def _skill_chart(frame: pd.DataFrame, bar: float | None) -> alt.LayerChart:
    y = alt.Y("annotator:N", sort=None, title=None)
    colour = alt.Color("status:N", scale=alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values())),
                       legend=alt.Legend(orient="top", title=None))
    base = alt.Chart(frame)
    interval = base.mark_rule(strokeWidth=2).encode(
        y=y, x=alt.X("low:Q", scale=alt.Scale(domain=[0, 1]), title="accuracy on gold checks"), x2="high:Q",
        color=colour)
    point = base.mark_point(filled=True, size=80).encode(
        y=y, x="accuracy:Q", color=colour,
        tooltip=["annotator", "status", alt.Tooltip("accuracy:Q", format=".2f"), alt.Tooltip("low:Q", format=".2f"),
                 alt.Tooltip("high:Q", format=".2f"), "gold answered"])
    layers = [interval, point]
    if bar is not None:
        layers.append(alt.Chart(pd.DataFrame({"bar": [bar]})).mark_rule(strokeDash=[4, 4]).encode(
            x="bar:Q", tooltip=[alt.Tooltip("bar:Q", title="quality bar", format=".2f")]))
    return alt.layer(*layers).properties(height=alt.Step(26))


def _spend_by_status(quality: dict, paid: list[dict]) -> None:
    if not quality["annotators"]:
        return
    st.subheader("Spend by status")
    st.dataframe(qd.spend_by_status(quality, paid), hide_index=True, width="stretch")
    st.caption("By each annotator's status now. Money paid to annotators now below the bar is what their "
               "labels earned before they were judged.")


def _flags(flags: list[dict]) -> None:
    st.subheader("Integrity flags")
    if not flags:
        st.caption("No integrity flags for this campaign.")
        return
    st.dataframe(qd.flag_rows(flags), hide_index=True, width="stretch")
    st.caption("Flags inform; they act on nothing. Identical bids: the same ask and capacity in most shared "
               "rounds. One answer far too often: a label pattern unlikely by chance. Gold at chance or "
               "inverted: confidently no better than a coin, or worse.")


def _rejections(quality: dict, book: dict | None) -> None:
    st.subheader("Rejected labels")
    if book is None:
        n = sum(a["rejected"] for a in quality["annotators"])
        st.caption(f"{n} label{'s' if n != 1 else ''} rejected. The reasons and the spend per round come from "
                   "the campaign's ledger, which only its owner may read.")
        return
    entries = book["entries"]
    reasons = qd.ledger_by_reason(entries)
    if reasons.empty:
        st.caption("No label has been rejected.")
    else:
        left, right = st.columns([2, 3], gap="large")
        with left:
            st.markdown("**By reason**")
            st.dataframe(reasons, hide_index=True, width="stretch")
        with right:
            rows = qd.ledger_rejected_rows(entries)
            st.markdown("**Each rejected label** (the ledger's release note)")
            st.table(rows.tail(SHOWN)[::-1], hide_index=True)
            if len(rows) > SHOWN:
                st.caption(f"The latest {SHOWN} of {len(rows)}.")
    spend = qd.round_spend(entries)
    if spend.empty:
        st.caption("Nothing paid or rejected yet.")
        return
    st.markdown("**Accepted against rejected labels per round**")
    st.altair_chart(alt.Chart(spend).mark_bar().encode(
        x=alt.X("round:O", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("$:Q", axis=alt.Axis(format="$.2f"), title="dollars"),
        color=alt.Color("labels:N", scale=alt.Scale(domain=[qd.PAID, qd.REJECTED], range=["#2ca02c", "#d62728"])),
        xOffset="labels:N",
        tooltip=["round", "labels", alt.Tooltip("$:Q", format="$.2f"), "count"],
    ).properties(height=260), width="stretch")


def _all_flags() -> None:
    with st.expander("Integrity flags in every campaign (admin)"):
        flags = fetch(state.client().all_flags)
        if flags:
            st.dataframe(qd.flag_rows(flags), hide_index=True, width="stretch")
        else:
            st.caption("No flags anywhere.")
