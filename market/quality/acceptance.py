"""The campaign's quality policy where a label is submitted (called by ``market.label``).

Acceptance is decided at submission, with the posterior as it stands once this label's
own gold answer (if it is one) has been counted:

* a label on a gold item updates the annotator's posterior first, so the answer that
  proves an annotator below the bar is itself rejected;
* a label is rejected when the campaign has a ``quality_bar`` and the annotator is
  judged below it (``skill.judge``: at least ``min_gold_answers`` gold answers and
  ``P(accuracy < bar) ≥ quality_confidence``, or a posterior mean below the bar at the
  end of probation); otherwise it is accepted and paid at once.

Why at submission and not at settlement: the annotator learns the outcome of each label
when giving it, payment stays immediate for everyone in good standing, and a label is
final once given (nothing already paid is ever clawed back). What this gives up: labels
given before an annotator is judged are paid. Probation (half the work of an annotator
not yet proven is gold checks, see ``mixing``; its real labels count with the weight of
its record) is what limits those labels' share of the dataset, and the clearing keeps
annotators below the bar out of later rounds. The
weakness that remains: an annotator who answers carefully while on probation and
carelessly once qualified is caught only by the steady gold share, slowly.

What the annotator is told (:class:`Rejection`): that the label is below the requester's
quality bar, and nothing measured from gold. The reason once carried the number of gold
checks and the accuracy to two decimals, which let a throwaway account below the bar work
out which of its items were gold and their answers. The figures stay where the requester
and admins already saw them: the release's ledger note and the quality report. Every label
does the same database work here, gold or not (``gold.record_answer``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from market.quality import gold, skill
from market.tables import Campaign, Item, Label

REASON = ("below the quality bar: the requester's checks put this account's work below the quality it "
          "accepts on this campaign; this label is not paid and its price returns to the campaign")


@dataclass(frozen=True)
class Rejection:
    """Why a label is rejected: ``reason`` for the annotator (no gold-derived figures),
    ``note`` for the requester and admins (the ledger's release note, with the figures)."""

    reason: str
    note: str


def review(session: Session, campaign: Campaign, label: Label, item: Item) -> Rejection | None:
    """Score the label (a gold answer counts, any other label does the same work), then
    decide; returns why the label is rejected, or None to accept."""
    gold.record_answer(session, label, item)
    if campaign.quality_bar is None:
        return None
    rec = gold.records(session, campaign, [label.annotator_id])
    status = skill.judge(rec.alpha, rec.beta, rec.answers, min_gold=campaign.min_gold_answers,
                         bar=campaign.quality_bar, confidence=campaign.quality_confidence)[0]
    if status != skill.BELOW_BAR:
        return None
    where = f"after {int(rec.own[0])} checks on this campaign"
    if rec.carried[0] > 0:
        where += f" and {rec.carried[0]:g} carried from the requester's other campaigns"
    note = (f"below the quality bar: accuracy on the requester's gold checks is "
            f"{float(skill.accuracy(rec.alpha[0], rec.beta[0])):.2f} {where}, and the requester accepts labels only "
            f"when it is likely at least {campaign.quality_bar:.2f}; this label is not paid and its price returns "
            "to the campaign")
    return Rejection(REASON, note)
