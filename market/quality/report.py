"""What quality control shows: annotators' skill, soft labels, integrity flags (database side).

The owner (and an admin) of a campaign sees every annotator's posterior, status and
quality and every flag; the policy worker sees soft labels (through the export). Nothing
here is shown to annotators: their own view is the status and reason on each label.
"""

from __future__ import annotations

import pandas as pd
from sqlmodel import Session, col, select

from market.quality import aggregate, flags, gold, skill
from market.tables import AnnotatorSkill, Bid, Campaign, Item, Label, Round


def skill_rows(session: Session, campaign: Campaign) -> list[AnnotatorSkill]:
    return list(session.exec(select(AnnotatorSkill).where(AnnotatorSkill.campaign_id == campaign.id)))


def accuracies(session: Session, campaign: Campaign) -> pd.Series:
    """Posterior mean accuracy by annotator id (annotators with gold answers on this
    campaign; carried records count as ``gold.records`` says)."""
    ids = [r.annotator_id for r in skill_rows(session, campaign)]
    rec = gold.records(session, campaign, ids)
    return pd.Series(dict(zip(ids, skill.accuracy(rec.alpha, rec.beta).tolist())), dtype=float)


def votes(session: Session, campaign: Campaign) -> tuple[pd.DataFrame, pd.Series]:
    """Accepted a/b labels as ``task, worker, label`` rows, and gold answers by item."""
    rows = session.exec(
        select(Label.item_id, Label.annotator_id, Label.choice, Item.gold_check, Item.gold)
        .join(Item, Item.id == Label.item_id)
        .where(Label.campaign_id == campaign.id, Label.accepted == True, col(Label.choice).in_(["a", "b"]))  # noqa: E712
    ).all()
    frame = pd.DataFrame([(i, w, c) for i, w, c, _, _ in rows], columns=["task", "worker", "label"])
    gold = pd.Series({i: g for i, _, _, is_gold, g in rows if is_gold and g in ("a", "b")}, dtype=object)
    return frame, gold


def soft_labels(session: Session, campaign: Campaign, method: str = "skill") -> tuple[pd.Series, pd.Series]:
    """``P(a ≻ b)`` by item id, and the number of a/b votes behind each."""
    frame, gold = votes(session, campaign)
    p = aggregate.soft_labels(frame, method, accuracy=accuracies(session, campaign), gold=gold)
    return p, frame.groupby("task").size()


def annotators(session: Session, campaign: Campaign) -> list[dict]:
    """Every annotator who labelled or bid on the campaign, with posterior, status and quality."""
    rows = {r.annotator_id: r for r in skill_rows(session, campaign)}
    label_counts = session.exec(
        select(Label.annotator_id, Label.accepted, Label.choice, col(Label.reject_reason).is_not(None))
        .where(Label.campaign_id == campaign.id)
    ).all()
    bidders = session.exec(
        select(Bid.annotator_id).join(Round, Round.id == Bid.round_id).where(Round.campaign_id == campaign.id).distinct()
    ).all()
    ids = sorted(set(rows) | {a for a, *_ in label_counts} | set(bidders))
    if not ids:
        return []
    rec = gold.records(session, campaign, ids)
    alpha, beta, answers = rec.alpha, rec.beta, rec.answers
    acc = skill.accuracy(alpha, beta)
    low, high = skill.credible_interval(alpha, beta, 0.9)
    status = skill.judge(alpha, beta, answers, min_gold=campaign.min_gold_answers, bar=campaign.quality_bar,
                         confidence=campaign.quality_confidence)
    quality = skill.quality_from_accuracy(acc)
    counts = pd.DataFrame(label_counts, columns=["annotator_id", "accepted", "choice", "rejected"])
    out = []
    for k, i in enumerate(ids):
        mine = counts[counts["annotator_id"] == i]
        out.append({
            "annotator_id": int(i),
            "alpha": float(alpha[k]),
            "beta": float(beta[k]),
            "accuracy": float(acc[k]),
            "accuracy_low": float(low[k]),
            "accuracy_high": float(high[k]),
            "gold_answers": int(rec.own[k]),
            "carried_answers": float(rec.carried[k]),
            "status": str(status[k]),
            "quality": float(quality[k]),
            "labels": int(len(mine)),
            "accepted": int(mine["accepted"].sum()),
            "rejected": int(mine["rejected"].astype(bool).sum()),  # the rest are held (acceptance)
            "choices": {c: int(n) for c, n in mine["choice"].value_counts().items()},
        })
    return out


def integrity_flags(session: Session, campaign: Campaign) -> list[dict]:
    """Links between accounts (similar bids, shared answers, lockstep timing), degenerate
    label patterns and gold at chance, for one campaign."""
    bid_rows = session.exec(
        select(Bid.round_id, Bid.annotator_id, Bid.ask_cents, Bid.capacity, Bid.created_at)
        .join(Round, Round.id == Bid.round_id)
        .where(Round.campaign_id == campaign.id)
    ).all()
    bids = pd.DataFrame(bid_rows, columns=["round_id", "annotator_id", "ask_cents", "capacity", "placed_at"])
    label_rows = session.exec(
        select(Label.annotator_id, Label.item_id, Label.choice, Item.gold)
        .join(Item, Item.id == Label.item_id)
        .where(Label.campaign_id == campaign.id)
    ).all()
    labels = pd.DataFrame(label_rows, columns=["annotator_id", "item_id", "choice", "gold"])
    labels["gold"] = labels["gold"].where(labels["gold"].isin(gold.ANSWERS))
    rows = skill_rows(session, campaign)
    found = flags.similar_bids(bids) + flags.lockstep_timing(bids) + flags.shared_answers(labels)
    found += flags.degenerate_labels(labels)
    found += flags.gold_patterns([r.annotator_id for r in rows], [r.alpha for r in rows], [r.beta for r in rows],
                                 [r.gold_answers for r in rows], min_gold=campaign.min_gold_answers)
    return [{**f, "campaign_id": campaign.id} for f in found]


def excluded(session: Session, campaign: Campaign) -> set[int]:
    """Annotators a campaign with ``exclude_flagged`` keeps out of its rounds: those a flag
    links to another account on this campaign (``flags.LINKS``); none otherwise."""
    if not campaign.exclude_flagged:
        return set()
    return flags.linked(integrity_flags(session, campaign))
