"""Who may read which round, and how much of it.

- an admin reads every round in full;
- a requester, or a campaign's worker, reads the rounds of the campaigns it may read
  (``market.campaign.can_read``: its own, or those that name it as worker), in full;
- an annotator reads only the public terms (``RoundTermsOut``: rule, demand, price cap,
  deadlines) of the rounds open for bidding and of the rounds it took part in (a bid or
  an assignment), with past clearing prices by rule across the market: what the portal's
  bid preview and the bots need, and no campaign name, budget, item id or money.

Any other round answers 404, as a missing one does, so its existence is not confirmed.
"""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from market.errors import NotFound
from market.tables import Account, Assignment, Bid, Campaign, Round

PAST_PRICES = 10  # clearing prices shown per campaign (full view) or per rule (terms)


def full_view(account: Account) -> bool:
    """Whether this account sees rounds in full (else only their public terms)."""
    return account.role != "annotator"


def readable(stmt: SelectOfScalar, account: Account) -> SelectOfScalar:
    """``stmt`` (a ``select(Round)``) narrowed to the rounds ``account`` may read."""
    if account.role == "admin":
        return stmt
    if account.role == "annotator":
        took_part = or_(
            col(Round.id).in_(select(Bid.round_id).where(Bid.annotator_id == account.id)),
            col(Round.id).in_(select(Assignment.round_id).where(Assignment.annotator_id == account.id)),
        )
        return stmt.where(or_(Round.state == "open", took_part))
    return stmt.join(Campaign, col(Campaign.id) == Round.campaign_id).where(
        or_(Campaign.owner_id == account.id, Campaign.worker_id == account.id))


def get_readable(session: Session, account: Account, round_id: int) -> Round:
    """The round if ``account`` may read it; 404 otherwise (whether or not it exists)."""
    rnd = session.exec(readable(select(Round).where(Round.id == round_id), account)).first()
    if rnd is None:
        raise NotFound(f"round {round_id} not found")
    return rnd


def past_prices_by_rule(session: Session, rules: list[str], limit: int = PAST_PRICES) -> dict[str, list[int]]:
    """The last ``limit`` clearing prices (cents) of rounds under each rule, market-wide, oldest first."""
    out: dict[str, list[int]] = {rule: [] for rule in rules}
    for rule in out:
        prices = session.exec(
            select(Round.clearing_price_cents)
            .where(Round.rule == rule, col(Round.clearing_price_cents).is_not(None))
            .order_by(col(Round.id).desc()).limit(limit)
        ).all()
        out[rule] = [int(p) for p in reversed(prices)]
    return out
