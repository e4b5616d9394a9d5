"""The round lifecycle: open → (sealed bidding) → cleared → labeling → settled.

- **open**: the campaign's best available items (descending acquisition score) are
  offered; demand is ``labels_per_item`` units per item (fewer for an item that already
  has some labels); the round budget is ``min(round_budget_cents or remaining,
  remaining)`` where *remaining* is the campaign's unescrowed budget.
- **close** (explicitly by the owner, or lazily once the deadline has passed): bids are
  expanded into units, cleared by the campaign's rule through the one mechanism core
  (``market.mechanisms.clear``), payments turned into cents (never below an ask, never
  over the budget), winning units matched to items and each assignment's price escrowed.
- **labeling**: each accepted label is paid from escrow at once, and a label the
  campaign's quality policy rejects has its escrow released (``market.label``).
- **settle** (explicitly, lazily once the labelling deadline has passed, or by itself
  when the last assignment is labelled): open assignments are released and their escrow
  returns to the campaign.

Quality control (campaigns with ``gold_rate > 0``, see ``market.quality.admission``)
enters at clearing: bidders' quality comes from their gold posterior, bids below the
quality bar take no part, annotators on probation take a capped share of the round,
some of each winner's units become gold checks (half while unproven), all created in a
keyed shuffled order so that nothing an annotator sees gives them away (:func:`_assign`).

Deadlines are enforced *lazily*: every route that touches a round (or lists rounds or
assignments) first calls :func:`touch` / :func:`touch_due`, which closes or settles
whatever is overdue in the same request. ``prefmarket serve`` also runs a small sweeper
that calls :func:`touch_due` every few seconds so idle rounds settle without traffic.
Both paths take the same locks, so they cannot double-close or double-settle. The
sweep clears each overdue round in its own transaction, and a round whose clearing or
settlement raises is recorded, retried, then parked, so it holds up no other (:func:`touch`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque

import numpy as np
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from market import campaign as campaigns
from market import acquisition, clock, ledger, secret
from market.accounts import annotator_quality
from market.errors import Conflict, Invalid, LedgerViolation, NotFound
from market.items import item_values
from market.limits import MAX_DURATION_S, MIN_DURATION_S
from market.tables import Account, Assignment, Bid, Campaign, Item, Round

log = logging.getLogger(__name__)
ACTIVE = ("cleared", "labeling")
# Tries of an overdue round's clearing or settlement before it is parked: enough to ride
# out a passing fault (a lock timeout, a restart), few enough that a round that always
# fails does not redo its clearing on every sweep and every read for ever.
MAX_FAILURES = 3


def _lock_round(session: Session, round_id: int) -> Round:
    rnd = session.exec(
        select(Round).where(Round.id == round_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if rnd is None:
        raise NotFound(f"round {round_id} not found")
    return rnd


def get_round(session: Session, round_id: int) -> Round:
    rnd = session.get(Round, round_id)
    if rnd is None:
        raise NotFound(f"round {round_id} not found")
    return rnd


def available_items(session: Session, campaign: Campaign, limit: int) -> list[Item]:
    """Items that still need labels, have both completions and are not on offer or assigned
    out: best score first (unscored last), then upload order. Gold items are never offered
    (the clearing mixes them into assignments)."""
    stmt = (
        select(Item)
        .where(
            Item.campaign_id == campaign.id,
            Item.gold_check == False,  # noqa: E712 - SQL expression
            col(Item.completion_a).is_not(None),
            col(Item.completion_b).is_not(None),
            col(Item.round_id).is_(None),
            Item.n_labels + Item.n_open < campaign.labels_per_item,
        )
        .order_by(col(Item.score).is_(None), col(Item.score).desc(), Item.position, Item.id)
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def _needed(campaign: Campaign, item: Item) -> int:
    return max(0, campaign.labels_per_item - item.n_labels - item.n_open)


def open_round(session: Session, owner: Account, campaign_id: int, duration_s: float | None = None) -> Round:
    """Open a round for ``campaign_id`` (owner only). Caller commits."""
    touch_campaign(session, campaign_id)  # commits round by round, so before the lock below
    campaign = campaigns.require_owner(session, owner, campaign_id, lock=True)
    if campaign.status != "active":
        raise Conflict(f"campaign {campaign.id} is {campaign.status}; it opens no rounds")
    if duration_s is None:
        duration_s = campaign.round_duration_s
    elif isinstance(duration_s, bool) or not np.isfinite(duration_s) or not (
        MIN_DURATION_S <= duration_s <= MAX_DURATION_S
    ):
        raise Invalid(f"duration_s: must be between {MIN_DURATION_S} and {MAX_DURATION_S} seconds")
    remaining = campaigns.remaining_cents(session, campaign)
    budget = min(campaign.round_budget_cents or remaining, remaining)
    unit = campaign.posted_price_cents if campaign.rule == "posted_price" else 1
    if budget < max(unit or 1, 1):
        raise Conflict(
            f"campaign {campaign.id} has {remaining} cents left, less than one label's price; nothing to buy"
        )
    offered = available_items(session, campaign, campaign.round_size)
    if not offered:
        raise Conflict(
            f"campaign {campaign.id} has no items to offer: every item is labelled, on offer, assigned, "
            "or still lacks completions (upload pairs or PUT completions)"
        )
    demand = sum(_needed(campaign, it) for it in offered)
    rnd = Round(
        campaign_id=campaign.id,
        rule=campaign.rule,
        demand=demand,
        budget_cents=budget,
        item_ids=[it.id for it in offered],
        deadline=clock.later(duration_s),
    )
    session.add(rnd)
    session.flush()
    for it in offered:
        it.round_id = rnd.id
    session.flush()
    return rnd


def close_round(session: Session, owner: Account, round_id: int) -> Round:
    """Explicit close by the campaign's owner (before or after the deadline). Caller commits."""
    rnd = get_round(session, round_id)
    campaigns.require_owner(session, owner, rnd.campaign_id, lock=True)
    rnd = _lock_round(session, round_id)
    if rnd.state != "open":
        raise Conflict(f"round {round_id} is already {rnd.state}")
    _clear(session, rnd)
    return rnd


def settle_round(session: Session, owner: Account, round_id: int) -> Round:
    """Explicit settlement by the owner: release what is unfinished, return its money. Idempotent."""
    rnd = get_round(session, round_id)
    campaigns.require_owner(session, owner, rnd.campaign_id, lock=True)
    rnd = _lock_round(session, round_id)
    if rnd.state == "open":
        raise Conflict(f"round {round_id} is still open; close it before settling")
    if rnd.state != "settled":
        _settle(session, rnd)
    return rnd


# --- lazy deadlines ------------------------------------------------------------------


def touch(session: Session, rnd: Round) -> Round:
    """Close or settle ``rnd`` if its deadline has passed (locks taken here). No commit.

    The work runs in a savepoint: if it raises, it is undone, the round keeps its state
    and records the error (``failures``, ``last_error``), and the caller goes on, so one
    broken round fails no request about anything else. A database that is busy or gone
    is not the round's fault: that error propagates and is not counted. After
    :data:`MAX_FAILURES` failures in a row the round is parked: no lazy path or sweep tries
    it again (each try redoes a whole clearing under the campaign's lock), and its owner's
    explicit close or settle still can, once the cause is fixed."""
    now = clock.now()
    due_close = rnd.state == "open" and rnd.deadline <= now
    due_settle = rnd.state in ACTIVE and rnd.label_deadline is not None and rnd.label_deadline <= now
    if not (due_close or due_settle) or rnd.failures >= MAX_FAILURES:
        return rnd
    try:
        with session.begin_nested():
            campaigns.lock_campaign(session, rnd.campaign_id)
            rnd = _lock_round(session, rnd.id)
            now = clock.now()
            if rnd.state == "open" and rnd.deadline <= now:
                _clear(session, rnd)
            if rnd.state in ACTIVE and rnd.label_deadline is not None and rnd.label_deadline <= now:
                _settle(session, rnd)
    except (OperationalError, sqlite3.OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001 - any fault of this round's own work is recorded
        rnd = _lock_round(session, rnd.id)
        rnd.failures += 1
        rnd.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        parked = rnd.failures >= MAX_FAILURES
        log.error("round %s: %s failed (%d of %d%s): %s", rnd.id, "clearing" if rnd.state == "open" else "settlement",
                  rnd.failures, MAX_FAILURES, "; parked" if parked else "; retried on a later sweep", rnd.last_error,
                  exc_info=exc)
        session.flush()
    return rnd


def _due_ids(session: Session, campaign_id: int | None = None) -> list[int]:
    now = clock.now()
    stmt = select(Round.id).where(
        (((Round.state == "open") & (Round.deadline <= now))
         | (col(Round.state).in_(ACTIVE) & (Round.label_deadline <= now)))
        & (Round.failures < MAX_FAILURES)
    )
    if campaign_id is not None:
        stmt = stmt.where(Round.campaign_id == campaign_id)
    return list(session.exec(stmt.order_by(Round.id)).all())


def touch_due(session: Session, campaign_id: int | None = None) -> int:
    """Close/settle every overdue round (optionally of one campaign), each in its own
    transaction (committed here, so one round's locks are held only for its own work);
    returns how many were tried. A round whose work raises is recorded by :func:`touch`;
    any other error (the database busy, say) rolls back that round only, and the rest go on.
    Call it before taking locks of your own: its commits let them go."""
    ids = _due_ids(session, campaign_id)
    for rid in ids:
        try:
            touch(session, get_round(session, rid))
            session.commit()
        except Exception:  # noqa: BLE001 - the next sweep, or the next request, tries again
            session.rollback()
            log.exception("round %s: could not be closed or settled now; tried again later", rid)
    return len(ids)


def decide_expired_holds(session: Session) -> None:
    """Decide the labels held past ``limits.HOLD_LIMIT_S`` of every campaign, each campaign
    in its own transaction (``acceptance.settle_held``): a campaign whose rounds are all
    settled has no settlement left to do it. The server's sweeper calls it."""
    from market.quality import acceptance

    for cid in acceptance.expired_holds(session):
        try:
            campaign = campaigns.lock_campaign(session, cid)
            acceptance.settle_held(session, campaign)
            session.commit()
        except Exception:  # noqa: BLE001 - the next sweep tries again
            session.rollback()
            log.exception("campaign %s: its expired held labels could not be decided now; tried again later", cid)


def touch_campaign(session: Session, campaign_id: int) -> int:
    return touch_due(session, campaign_id)


# --- clearing -------------------------------------------------------------------------


def _clear(session: Session, rnd: Round) -> None:
    """Clear an open round (round and campaign locks held): winners, cents, assignments, escrow."""
    from market.mechanisms import clear_bids
    from market.quality import admission
    from market.quality import report as quality_report

    campaign = session.get(Campaign, rnd.campaign_id)
    items = session.exec(select(Item).where(col(Item.id).in_(rnd.item_ids))).all()
    items = sorted(items, key=lambda it: (it.score is None, -(it.score or 0.0), it.position, it.id))
    needs = [_needed(campaign, it) for it in items]
    values = item_values(campaign.max_price_cents, [it.score for it in items], acquisition.scale(campaign.acquisition))
    unit_values = np.repeat(np.asarray(values, dtype=np.float64), needs)
    demand = int(unit_values.size)
    budget = min(rnd.budget_cents, campaigns.remaining_cents(session, campaign))
    bids = list(session.exec(select(Bid).where(Bid.round_id == rnd.id).order_by(Bid.id)).all())
    annotators = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_([b.annotator_id for b in bids])))} if bids else {}

    rnd.n_bids = len(bids)
    rnd.closed_at = clock.now()
    rnd.values_cents, rnd.clearing_budget_cents = unit_values.tolist(), int(budget)  # for replay
    for it in items:
        it.round_id = None
    assigned: list[Assignment] = []
    reason = "no bids"
    threshold = None
    prior = _prior_holders(session, items)
    if bids and demand > 0 and budget > 0:
        # one unit per item and annotator, never an item it held before: a bid can win at
        # most as many units as there are offered items it may still take
        eligible = [sum(1 for it, n in zip(items, needs, strict=True) if n and b.annotator_id not in prior.get(it.id, ()))
                    for b in bids]
        caps = np.array([min(b.capacity, e) for b, e in zip(bids, eligible, strict=True)], dtype=np.int64)
        linked = quality_report.excluded(session, campaign)  # exclude_flagged: linked accounts take no part
        caps[[b.annotator_id in linked for b in bids]] = 0
        if admission.enabled(campaign):
            admitted = admission.admit(session, campaign, rnd.id, bids, caps, demand, budget)
            caps, bid_quality = admitted.caps, admitted.quality
        else:
            admitted = None
            bid_quality = np.array([annotator_quality(annotators[b.annotator_id]) for b in bids])
        for b, q in zip(bids, bid_quality.tolist(), strict=True):
            b.quality = q
        rnd.n_units_offered = int(caps.sum())
        # the one step from bids to per-bid cents, shared with replay (bidders.replay)
        cleared = clear_bids(campaign.rule, [b.ask_cents for b in bids], caps, values_cents=unit_values,
                             budget_cents=int(budget), quality=bid_quality, price_cents=campaign.posted_price_cents)
        owner, winners, cents, result = cleared.bid_of_unit, cleared.winners, cleared.cents, cleared.clearing
        asks = np.array([b.ask_cents for b in bids], dtype=np.int64)[owner]
        if not (cents >= asks[winners]).all() or int(cents.sum()) > budget:
            raise LedgerViolation(f"round {rnd.id}: cent payments break IR or the budget; nothing cleared")
        for b, u, p in zip(bids, caps.tolist(), cleared.per_bid, strict=True):
            b.units, b.paid_cents = int(u), p  # what the clearing gave each bid, for replay
        threshold = result.threshold
        reason = f"{result.reason}: {winners.size} of {demand} units won"
        if cleared.fallback:
            reason += f"; {result.won - winners.size} dearest-ranked winners dropped to fit the budget in cents"
        gold = None
        if admitted is not None:
            gold = admitted.gold_for(session, np.bincount(owner[winners], minlength=len(bids)))
            if admitted.note():
                reason += f"; {admitted.note()}"
        held = admitted.held() if admitted is not None else None
        assigned, unplaced = _assign(session, rnd, campaign, items, needs, bids, owner[winners], cents, prior, gold,
                                     held)
        if unplaced:
            reason += f"; {unplaced} winning units could not be placed (distinct annotators per item)"
    elif bids:
        reason = "nothing to buy (no demand or no budget left)"

    ledger.post_escrows(session, assigned)
    rnd.n_assignments = len(assigned)
    rnd.escrowed_cents = sum(a.price_cents for a in assigned)
    if threshold is not None and np.isfinite(threshold):
        rnd.clearing_price_cents = int(np.floor(threshold + 1e-9))
    elif assigned:
        rnd.clearing_price_cents = max(a.price_cents for a in assigned)
    rnd.reason = reason
    rnd.failures = 0
    if assigned:
        rnd.state = "cleared"
        rnd.label_deadline = clock.later(campaign.label_duration_s)
        # one statement for the round (the loaded rows are updated in memory too)
        session.execute(update(Assignment).where(Assignment.round_id == rnd.id).values(deadline=rnd.label_deadline))
    else:
        rnd.state = "settled"
        rnd.settled_at = clock.now()
    session.flush()


def _prior_holders(session: Session, items: list[Item]) -> dict[int, set[int]]:
    """For each item, the annotators who ever held an assignment on it."""
    prior: dict[int, set[int]] = {}
    if items:
        for item_id, annotator_id in session.exec(
            select(Assignment.item_id, Assignment.annotator_id).where(
                col(Assignment.item_id).in_([it.id for it in items])
            )
        ).all():
            prior.setdefault(item_id, set()).add(annotator_id)
    return prior


def _assign(
    session: Session,
    rnd: Round,
    campaign: Campaign,
    items: list[Item],
    needs: list[int],
    bids: list[Bid],
    unit_bid: np.ndarray,
    unit_cents: np.ndarray,
    prior: dict[int, set[int]],
    gold: dict[int, list[Item]] | None = None,
    held: np.ndarray | None = None,
) -> tuple[list[Assignment], int]:
    """Match winning units to items: gold checks first (``gold``: bid index → gold items
    chosen for it), then items in descending score, each item's units to distinct
    annotators, higher-quality annotators first (ties: the mechanism's order, cheapest
    first). An annotator is never given an item it held before (labelled, or let lapse
    until released), so a lapsed item goes to someone else next time.

    With quality control on, nothing an annotator sees tells its gold checks from its
    ordinary work: the rows are shuffled by a generator keyed with the server's secret
    (``market.secret``: a round id alone would let anyone replay the shuffle) and inserted
    in that order, so ids and list order carry nothing; each bid's prices are dealt to its
    rows in that order too (under a rule that pays a bid's units differently, the first
    prices went to gold); and every row gets the same creation time. ``held`` (per bid)
    marks every assignment of a bid whose labels are held until its annotator's gold test
    ends (``market.quality.acceptance``)."""
    per_bid: dict[int, deque[int]] = {}
    for b, c in zip(unit_bid.tolist(), unit_cents.tolist(), strict=True):
        per_bid.setdefault(b, deque()).append(c)
    first_seen = {b: i for i, b in reversed(list(enumerate(unit_bid.tolist())))}
    order = sorted(per_bid, key=lambda b: (-bids[b].quality, first_seen[b]))
    assigned: list[Assignment] = []
    for b, gold_items in (gold or {}).items():
        for it in gold_items:
            if not per_bid.get(b):
                break
            assigned.append(Assignment(round_id=rnd.id, campaign_id=campaign.id, annotator_id=bids[b].annotator_id,
                                       item_id=it.id, price_cents=int(per_bid[b].popleft()),
                                       held=bool(held is not None and held[b])))
            bids[b].won_units += 1
            it.n_open += 1
    for it, need in zip(items, needs, strict=True):
        taken = set(prior.get(it.id, ()))
        for b in order:
            if need == 0:
                break
            queue = per_bid[b]
            ann = bids[b].annotator_id
            if not queue or ann in taken:
                continue
            price = queue.popleft()
            a = Assignment(
                round_id=rnd.id,
                campaign_id=campaign.id,
                annotator_id=ann,
                item_id=it.id,
                price_cents=int(price),
                held=bool(held is not None and held[b]),
            )
            assigned.append(a)
            taken.add(ann)
            bids[b].won_units += 1
            it.n_open += 1
            need -= 1
    if gold is not None:
        _conceal_gold(session, rnd, assigned)
    session.add_all(assigned)
    session.flush()
    unplaced = sum(len(q) for q in per_bid.values())
    return assigned, unplaced


def _conceal_gold(session: Session, rnd: Round, assigned: list[Assignment]) -> None:
    """Shuffle ``assigned`` in place (keyed), then deal each annotator's prices and one
    creation time over the shuffled rows (see :func:`_assign`)."""
    prices: dict[int, list[int]] = {}
    for a in assigned:
        prices.setdefault(a.annotator_id, []).append(a.price_cents)
    secret.rng(secret.key(session), "assignments", rnd.id).shuffle(assigned)
    now = clock.now()
    for a in assigned:
        a.price_cents = prices[a.annotator_id].pop(0)
        a.created_at = now


# --- settlement -----------------------------------------------------------------------


def _settle(session: Session, rnd: Round) -> None:
    """Release every open assignment of ``rnd`` and return its escrow, then pay or reject
    the campaign's held labels whose annotators' gold tests have ended
    (``market.quality.acceptance.settle_held``; locks held)."""
    from market.quality import acceptance

    open_ones = session.exec(
        select(Assignment).where(Assignment.round_id == rnd.id, Assignment.state == "open").with_for_update()
    ).all()
    released = 0
    for a in open_ones:
        a.state = "released"
        item = session.get(Item, a.item_id)
        item.n_open = max(0, item.n_open - 1)
        ledger.post_release(session, a)
        released += a.price_cents
    rnd.released_cents += released
    rnd.failures = 0
    rnd.state = "settled"
    rnd.settled_at = clock.now()
    session.flush()
    acceptance.settle_held(session, session.get(Campaign, rnd.campaign_id))


def settle_if_done(session: Session, rnd: Round) -> None:
    """Settle a round whose every assignment is labelled (nothing to release)."""
    still_open = session.exec(
        select(Assignment.id).where(Assignment.round_id == rnd.id, Assignment.state == "open")
    ).first()
    if still_open is None and rnd.state in ACTIVE:
        _settle(session, rnd)


def past_clearing_prices(session: Session, campaign_ids: list[int], limit: int = 10) -> dict[int, list[int]]:
    """The last ``limit`` clearing prices (cents) of each campaign, oldest first."""
    out: dict[int, list[int]] = {cid: [] for cid in campaign_ids}
    if not campaign_ids:
        return out
    rows = session.exec(
        select(Round.campaign_id, Round.clearing_price_cents)
        .where(col(Round.campaign_id).in_(campaign_ids), col(Round.clearing_price_cents).is_not(None))
        .order_by(col(Round.id).desc())
    ).all()
    for cid, price in rows:
        if len(out[cid]) < limit:
            out[cid].append(int(price))
    return {cid: list(reversed(v)) for cid, v in out.items()}
