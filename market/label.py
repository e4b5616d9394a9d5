"""Label submission: the moment an annotator is paid, or told why not.

Submitting is idempotent by key: the same ``(annotator, idempotency_key)`` returns the
label already recorded (a retried request after a lost response is safe); a second label
for an assignment without the original key is refused (409). Payment happens in the
same transaction as the label, through ``ledger.post_payment``, which refuses to pay an
assignment twice; the unique ``assignment_id`` on Label backs that up in the database.

Quality control (``market.quality.acceptance``) reviews each label in the same
transaction: a gold answer updates the annotator's posterior, and a label of an annotator
judged below the campaign's quality bar is rejected, not paid, and its escrow released to
the campaign with the reason (``ledger.post_release``). A label of work won on probation
is held: ``accepted`` false with no reason, no posting, its escrow kept and its item
still counted open, until a settlement pays or rejects it. Only accepted labels count
towards an item's ``n_labels``, so a rejected label's item is offered again.

Lock order (campaign → round → assignment) matches round closing and settlement, so
concurrent submissions and settlements cannot deadlock on Postgres.
"""

from __future__ import annotations

import math

from sqlmodel import Session, select

from market import campaign as campaigns
from market import ledger
from market import round as rounds
from market.errors import Conflict, Forbidden, Invalid, NotFound
from market.quality import acceptance
from market.tables import CHOICES, Account, Assignment, Item, Label


def submit_label(
    session: Session,
    annotator: Account,
    assignment_id: int,
    choice: str,
    confidence: float | None = None,
    key: str | None = None,
) -> tuple[Label, bool]:
    """Record a label and pay for it (or reject it); returns ``(label, created)``. Caller commits."""
    if annotator.role != "annotator":
        raise Forbidden("only annotator accounts submit labels")
    if choice not in CHOICES:
        raise Invalid(f"choice: must be one of {', '.join(CHOICES)} (got {choice!r})")
    if confidence is not None:
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not math.isfinite(confidence):
            raise Invalid("confidence: must be a finite number between 0 and 1")
        if not 0.0 <= confidence <= 1.0:
            raise Invalid(f"confidence: must lie between 0 and 1 (got {confidence})")
        confidence = float(confidence)
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 200):
        raise Invalid("idempotency_key: must be a string of 1 to 200 characters")

    a = session.get(Assignment, assignment_id)
    if a is None or a.annotator_id != annotator.id:  # someone else's: 404 too, not confirming it exists
        raise NotFound(f"assignment {assignment_id} not found")

    if key is not None:
        prior = session.exec(select(Label).where(Label.annotator_id == annotator.id, Label.idempotency_key == key)).first()
        if prior is not None:
            if prior.assignment_id != assignment_id:
                raise Conflict(f"idempotency_key {key!r} was already used for assignment {prior.assignment_id}")
            return prior, False

    campaign = campaigns.lock_campaign(session, a.campaign_id)
    rnd = rounds.touch(session, rounds.get_round(session, a.round_id))
    a = session.exec(
        select(Assignment).where(Assignment.id == assignment_id).with_for_update().execution_options(populate_existing=True)
    ).one()
    existing = session.exec(select(Label).where(Label.assignment_id == assignment_id)).first()
    if existing is not None:
        raise Conflict(f"assignment {assignment_id} already has a label (label {existing.id}); labels are final")
    if a.state == "released":
        session.commit()  # keep the lazy settlement that may just have released it
        raise Conflict(f"assignment {assignment_id} was released when round {a.round_id} settled; it can no longer be labelled")
    if a.state != "open":
        raise Conflict(f"assignment {assignment_id} is {a.state}")

    label = Label(
        assignment_id=a.id,
        campaign_id=a.campaign_id,
        item_id=a.item_id,
        annotator_id=annotator.id,
        choice=choice,
        confidence=confidence,
        idempotency_key=key,
        accepted=True,
    )
    session.add(label)
    session.flush()
    a.state = "done"
    item = session.get(Item, a.item_id)
    decision = acceptance.review(session, campaign, label, item, held=a.held)
    if decision == acceptance.HELD:  # unpaid, in escrow, its item not offered again, until the test ends
        label.accepted = False
    else:
        item.n_open = max(0, item.n_open - 1)
    if decision is None:
        item.n_labels += 1
        ledger.post_payment(session, a, label)
        rnd.paid_cents += a.price_cents
    elif decision != acceptance.HELD:
        label.accepted = False
        label.reject_reason = decision.reason  # the annotator's: nothing measured from gold
        ledger.post_release(session, a, label=label, note=decision.note)
        rnd.released_cents += a.price_cents
    if rnd.state == "cleared":
        rnd.state = "labeling"
    session.flush()
    rounds.settle_if_done(session, rnd)
    return label, True
