"""Pure data shaping for quality control (issue 7): API dicts in, tables and sentences out.

Two readers. An annotator sees its own rejected labels (``label.reject_reason`` on its
assignments) with their reasons and counts by reason; the API gives annotators no
standing of their own (no posterior, no status: knowing "on probation" would tell that
half the current work is gold checks). A campaign's owner, and an admin, see the campaign's
quality report (``GET /campaigns/{id}/quality``), its integrity flags, what was paid to
whom (``accounting.paid_by_annotator``) and, the owner only, the ledger whose ``release``
entries name each rejected label and carry its reason as ``note``.

Like ``ui.data``: no Streamlit, no HTTP; money stays integer cents until shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from ui.data import dollars

STATUS_ORDER = ("below_bar", "probation", "provisional", "qualified")
"""The API's statuses (``AnnotatorSkillOut.status``), worst first: the order tables use."""

STATUS_WORDS = {
    "below_bar": "below the bar",
    "probation": "probation",
    "provisional": "provisional",
    "qualified": "qualified",
}

FLAG_WORDS = {
    "similar_bids": "near-identical bids",
    "shared_answers": "the same answers as another account",
    "lockstep_timing": "bids in step with another account",
    "degenerate_labels": "one answer far too often",
    "gold_at_chance": "gold answered at chance",
    "gold_inverted": "gold answered inverted",
}

NO_REASON = "no reason given"
PAID = "paid: accepted labels"
REJECTED = "not paid: rejected labels"


def status_words(status: str | None) -> str:
    if status is None:
        return "—"
    return STATUS_WORDS.get(status, status.replace("_", " "))


def reason_kind(reason: str | None) -> str:
    """The reason's headline, for counting: the text before its first colon.

    ``"below the quality bar: accuracy on the requester's gold checks is 0.29 after 4 checks on this campaign…"``
    → ``"below the quality bar"`` (the figures after the colon differ label by label)."""
    text = (reason or "").strip()
    if not text:
        return NO_REASON
    head = text.split(":", 1)[0].strip()
    return head if len(head) <= 80 else head[:79] + "…"


def by_reason(rejections: Iterable[tuple[str | None, int]]) -> pd.DataFrame:
    """``(reason, cents not paid)`` pairs → labels and money per reason, most labels first."""
    counts: dict[str, list[int]] = {}
    for reason, cents in rejections:
        row = counts.setdefault(reason_kind(reason), [0, 0])
        row[0] += 1
        row[1] += int(cents)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return pd.DataFrame({
        "reason": [k for k, _ in ordered],
        "labels": [n for _, (n, _) in ordered],
        "not paid": [dollars(c) for _, (_, c) in ordered],
    }, columns=["reason", "labels", "not paid"])


# --- annotator: its own rejected labels --------------------------------------------------


def rejected_labels(assignments: Iterable[Mapping]) -> list[Mapping]:
    """The assignments among ``assignments`` whose label was rejected (not held: a held
    label, not accepted and without a reason, waits for its account's gold test)."""
    return [a for a in assignments if a.get("label") is not None and not a["label"]["accepted"]
            and a["label"].get("reject_reason")]


def rejected_rows(assignments: Iterable[Mapping]) -> pd.DataFrame:
    """One row per rejected label: where it was, what it would have paid, and why not."""
    rows = [{
        "assignment": a["id"],
        "campaign": a["campaign_id"],
        "round": a["round_id"],
        "choice": a["label"]["choice"],
        "not paid": dollars(a["price_cents"]),
        "reason": (a["label"].get("reject_reason") or NO_REASON).strip(),
    } for a in sorted(rejected_labels(assignments), key=lambda a: a["id"])]
    return pd.DataFrame(rows, columns=["assignment", "campaign", "round", "choice", "not paid", "reason"])


def my_rejections_by_reason(assignments: Iterable[Mapping]) -> pd.DataFrame:
    return by_reason((a["label"].get("reject_reason"), a["price_cents"]) for a in rejected_labels(assignments))


# --- requester / admin: one campaign's quality --------------------------------------------


def policy_text(quality: Mapping) -> str:
    """The campaign's quality policy in one sentence."""
    if not quality["gold_rate"]:
        return "Quality control is off for this campaign (gold rate 0): no gold checks, nobody is judged."
    bar = quality["quality_bar"]
    judged = (f"labels are rejected when an annotator's accuracy is likely below **{bar:.2f}** "
              f"({quality['quality_confidence']:.0%} sure)" if bar is not None
              else "no quality bar: nobody's labels are rejected, skill only weighs the export")
    return (f"Gold checks: **{quality['gold_rate']:.0%}** of a qualified annotator's work, "
            f"{quality['gold_items']} gold items; annotators are judged after "
            f"**{quality['min_gold_answers']}** gold answers; {judged}. "
            f"Annotators on probation take at most {quality['probation_share']:.0%} of a round's demand "
            "(more when qualified annotators cannot supply it)." + _carry_text(quality["gold_carry"]))


def _carry_text(carry: float) -> str:
    if not carry:
        return " Each campaign vets its annotators from scratch (gold carry 0)."
    return (f" Gold answers on your other campaigns count {carry:.0%} of one here (gold carry), "
            "so annotators you vetted before need not be vetted again.")


def judged(quality: Mapping) -> bool:
    """Whether the campaign judges annotators at all (gold checks on). Without them every
    annotator stays on "probation" at the prior: statuses and accuracies say nothing."""
    return bool(quality["gold_rate"])


UNJUDGED = ("status", "accuracy", "90% interval", "gold answered", "auction quality")
"""Columns of ``annotator_rows`` that mean nothing when the campaign judges nobody."""


def _paid_by(paid_by_annotator: Iterable[Mapping]) -> dict[int, int]:
    return {int(p["annotator_id"]): int(p["cents"]) for p in paid_by_annotator}


def _flags_by(flags: Iterable[Mapping]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for f in flags:
        for who in f["annotator_ids"]:
            out.setdefault(int(who), []).append(FLAG_WORDS.get(f["kind"], f["kind"]))
    return out


def _status_rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def annotator_rows(quality: Mapping, paid_by_annotator: Iterable[Mapping] = (),
                   flags: Iterable[Mapping] = ()) -> pd.DataFrame:
    """Per annotator: status, posterior accuracy with its 90% interval, gold answers, the
    auction quality, labels accepted and rejected, money paid and its flags; worst status
    first. Without gold checks (``judged`` false) only labels, money and flags."""
    paid, flagged = _paid_by(paid_by_annotator), _flags_by(flags)
    people = sorted(quality["annotators"], key=lambda a: (_status_rank(a["status"]), a["accuracy"], a["annotator_id"]))
    rows = [{
        "annotator": f"#{a['annotator_id']}",
        "status": status_words(a["status"]),
        "accuracy": round(a["accuracy"], 2),
        "90% interval": f"{a['accuracy_low']:.2f}–{a['accuracy_high']:.2f}",
        "gold answered": a["gold_answers"],
        "carried": round(a["carried_answers"], 1),
        "auction quality": round(a["quality"], 2),
        "labels": a["labels"],
        "accepted": a["accepted"],
        "rejected": a["rejected"],
        "paid": dollars(paid.get(a["annotator_id"], 0)),
        "flags": ", ".join(flagged.get(a["annotator_id"], [])),
    } for a in people]
    frame = pd.DataFrame(rows, columns=["annotator", "status", "accuracy", "90% interval", "gold answered",
                                        "carried", "auction quality", "labels", "accepted", "rejected", "paid",
                                        "flags"])
    if not quality["gold_carry"]:
        frame = frame.drop(columns=["carried"])
    return frame if judged(quality) else frame.drop(columns=list(UNJUDGED))


def spend_by_status(quality: Mapping, paid_by_annotator: Iterable[Mapping] = ()) -> pd.DataFrame:
    """Per status (as annotators stand now): how many annotators, labels accepted (paid) and
    rejected, money paid, and each status's share of the paid labels and of the spend.

    Money paid to annotators now below the bar is what their labels earned before they
    were judged: the cost of judging that probation is there to keep small."""
    paid = _paid_by(paid_by_annotator)
    groups: dict[str, list[int]] = {}
    for a in quality["annotators"]:
        g = groups.setdefault(a["status"], [0, 0, 0, 0])
        g[0] += 1
        g[1] += a["accepted"]
        g[2] += a["rejected"]
        g[3] += paid.get(a["annotator_id"], 0)
    total_labels = sum(g[1] for g in groups.values())
    total_cents = sum(g[3] for g in groups.values())
    order = sorted(groups, key=_status_rank)
    return pd.DataFrame({
        "status": [status_words(s) for s in order],
        "annotators": [groups[s][0] for s in order],
        "paid labels": [groups[s][1] for s in order],
        "rejected labels": [groups[s][2] for s in order],
        "spend": [dollars(groups[s][3]) for s in order],
        "share of paid labels": [f"{groups[s][1] / total_labels:.0%}" if total_labels else "—" for s in order],
        "share of spend": [f"{groups[s][3] / total_cents:.0%}" if total_cents else "—" for s in order],
    }, columns=["status", "annotators", "paid labels", "rejected labels", "spend", "share of paid labels",
                "share of spend"])


def status_counts(quality: Mapping) -> dict[str, int]:
    """Annotators per status, every status present (zero when none)."""
    counts = dict.fromkeys(STATUS_ORDER, 0)
    for a in quality["annotators"]:
        counts[a["status"]] = counts.get(a["status"], 0) + 1
    return counts


def skill_frame(quality: Mapping) -> pd.DataFrame:
    """Posterior accuracy and its 90% interval per annotator, for the skill chart."""
    people = sorted(quality["annotators"], key=lambda a: (-a["accuracy"], a["annotator_id"]))
    return pd.DataFrame({
        "annotator": [f"#{a['annotator_id']}" for a in people],
        "accuracy": [a["accuracy"] for a in people],
        "low": [a["accuracy_low"] for a in people],
        "high": [a["accuracy_high"] for a in people],
        "gold answered": [a["gold_answers"] for a in people],
        "status": [status_words(a["status"]) for a in people],
    }, columns=["annotator", "accuracy", "low", "high", "gold answered", "status"])


def flag_rows(flags: Iterable[Mapping]) -> pd.DataFrame:
    rows = [{
        "campaign": f"#{f['campaign_id']}",
        "flag": FLAG_WORDS.get(f["kind"], f["kind"]),
        "annotators": ", ".join(f"#{i}" for i in f["annotator_ids"]),
        "detail": f["detail"],
    } for f in flags]
    return pd.DataFrame(rows, columns=["campaign", "flag", "annotators", "detail"])


# --- the owner's ledger: rejected labels and spend per round ----------------------------


def ledger_rejections(entries: Iterable[Mapping]) -> list[Mapping]:
    """Release entries that name a label: a rejected label's price returned to the
    campaign, with the reason as ``note`` (releases at settlement name no label)."""
    return [e for e in entries if e["reason"] == "release" and e.get("label_id") is not None]


def ledger_by_reason(entries: Iterable[Mapping]) -> pd.DataFrame:
    return by_reason((e.get("note"), e["cents"]) for e in ledger_rejections(entries))


def ledger_rejected_rows(entries: Iterable[Mapping]) -> pd.DataFrame:
    rows = [{
        "label": e["label_id"],
        "round": e["round_id"],
        "not paid": dollars(e["cents"]),
        "reason": (e.get("note") or NO_REASON).strip(),
    } for e in ledger_rejections(entries)]
    return pd.DataFrame(rows, columns=["label", "round", "not paid", "reason"])


def round_spend(entries: Iterable[Mapping]) -> pd.DataFrame:
    """Per round, dollars paid for accepted labels and dollars not paid for rejected ones
    (long format: ``round``, ``labels``, ``$``, ``count``; both rows for every round seen)."""
    sums: dict[int, list[int]] = {}
    for e in entries:
        if e.get("round_id") is None:
            continue
        if e["reason"] == "pay":
            k = 0
        elif e["reason"] == "release" and e.get("label_id") is not None:
            k = 1
        else:
            continue
        row = sums.setdefault(int(e["round_id"]), [0, 0, 0, 0])
        row[k] += int(e["cents"])
        row[k + 2] += 1
    rows = []
    for rid in sorted(sums):
        paid, rejected, n_paid, n_rejected = sums[rid]
        rows.append({"round": rid, "labels": PAID, "$": paid / 100, "count": n_paid})
        rows.append({"round": rid, "labels": REJECTED, "$": rejected / 100, "count": n_rejected})
    return pd.DataFrame(rows, columns=["round", "labels", "$", "count"])
