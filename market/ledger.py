"""The double-entry ledger: every cent the market moves, and the ONE place its rules live.

Ledger accounts (strings):

==================== =====================================================
``external``         money outside the market (a requester's funding)
``campaign:<id>``    a campaign's budget not yet committed to a round
``escrow:round:<id>`` money held for a round's assignments
``annotator:<id>``   what an annotator has earned
==================== =====================================================

Life of a cent: ``fund`` (external → campaign) when the campaign is created;
``escrow`` (campaign → escrow) for each assignment when its round clears; then exactly
one of ``pay`` (escrow → annotator, when the assignment's label is accepted) or
``release`` (escrow → campaign, when the assignment is dropped at settlement, or when its
label is rejected by the campaign's quality policy: then the release names the label
and its ``note`` says why).

Invariants, all enforced by :func:`_post` and the four ``post_*`` functions below (no
other code writes ``LedgerEntry`` rows):

- amounts are positive integers; no account but ``external`` goes below zero, so
  total escrowed, and therefore total paid, never exceeds the funded budget;
- every payment names an accepted label of the very assignment it pays, to that
  assignment's annotator, for exactly its price;
- a rejected label is never paid: its assignment's escrow is released to the campaign
  by a posting that names the label and says why; a held label (work won on probation,
  ``market.quality.acceptance``) has neither posting until it is paid or rejected;
- each posting has a unique ``key`` (``pay:assignment:7``...), enforced by a database
  unique constraint as well as a check here, so nothing is paid or released twice, and an
  assignment is never both paid and released.

Callers hold the campaign's lock (see ``market.db``) while posting.
:func:`check_campaign` re-derives everything from the entries and is what the tests (and
the summary endpoint) use to show the books balance to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from market import clock
from market.errors import LedgerViolation
from market.tables import Assignment, Campaign, Label, LedgerEntry

EXTERNAL = "external"
_ENTRIES = LedgerEntry.__table__
_BATCH = 5_000  # escrow rows per INSERT (executemany)
REASONS = ("fund", "escrow", "pay", "release")


def campaign_account(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


def escrow_account(round_id: int) -> str:
    return f"escrow:round:{round_id}"


def annotator_account(annotator_id: int) -> str:
    return f"annotator:{annotator_id}"


def balance(session: Session, account: str) -> int:
    """Cents held by ``account`` (inflows minus outflows)."""
    inflow = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.cents), 0)).where(LedgerEntry.to_account == account)
    ).one()
    outflow = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.cents), 0)).where(LedgerEntry.from_account == account)
    ).one()
    return int(inflow) - int(outflow)


def _key_taken(session: Session, key: str) -> bool:
    return session.exec(select(LedgerEntry.id).where(LedgerEntry.key == key)).first() is not None


def _check_cents(cents) -> None:
    if type(cents) is not int or cents <= 0:  # noqa: E721 - bool and float are both refused
        raise LedgerViolation(f"ledger amounts are positive integer cents, got {cents!r}")


def _post(
    session: Session,
    *,
    src: str,
    dst: str,
    cents: int,
    reason: str,
    key: str,
    campaign_id: int,
    round_id: int | None = None,
    assignment_id: int | None = None,
    label_id: int | None = None,
    note: str | None = None,
) -> LedgerEntry:
    """Write one posting after the generic checks (amount, key, source balance)."""
    if reason not in REASONS:
        raise LedgerViolation(f"unknown ledger reason {reason!r}")
    _check_cents(cents)
    if src == dst:
        raise LedgerViolation("a posting needs two different accounts")
    if _key_taken(session, key):
        raise LedgerViolation(f"ledger posting {key!r} already exists (nothing is posted twice)")
    if src != EXTERNAL:
        available = balance(session, src)
        if available < cents:
            raise LedgerViolation(f"{src} holds {available} cents, cannot move {cents}")
    entry = LedgerEntry(
        from_account=src,
        to_account=dst,
        cents=cents,
        reason=reason,
        key=key,
        campaign_id=campaign_id,
        round_id=round_id,
        assignment_id=assignment_id,
        label_id=label_id,
        note=note,
    )
    session.add(entry)
    session.flush()
    return entry


def post_fund(session: Session, campaign: Campaign) -> LedgerEntry:
    """Fund a new campaign with its budget (once)."""
    return _post(
        session,
        src=EXTERNAL,
        dst=campaign_account(campaign.id),
        cents=campaign.budget_cents,
        reason="fund",
        key=f"fund:campaign:{campaign.id}",
        campaign_id=campaign.id,
    )


def post_escrows(session: Session, assignments: Sequence[Assignment]) -> int:
    """Commit a round's assignments' prices from the campaign's budget to the round's
    escrow: one posting each, written together; returns how many.

    The checks of :func:`_post`, made once for the round rather than once per posting,
    which summed the campaign's whole ledger each time and made clearing quadratic in
    assignments. The campaign's balance is read once and the round's total taken from it:
    with every posting from the same account that is the same test as a running balance,
    and the caller holds the campaign's lock (``market.db``), so nothing else moves that
    balance meanwhile. Keys are checked against the round's escrow account (the only
    place an ``escrow:assignment:`` key is written) and by the unique constraint."""
    if not assignments:
        return 0
    rounds = {(a.campaign_id, a.round_id) for a in assignments}
    if len(rounds) != 1:
        raise LedgerViolation("escrow is posted one round at a time")
    ((campaign_id, round_id),) = rounds
    src, dst = campaign_account(campaign_id), escrow_account(round_id)
    for a in assignments:
        _check_cents(a.price_cents)
    keys = [f"escrow:assignment:{a.id}" for a in assignments]
    taken = set(session.exec(select(LedgerEntry.key).where(LedgerEntry.to_account == dst)).all())
    if len(set(keys)) < len(keys) or not taken.isdisjoint(keys):
        raise LedgerViolation(f"round {round_id}: an escrow posting already exists (nothing is posted twice)")
    total = sum(a.price_cents for a in assignments)
    available = balance(session, src)
    if available < total:
        raise LedgerViolation(f"{src} holds {available} cents, cannot move {total}")
    now = clock.now()
    conn = session.connection()
    for start in range(0, len(assignments), _BATCH):  # batches: a bounded list of rows, freed as it goes
        conn.execute(_ENTRIES.insert(), [
            {"from_account": src, "to_account": dst, "cents": a.price_cents, "reason": "escrow", "key": key,
             "campaign_id": campaign_id, "round_id": round_id, "assignment_id": a.id, "created_at": now}
            for a, key in zip(assignments[start:start + _BATCH], keys[start:start + _BATCH], strict=True)
        ])
    return len(assignments)


def post_payment(session: Session, assignment: Assignment, label: Label) -> LedgerEntry:
    """Pay the assignee for an accepted label: traceable to that label, never twice."""
    if label.assignment_id != assignment.id or label.annotator_id != assignment.annotator_id:
        raise LedgerViolation(f"label {label.id} does not belong to assignment {assignment.id}")
    if not label.accepted:
        raise LedgerViolation(f"label {label.id} is not accepted; only accepted labels are paid")
    if _key_taken(session, f"release:assignment:{assignment.id}"):
        raise LedgerViolation(f"assignment {assignment.id} was released; it cannot be paid")
    if not _key_taken(session, f"escrow:assignment:{assignment.id}"):
        raise LedgerViolation(f"assignment {assignment.id} has no escrow to pay from")
    return _post(
        session,
        src=escrow_account(assignment.round_id),
        dst=annotator_account(assignment.annotator_id),
        cents=assignment.price_cents,
        reason="pay",
        key=f"pay:assignment:{assignment.id}",
        campaign_id=assignment.campaign_id,
        round_id=assignment.round_id,
        assignment_id=assignment.id,
        label_id=label.id,
    )


def post_release(session: Session, assignment: Assignment, *, label: Label | None = None,
                 note: str | None = None) -> LedgerEntry:
    """Return an assignment's escrow to the campaign: unfinished at settlement, or
    labelled but rejected (then ``label`` is that rejected label and ``note`` says why)."""
    if _key_taken(session, f"pay:assignment:{assignment.id}"):
        raise LedgerViolation(f"assignment {assignment.id} was paid; it cannot be released")
    if label is not None:
        if label.assignment_id != assignment.id or label.annotator_id != assignment.annotator_id:
            raise LedgerViolation(f"label {label.id} does not belong to assignment {assignment.id}")
        if label.accepted:
            raise LedgerViolation(f"label {label.id} is accepted; an accepted label is paid, not released")
        if not note:
            raise LedgerViolation(f"the release of rejected label {label.id} must say why")
    return _post(
        session,
        src=escrow_account(assignment.round_id),
        dst=campaign_account(assignment.campaign_id),
        cents=assignment.price_cents,
        reason="release",
        key=f"release:assignment:{assignment.id}",
        campaign_id=assignment.campaign_id,
        round_id=assignment.round_id,
        assignment_id=assignment.id,
        label_id=label.id if label is not None else None,
        note=note,
    )


@dataclass(frozen=True)
class Books:
    """A campaign's money, re-derived from its ledger entries."""

    funded_cents: int
    available_cents: int  # campaign account: not yet escrowed
    escrowed_cents: int  # held in its rounds' escrow accounts now
    paid_cents: int
    released_cents: int
    n_payments: int

    @property
    def balanced(self) -> bool:
        return self.funded_cents == self.available_cents + self.escrowed_cents + self.paid_cents

    def as_dict(self) -> dict:
        return {
            "funded_cents": self.funded_cents,
            "available_cents": self.available_cents,
            "escrowed_cents": self.escrowed_cents,
            "paid_cents": self.paid_cents,
            "released_cents": self.released_cents,
            "n_payments": self.n_payments,
            "balanced": self.balanced,
        }


def books(session: Session, campaign_id: int) -> Books:
    """Sum a campaign's entries by reason (one grouped query)."""
    rows = session.exec(
        select(LedgerEntry.reason, func.sum(LedgerEntry.cents), func.count(LedgerEntry.id))
        .where(LedgerEntry.campaign_id == campaign_id)
        .group_by(LedgerEntry.reason)
    ).all()
    sums = {reason: int(total or 0) for reason, total, _ in rows}
    counts = {reason: int(n) for reason, _, n in rows}
    funded, escrow, pay, release = (sums.get(r, 0) for r in REASONS)
    return Books(
        funded_cents=funded,
        available_cents=funded - escrow + release,
        escrowed_cents=escrow - pay - release,
        paid_cents=pay,
        released_cents=release,
        n_payments=counts.get("pay", 0),
    )


def check_campaign(session: Session, campaign: Campaign) -> Books:
    """Verify every ledger invariant for one campaign; raise LedgerViolation on the first breach."""
    b = books(session, campaign.id)
    if b.funded_cents != campaign.budget_cents:
        raise LedgerViolation(f"campaign {campaign.id} funded {b.funded_cents} != budget {campaign.budget_cents}")
    if b.paid_cents > campaign.budget_cents:
        raise LedgerViolation(f"campaign {campaign.id} paid {b.paid_cents} > budget {campaign.budget_cents}")
    if b.available_cents != balance(session, campaign_account(campaign.id)):
        raise LedgerViolation(f"campaign {campaign.id}: available balance disagrees with its account")
    if not b.balanced or b.available_cents < 0 or b.escrowed_cents < 0:
        raise LedgerViolation(f"campaign {campaign.id} books do not balance: {b.as_dict()}")
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.campaign_id == campaign.id)).all()
    settled: dict[int, str] = {}
    for e in entries:
        if e.reason in ("pay", "release"):
            if e.assignment_id in settled:
                raise LedgerViolation(f"assignment {e.assignment_id} settled twice")
            settled[e.assignment_id] = e.reason
        if e.reason == "pay":
            label = session.get(Label, e.label_id) if e.label_id is not None else None
            a = session.get(Assignment, e.assignment_id) if e.assignment_id is not None else None
            if label is None or a is None or label.assignment_id != a.id or not label.accepted:
                raise LedgerViolation(f"payment {e.id} is not traceable to an accepted label")
            if e.cents != a.price_cents or e.to_account != annotator_account(a.annotator_id):
                raise LedgerViolation(f"payment {e.id} does not match assignment {a.id}")
        if e.reason == "release" and e.label_id is not None:
            label = session.get(Label, e.label_id)
            if (label is None or label.assignment_id != e.assignment_id or label.accepted or not e.note
                    or label.reject_reason is None):
                raise LedgerViolation(f"release {e.id} names label {e.label_id} but not a rejected label with a reason")
    unaccepted = session.exec(
        select(Label.id, Label.assignment_id, Label.reject_reason, Assignment.held)
        .join(Assignment, Assignment.id == Label.assignment_id)
        .where(Label.campaign_id == campaign.id, Label.accepted == False)  # noqa: E712
    ).all()
    released_labels = {e.label_id for e in entries if e.reason == "release"}
    for label_id, assignment_id, reason, held in unaccepted:
        if reason is None:  # held until its annotator's gold test ends: its escrow stays, nothing posted
            if not held or assignment_id in settled:
                raise LedgerViolation(f"label {label_id} is neither accepted nor rejected, yet assignment "
                                      f"{assignment_id} is {'settled' if held else 'not held'}")
        elif label_id not in released_labels:
            raise LedgerViolation(f"rejected label {label_id}: the escrow of assignment {assignment_id} was not returned")
    return b
