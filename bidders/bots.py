"""Annotator bots: simulated annotators that work the live market through its HTTP API.

A bot is one annotator of a ``Population`` (cost, skill, kind, capacity) with a bidding
strategy. Each ``step`` it does what a person at the portal would: learn from rounds that
have closed (what it won and at what price), bid on open rounds it has not bid on, and
label its open assignments. All through ``market.client.MarketClient``, with its own
token; nothing here touches the database. Used by the demo and by load tests.

Labels follow ``bidders.labels``: Bradley–Terry on a judge's score difference between
the two completions, with the bot's skill; spammers answer at random, adversaries flip.
A bot's draw for a label is keyed on the pair it reads (``pair_key``), not taken from
the stream its bids use: the same bot answers the same pair the same way in every
campaign and every run of a seed, whatever it bid or won before. So a demo's campaigns
on the same pairs (the auction and its twin without gold checks) face the same answers
from the same annotators (common random numbers: the comparison is paired), and a run
repeated with one more campaign at the end replays the first ones.
The default judge is a small sentiment lexicon (the demo's task is positive movie
reviews); pass the policy's judge for anything else.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bidders.labels import KINDS, label_bradley_terry
from bidders.population import Population
from bidders.strategies import Learner, Markup, Strategy, StrategyConfig, Truthful, assign_strategies
from market.client import MarketClient

Judge = Callable[[str, str], float]  # (prompt, completion) -> score; higher is better

_POSITIVE = frozenset("""amazing beautiful best brilliant captivating charming delightful enjoy
enjoyable excellent fantastic fun funny gorgeous great good happy joy love loved lovely
masterpiece moving perfect powerful remarkable stunning superb terrific thrilling
touching warm wonderful""".split())
_NEGATIVE = frozenset("""awful bad boring dull hate hated horrible lifeless mediocre mess
poor sad slow terrible tedious ugly unwatchable waste weak worst""".split())


def word_judge(prompt: str, completion: str) -> float:
    """Positive minus negative words: a crude sentiment judge needing no model."""
    words = re.findall(r"[a-z]+", completion.lower())
    return float(sum(w in _POSITIVE for w in words) - sum(w in _NEGATIVE for w in words))


@dataclass(frozen=True)
class Persona:
    """One simulated annotator, from a row of a ``Population`` (cost in dollars)."""

    cost: float
    skill: float
    kind: int
    capacity: int

    @property
    def cost_cents(self) -> float:
        return 100.0 * self.cost


class AnnotatorBot:
    def __init__(self, client: MarketClient, persona: Persona, strategy: Strategy,
                 rng: np.random.Generator, judge: Judge = word_judge):
        self.client = client
        self.persona = persona
        self.strategy = strategy
        self.rng = rng
        self.label_seed = int(rng.integers(2**63))  # the key of this bot's label draws (see the module doc)
        self.judge = judge
        self.pending: set[int] = set()  # rounds bid on whose outcome is not yet learned
        self.bid_on: set[int] = set()  # rounds seen open (bid on, or skipped as too cheap)
        self.profit_cents: list[float] = []  # one entry per round learned from

    def ask_cents(self, max_price_cents: int) -> int:
        """This round's ask: cost times the strategy's markup, rounded up to whole cents and
        capped at the round's maximum price (the market refuses asks above it)."""
        markup = float(self.strategy.markups(np.array([True]), self.rng)[0])
        ask = max(1, math.ceil(self.persona.cost_cents * (1.0 + markup) - 1e-9))
        return min(ask, max_price_cents)

    def bid(self) -> list[int]:
        """Bid on every open round not seen yet whose maximum price covers the bot's cost;
        returns the ids bid on."""
        placed = []
        for rnd in self.client.list_rounds(state="open"):
            if rnd["id"] in self.bid_on:
                continue
            self.bid_on.add(rnd["id"])
            if self.persona.cost_cents > rnd["max_price_cents"]:
                continue  # every winning price would be below cost
            self.client.place_bid(rnd["id"], self.ask_cents(rnd["max_price_cents"]), self.persona.capacity)
            self.pending.add(rnd["id"])
            placed.append(rnd["id"])
        return placed

    def label(self) -> int:
        """Label every open assignment; returns how many. Retries are safe (idempotency key)."""
        done = 0
        for a in self.client.my_assignments(state="open"):
            diff = self.judge(a["prompt"], a["completion_a"] or "") - self.judge(a["prompt"], a["completion_b"] or "")
            draw = np.random.default_rng([self.label_seed, pair_key(a["prompt"], a["completion_a"], a["completion_b"])])
            chose_a = label_bradley_terry(np.array([diff]), self.persona.skill, self.persona.kind, draw)[0]
            self.client.submit_label(a["id"], "a" if chose_a else "b", key=f"bot-assignment-{a['id']}")
            done += 1
        return done

    def learn(self) -> int:
        """Feed the strategy each closed round's profit (price of units won minus cost)."""
        closed = [rid for rid in sorted(self.pending) if self.client.get_round(rid)["state"] != "open"]
        if not closed:
            return 0
        won: dict[int, list[int]] = defaultdict(list)
        for a in self.client.my_assignments():
            won[a["round_id"]].append(a["price_cents"])
        for rid in closed:
            profit = sum(won[rid]) - self.persona.cost_cents * len(won[rid])
            self.strategy.learn(np.array([True]), np.array([profit]),
                                np.array([self.persona.cost_cents]), np.array([self.persona.capacity]))
            self.profit_cents.append(profit)
            self.pending.discard(rid)
        return len(closed)

    def step(self) -> dict[str, int]:
        """One visit to the market: learn, then bid, then label."""
        return {"learned": self.learn(), "bids": len(self.bid()), "labels": self.label()}


def pair_key(prompt: str, completion_a: str | None, completion_b: str | None) -> int:
    """A number fixed by the pair as shown (sides included), for keying a label's draw."""
    return zlib.crc32("\0".join((prompt, completion_a or "", completion_b or "")).encode())


def _solo(group: Strategy, cfg: StrategyConfig) -> Strategy:
    """A one-annotator copy of a strategy group (each bot learns on its own)."""
    one = np.array([0])
    if isinstance(group, Learner):
        return Learner(one, cfg.learning)
    if isinstance(group, Markup):
        return Markup(one, cfg.markup_rate)
    return Truthful(one)


def register_bots(admin: MarketClient, population: Population, strategies: StrategyConfig,
                  rng: np.random.Generator, *, prefix: str = "bot", judge: Judge = word_judge) -> list[AnnotatorBot]:
    """Create one annotator account per member of ``population`` and its bot.

    ``admin`` is a client holding an admin token; each bot gets its own client (same
    connection pool) with its own token.
    """
    groups = assign_strategies(strategies, population.size, rng)
    strategy_of = {int(i): g for g in groups for i in g.members}
    bots = []
    for i in range(population.size):
        account = admin.create_account(f"{prefix}-{i}-{KINDS[population.kind[i]]}", "annotator")
        persona = Persona(cost=float(population.cost[i]), skill=float(population.skill[i]),
                          kind=int(population.kind[i]), capacity=int(population.capacity[i]))
        bots.append(AnnotatorBot(admin.with_token(account["token"]), persona,
                                 _solo(strategy_of[i], strategies), np.random.default_rng(rng.integers(2**63)),
                                 judge))
    return bots


def run_bots(bots: list[AnnotatorBot], steps: int = 1) -> dict[str, int]:
    """Step every bot ``steps`` times (in turn); returns the totals of what they did."""
    totals: dict[str, int] = defaultdict(int)
    for _ in range(steps):
        for bot in bots:
            for key, n in bot.step().items():
                totals[key] += n
    return dict(totals)
