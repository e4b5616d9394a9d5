"""Gold items and the skill records they feed (database side of ``market.quality.skill``).

A gold item is one of the campaign's own pairs whose answer the requester knows. It is
never offered in a round's item list; the clearing mixes it into winners' assignments
(``market.quality.admission``), where it looks like any other pair. Its answer scores
the annotator's label and updates the annotator's Beta posterior for the campaign
(``AnnotatorSkill``), always under the campaign's lock.

Gold answers are ``a`` or ``b``: a gold pair must have a clear answer, or it measures
nothing. An item can become gold only before it has been offered or assigned, so a
label given as ordinary work is never re-scored as a gold answer afterwards.

Carried records (:func:`records`). Vetting is dear: telling a careful reader from a random
clicker takes about eight gold answers, and a requester that runs campaigns one after
another would pay for them in every campaign (in the CPU demo, vetting 20 annotators
costs more gold answers than its five rounds buy units). So a campaign may count the gold
answers an annotator gave on its owner's other campaigns, each at ``gold_carry`` of one of
its own: at 1 an annotator vetted before starts where it left off, at 0.5 its record
counts half (the tasks or the gold may differ between campaigns, and a record ages). Only
the same requester's campaigns count: their gold items are the requester's own, so no
other requester's judgement, or gold, decides who works here. The skill rows themselves
stay per campaign; the carry is applied when a record is read, so nothing stored
changes, and every reader (the clearing, acceptance at submission, the quality report)
reads it through :func:`records`.

Dealing (:class:`Pool`). A gold item must look like any other pair to annotators who
compare notes, so it is dealt the way real work is: a real item reaches
``labels_per_item`` different annotators, all in the round that offers it. So a clearing
deals first the gold items it has started this round, until each has reached
``labels_per_item`` annotators, then fresh ones, in an order keyed with the server's
secret. When no fresh gold item is left, a fresh pair the requester uploaded with its
answer (``pair`` format with ``gold``, not offered, never assigned) becomes a gold check:
real work by origin, so its prompt is one an annotator could have met as work. Only when
both run out does an item reach more annotators than real work does, least-used first;
then colluding accounts that compare prompts can mark the recurring ones, and the
requester should upload more gold (``docs/trust.md``). The logged preferences of ``trl``
and ``hh`` lines are not promoted: they are the data being bought, and too noisy to
judge annotators by.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from market import clock, secret
from market.errors import Conflict, Invalid
from market.quality import skill
from market.tables import AnnotatorSkill, Assignment, Campaign, Item, Label

ANSWERS = ("a", "b")


def mark_gold(session: Session, campaign: Campaign, answers: dict[int, str]) -> int:
    """Make items gold with their known answers; all or nothing. Caller commits."""
    if not answers:
        raise Invalid("items: send at least one item")
    for item_id, answer in answers.items():
        if answer not in ANSWERS:
            raise Invalid(f"items: the answer for item {item_id} must be 'a' or 'b' (got {answer!r})")
    ids = list(answers)
    found = {it.id: it for it in session.exec(
        select(Item).where(Item.campaign_id == campaign.id, col(Item.id).in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(f"items: item_id {missing[0]} is not an item of campaign {campaign.id}")
    used = set(session.exec(select(Assignment.item_id).where(col(Assignment.item_id).in_(ids))).all())
    for item_id in ids:
        it = found[item_id]
        if it.round_id is not None or item_id in used or it.n_labels > 0:
            raise Conflict(f"items: item {item_id} has been offered or labelled; only fresh items can become gold")
        if it.completion_a is None or it.completion_b is None:
            raise Conflict(f"items: item {item_id} has no completions yet; a gold item needs its pair")
    for item_id, answer in answers.items():
        found[item_id].gold = answer
        found[item_id].gold_check = True
    session.flush()
    return len(answers)


def skills(session: Session, campaign_id: int, annotator_ids) -> dict[int, AnnotatorSkill]:
    """The skill rows of these annotators on this campaign (absent: no gold answer yet)."""
    ids = list(annotator_ids)
    if not ids:
        return {}
    rows = session.exec(select(AnnotatorSkill).where(
        AnnotatorSkill.campaign_id == campaign_id, col(AnnotatorSkill.annotator_id).in_(ids)))
    return {r.annotator_id: r for r in rows}


@dataclass(frozen=True)
class Records:
    """Gold records as one campaign judges them, aligned with the annotator ids asked for."""

    alpha: np.ndarray  # Beta posterior: prior + this campaign's + carried credit
    beta: np.ndarray
    answers: np.ndarray  # gold answers, own and carried (what ``skill.judge`` counts)
    own: np.ndarray  # gold answers on this campaign
    carried: np.ndarray  # gold answers on the owner's other campaigns, times ``gold_carry``


def records(session: Session, campaign: Campaign, annotator_ids) -> Records:
    """These annotators' records on ``campaign``, with the owner's other campaigns' gold
    answers counted at ``campaign.gold_carry`` each (see the module doc)."""
    ids = list(annotator_ids)
    own = skills(session, campaign.id, ids)
    alpha = np.array([own[i].alpha if i in own else skill.PRIOR_ALPHA for i in ids], dtype=float)
    beta = np.array([own[i].beta if i in own else skill.PRIOR_BETA for i in ids], dtype=float)
    mine = np.array([own[i].gold_answers if i in own else 0 for i in ids], dtype=np.int64)
    carried = np.zeros(len(ids))
    if campaign.gold_carry > 0 and ids:
        rows = session.exec(
            select(AnnotatorSkill.annotator_id, func.count(), func.sum(AnnotatorSkill.alpha),
                   func.sum(AnnotatorSkill.beta), func.sum(AnnotatorSkill.gold_answers))
            .join(Campaign, Campaign.id == AnnotatorSkill.campaign_id)
            .where(Campaign.owner_id == campaign.owner_id, AnnotatorSkill.campaign_id != campaign.id,
                   col(AnnotatorSkill.annotator_id).in_(ids))
            .group_by(AnnotatorSkill.annotator_id)
        ).all()
        at = {i: k for k, i in enumerate(ids)}
        w = campaign.gold_carry
        for annotator_id, n_rows, a, b, n in rows:
            k = at[annotator_id]
            alpha[k] += w * (a - n_rows * skill.PRIOR_ALPHA)  # the credit earned there, the prior once
            beta[k] += w * (b - n_rows * skill.PRIOR_BETA)
            carried[k] = w * n
    return Records(alpha, beta, mine + carried, mine, carried)


def record_answer(session: Session, label: Label, item: Item) -> AnnotatorSkill:
    """Score ``label`` against ``item``'s gold answer (none: no credit, no answer counted)
    and update the annotator's posterior.

    Every label goes through here, gold or not, and does the same database work: read the
    skill row (creating it at the annotator's first label), write it back, and write the
    label's ``gold_credit`` (None for ordinary work). A gold label that cost one more
    query was told apart by the time its answer took.

    The caller holds the campaign's lock (as label submission does), so the read-modify-
    write of the skill row cannot interleave with another label of the same campaign."""
    is_gold = item.gold_check and item.gold in ANSWERS
    credit = skill.gold_credit(label.choice, item.gold) if is_gold else None
    label.gold_credit = credit
    flag_modified(label, "gold_credit")  # written whether it changed or not
    row = skills(session, label.campaign_id, [label.annotator_id]).get(label.annotator_id)
    if row is None:
        row = AnnotatorSkill(campaign_id=label.campaign_id, annotator_id=label.annotator_id,
                             alpha=skill.PRIOR_ALPHA, beta=skill.PRIOR_BETA)
        session.add(row)
    if is_gold:
        row.alpha += credit
        row.beta += 1.0 - credit
        row.gold_answers += 1
    row.updated_at = clock.now()
    session.flush()
    return row


@dataclass
class Pool:
    """A campaign's gold items as one clearing deals them (see the module doc, "Dealing").

    ``exposure``: how many annotators have held each gold item, this round's deals
    included; ``started``: the items first dealt in this round; ``held``: the gold items
    each bidder has ever held; ``spare``: fresh pairs with a known answer that may become
    gold when nothing better is left."""

    key: bytes
    round_id: int
    cap: int
    items: dict[int, Item]
    exposure: dict[int, int]
    held: dict[int, set[int]]
    spare: list[Item]
    started: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, campaign: Campaign, round_id: int, annotator_ids, key: bytes,
             offered: list[int]) -> "Pool":
        ids = list(annotator_ids)
        items = {it.id: it for it in session.exec(
            select(Item).where(Item.campaign_id == campaign.id, Item.gold_check == True))}  # noqa: E712
        on_gold = (select(Assignment.annotator_id, Assignment.item_id).join(Item, Item.id == Assignment.item_id)
                   .where(Item.campaign_id == campaign.id, Item.gold_check == True))  # noqa: E712
        exposure = dict.fromkeys(items, 0)
        held: dict[int, set[int]] = {i: set() for i in ids}
        for annotator_id, item_id in session.exec(on_gold).all():
            exposure[item_id] = exposure.get(item_id, 0) + 1
            if annotator_id in held:
                held[annotator_id].add(item_id)
        ever_assigned = select(Assignment.id).where(Assignment.item_id == Item.id).exists()
        spare = list(session.exec(
            select(Item).where(
                Item.campaign_id == campaign.id, Item.gold_check == False,  # noqa: E712
                Item.source_format == "pair", col(Item.gold).in_(ANSWERS),
                col(Item.completion_a).is_not(None), col(Item.completion_b).is_not(None),
                col(Item.round_id).is_(None), Item.n_labels == 0, Item.n_open == 0,
                col(Item.id).not_in(list(offered) or [-1]), ~ever_assigned)
            .order_by(col(Item.id).desc())
            .limit(max(len(offered) * campaign.labels_per_item, 1))
        ).all())
        return cls(key, round_id, campaign.labels_per_item, items, exposure, held, spare)

    def left(self, annotator_id: int) -> int:
        """Gold checks this annotator can still be given (items it never held, spares too)."""
        return len(self.items) - len(self.held.get(annotator_id, ())) + len(self.spare)

    def take(self, session: Session, annotator_id: int, n: int) -> list[Item]:
        """Deal ``n`` gold items this annotator never held (fewer if there are none)."""
        held = self.held.setdefault(annotator_id, set())
        chosen: list[Item] = []
        for _ in range(n):
            fresh_or_started = [i for i in self.items if i not in held and (
                self.exposure[i] == 0 or (i in self.started and self.exposure[i] < self.cap))]
            if fresh_or_started:
                pick = min(fresh_or_started, key=lambda i: (i not in self.started, self._order(i)))
            elif self.spare:
                pick = self._promote(session, self.spare.pop(0))
            else:
                rest = [i for i in self.items if i not in held]
                if not rest:
                    break
                pick = min(rest, key=lambda i: (self.exposure[i], self._order(i)))
            if self.exposure[pick] == 0:
                self.started.add(pick)
            self.exposure[pick] += 1
            held.add(pick)
            chosen.append(self.items[pick])
        return chosen

    def _order(self, item_id: int) -> bytes:
        return secret.digest(self.key, "gold-item", self.round_id, item_id)

    def _promote(self, session: Session, item: Item) -> int:
        """A fresh pair whose answer the requester gave becomes a gold check (see the doc)."""
        item.gold_check = True
        session.flush()
        self.items[item.id] = item
        self.exposure[item.id] = 0
        return item.id
