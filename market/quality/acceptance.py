"""The campaign's quality policy where a label is submitted (called by ``market.label``)
and where a round settles (``market.round``).

Acceptance is decided at submission, with the posterior as it stands once this label's
own gold answer (if it is one) has been counted:

* a label on a gold item updates the annotator's posterior first, so the answer that
  proves an annotator below the bar is itself rejected;
* a label is rejected when the campaign has a ``quality_bar`` and the annotator is
  judged below it (``skill.judge``: at least ``min_gold_answers`` gold answers and
  ``P(accuracy < bar) ≥ confidence``, or a posterior mean below the bar at the end of
  probation);
* otherwise a label of work won on probation (``Assignment.held``: the annotator was on
  probation when its round cleared) is *held*: not paid, not exported, its price left in
  escrow, until the annotator's gold test ends (:func:`settle_held`, at every settlement
  of one of the campaign's rounds): paid once the annotator is provisional or qualified,
  rejected and its escrow released once it is below the bar (``skill.held_outcome``);
* any other label is accepted and paid at once.

Why hold: since gold was made indistinguishable (issue 18), half of an unproven
annotator's work is real items, not gold checks (``mixing``). Paid at once, that half
paid spammers for every gold answer their test took: in the simulator's 60-round market
(20% spammers, second price, seeds 0 to 2) spammers kept 35% of the paid labels after
round 15 (seed 0: 34%, against 10% under all-gold probation and 98% without gold
checks), mostly from tests that dragged on undecided for 10 to 25 answers. Held, a
random clicker's probation pays it nothing unless it passes (about one time in ten, and
then on the leash): 4% (seed 0: 12%), and net correct labels per dollar rose from 1.8 to
3.3. It is how crowdsourcing
platforms treat work that fails its qualification: rejected, not paid. What it costs: a
careful reader waits for its first pay until its test ends (about 8 gold answers, so
about 16 units), and loses it in the rare case its test fails (4% at θ = 0.84).

Holding tells an annotator nothing about which items are gold: the hold is decided when
the round clears, for all of a bid's work, gold or not, and released at a settlement,
not at the answer that ended the test. (A label of an annotator judged below the bar
mid-round is rejected at submission, as before: that answer was a gold one, the one hole
``docs/trust.md`` lists.)

Why at submission and not at settlement for everyone else: the annotator learns the
outcome of each label when giving it, payment stays immediate for everyone in good
standing, and a label is final once decided (nothing already paid is ever clawed back).
The weakness that remains: an annotator who answers carefully while on probation and
carelessly once qualified is caught only by the steady gold share, slowly. An annotator
that stops working while still on probation would leave its held labels, and their
escrow, held for ever; so a hold lasts at most ``limits.HOLD_LIMIT_S`` (7 days), after
which the evidence so far decides, much as at the end of probation: paid if the account
gave at least ``min_gold_answers`` gold answers and their posterior mean is at or above
the bar, rejected otherwise (:func:`settle_held`, run by the sweeper for campaigns with
no settlement left, :func:`expired_holds`). The exam's length is required because the
prior's mean (2/3) is above the usual bar: judged by the mean alone, an account that
vanished before its first check would be paid, and a throwaway account could farm that.

What the annotator is told (:class:`Rejection`): that the label is below the requester's
quality bar, and nothing measured from gold. The reason once carried the number of gold
checks and the accuracy to two decimals, which let a throwaway account below the bar work
out which of its items were gold and their answers. The figures stay where the requester
and admins already saw them: the release's ledger note and the quality report. Every label
does the same database work here, gold or not (``gold.record_answer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlmodel import Session, col, select

from market import clock, ledger, limits
from market.quality import gold, skill
from market.tables import Assignment, Campaign, Item, Label, Round

REASON = ("below the quality bar: the requester's checks put this account's work below the quality it "
          "accepts on this campaign; this label is not paid and its price returns to the campaign")


@dataclass(frozen=True)
class Rejection:
    """Why a label is rejected: ``reason`` for the annotator (no gold-derived figures),
    ``note`` for the requester and admins (the ledger's release note, with the figures)."""

    reason: str
    note: str


HELD = "held"  # review's answer for a label held until its annotator's gold test ends


def review(session: Session, campaign: Campaign, label: Label, item: Item, *, held: bool = False
           ) -> Rejection | str | None:
    """Score the label (a gold answer counts, any other label does the same work), then
    decide: why it is rejected, :data:`HELD` (``held``: work won on probation, and the
    annotator not below the bar), or None to accept."""
    gold.record_answer(session, label, item)
    if campaign.quality_bar is None:
        return None
    rec = gold.records(session, campaign, [label.annotator_id])
    status = skill.judge(rec.alpha, rec.beta, rec.answers, min_gold=campaign.min_gold_answers,
                         bar=campaign.quality_bar, confidence=campaign.quality_confidence)[0]
    if status == skill.BELOW_BAR:
        return _rejection(campaign, rec, 0)
    return HELD if held else None


def settle_held(session: Session, campaign: Campaign) -> int:
    """Pay or reject the held labels of annotators whose gold test has ended (see the
    module doc); returns how many were decided. Caller holds the campaign's lock."""
    rows = session.exec(
        select(Label, Assignment).join(Assignment, Assignment.id == Label.assignment_id)
        .where(Label.campaign_id == campaign.id, Assignment.held == True, Label.accepted == False,  # noqa: E712
               col(Label.reject_reason).is_(None))
        .order_by(Label.id)
    ).all()
    if not rows:
        return 0
    ids = sorted({lab.annotator_id for lab, _ in rows})
    rec = gold.records(session, campaign, ids)
    status = skill.judge(rec.alpha, rec.beta, rec.answers, min_gold=campaign.min_gold_answers,
                         bar=campaign.quality_bar, confidence=campaign.quality_confidence)
    cutoff = _hold_cutoff()
    expired = {lab.annotator_id for lab, _ in rows if lab.created_at <= cutoff}
    # at expiry: paid only on an exam's worth of answers whose mean clears the bar; the
    # prior alone (mean 2/3) would pay an account that vanished before its first check
    by_mean = (True if campaign.quality_bar is None
               else (np.asarray(rec.answers) >= campaign.min_gold_answers)
               & (skill.accuracy(rec.alpha, rec.beta) >= campaign.quality_bar))
    outcome = dict(zip(ids, skill.held_outcome(status, [i in expired for i in ids], by_mean).tolist(), strict=True))
    at = {i: k for k, i in enumerate(ids)}
    decided = 0
    for lab, a in rows:
        pay = outcome[lab.annotator_id]
        if pay is None:
            continue
        item = session.get(Item, a.item_id)
        item.n_open = max(0, item.n_open - 1)
        rnd = session.get(Round, a.round_id)
        if pay:
            lab.accepted = True
            item.n_labels += 1
            ledger.post_payment(session, a, lab)
            rnd.paid_cents += a.price_cents
        else:
            rejection = _rejection(campaign, rec, at[lab.annotator_id])
            lab.reject_reason = rejection.reason
            ledger.post_release(session, a, label=lab, note=rejection.note)
            rnd.released_cents += a.price_cents
        decided += 1
    session.flush()
    return decided


def expired_holds(session: Session) -> list[int]:
    """The campaigns with a label held longer than ``limits.HOLD_LIMIT_S``: for the sweeper
    (``market.round.decide_expired_holds``), since a campaign whose rounds are all settled has no
    settlement left to decide them."""
    return list(session.exec(
        select(Label.campaign_id).join(Assignment, Assignment.id == Label.assignment_id)
        .where(Assignment.held == True, Label.accepted == False, col(Label.reject_reason).is_(None),  # noqa: E712
               Label.created_at <= _hold_cutoff())
        .distinct().order_by(Label.campaign_id)
    ).all())


def _hold_cutoff() -> datetime:
    return clock.now() - timedelta(seconds=limits.HOLD_LIMIT_S)


def _rejection(campaign: Campaign, rec: gold.Records, k: int) -> Rejection:
    """The rejection of a label of the ``k``-th annotator of ``rec``: the reason without
    figures, the note with them."""
    where = f"after {int(rec.own[k])} checks on this campaign"
    if rec.carried[k] > 0:
        where += f" and {rec.carried[k]:g} carried from the requester's other campaigns"
    note = (f"below the quality bar: accuracy on the requester's gold checks is "
            f"{float(skill.accuracy(rec.alpha[k], rec.beta[k])):.2f} {where}, and the requester accepts labels only "
            f"when it is likely at least {campaign.quality_bar:.2f}; this label is not paid and its price returns "
            "to the campaign")
    return Rejection(REASON, note)
