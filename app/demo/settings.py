"""The demo's sizes, and why they are what they are.

Three presets. ``cpu`` is sized so that the whole job, model loads included, aims at 15
minutes on two CPU cores with the real default model (README, "The demo", has the measured
time). On a CPU everything torch does is dear: sampling a 24-token completion costs about
0.4 CPU seconds, one DPO step on 8 pairs about 15, so the levers are the completion length,
the labels bought (each costs training steps in three arms) and the prompts sampled at the
end (256 × four policies). The per-round metric is therefore held-out implicit-reward
accuracy (forward passes on ``heldout_pairs`` judge-labelled pairs), not a sampled win rate.
``gpu`` keeps bigger sizes (it has not been run on a GPU). ``quick`` is the smoke run the
tests use (with ``--model tiny``): every step happens, nothing is big.

What is compared (issue 17). The flagship campaign (``auction``: an auction rule and the
acquisition's items) against the usual way (``baseline``: a posted price and random items)
at equal spend, both on a pool ``pool_factor`` times what a campaign can buy (so the
acquisition decides what is bought), both trained the same way: each round continues the
policy on the new labels with Adam's state carried from the last round (one run of Adam
over the labels in the order they were bought, ``epochs`` passes over each round's
labels). At the end, each campaign's policy and a coin-flip control (the auction's pairs,
coin-flip answers, the same trainings) are sampled on the same ``eval_prompts`` held-out
prompts with the same sampling seeds (``eval_samples`` each) and judged against the
reference; the auction and the baseline are compared prompt by prompt (a paired interval).
The held-out prompts are drawn with the run's seed.

The truth. ``judge`` (``facets``: the judge that reads the prompt, ``docs/judges.md``) is
what the bots answer to, what labels the held-out pairs and what judges the final
comparison: a review wins by being about the film and aspect asked for, in a warm tone,
fluent and finished, not by gushing about any film.

Quality control. The population has ``spammers`` (20%) among its annotators. With
``quality`` on, vetting is its own phase (``vetting``: ``vet_rounds`` rounds of
``vet_round_size`` units on the flagship's pairs, mostly gold checks, everyone on
probation, its own budget line in the report), as a running market's annotators arrive
with track records; the flagship and the baseline then carry those records
(``gold_carry`` 1) and keep a steady share of gold checks, so their money buys training
labels (target: gold checks at most 25% of the flagship's spend). The demo judges at
confidence 0.8 (``run.QUALITY_CONTROL``): four right answers of four to qualify. A bot
delivers 3 to 6 labels a round (``bot_capacity``). ``twin`` adds the flagship again
without gold checks on the same pairs (an option: it costs a campaign's training and
teaches only what gold checks buy).

Money follows the annotator population's defaults (``bidders.population``: a label costs
an annotator $0.25 at the median): the round budget is sized so that the budget-feasible
rule can buy a round at the market's prices, and the campaign's budget is the round
budget times the rounds.

The baseline's posted price (``posted_price_cents``, ``prefmarket demo --posted-price-cents``)
is the one a requester sets in advance, before any auction has run: by default the median
private cost of the demo's bot population (``posted_price_cents`` below, on the costs in the
bots' roster), rounded up to a whole cent and capped at ``max_price_cents``; or the price the
user gives. It is never read off the auction's own prices after the fact, which would erase
the auction's price discovery by construction. The baseline spends what the auction it is
compared with spent, and buys what annotators accept at that price (its fill).

The settings are saved as ``settings.json`` in the run folder; a resumed run reads them
back, so it continues the run that was started rather than a different one.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from market.acquisition import DEFAULT as DEFAULT_ACQUISITION, METHODS as ACQUISITIONS, unknown_message
from market.campaign import known_rules
from market.money import usd

DEVICES = ("auto", "cpu", "cuda")
POOL_FACTOR = 4  # the pool holds at least this many times what a campaign can buy (issue 17 item 1)
JUDGES = ("facets", "sentiment")  # judges the bots, the held-out labels and the evaluation can all use


@dataclass(frozen=True)
class DemoSettings:
    preset: str
    budget_cents: int
    rounds: int
    pool: int  # pairs in the pool (sampled from the reference before the campaigns): >= pool_factor x rounds x round_size
    round_size: int  # items offered per round
    max_price_cents: int
    bots: int  # annotators in the population
    eval_prompts: int  # held-out prompts of the final paired evaluation
    max_new_tokens: int
    epochs: float  # DPO passes over each round's new labels (Adam's state carried between rounds)
    batch_size: int
    lr: float | None = None  # None: the worker's default (5e-4 LoRA, 5e-6 full)
    lora: bool = True
    rule: str = "budget_feasible"
    # random: at the linear fidelity none of the worker's methods beat it (docs/results.md,
    # `prefmarket experiment`), so the default follows what was measured
    acquisition: str = DEFAULT_ACQUISITION
    model: str | None = None  # None: the embedded SmolLM2 default; "tiny": the test model
    device: str = "cpu"
    seed: int = 0
    judge: str = "facets"  # the truth: the bots' answers, the held-out pairs' labels, the final judge
    eval_samples: int = 1  # completions per held-out prompt and policy at the end (seeds seed+1234+j)
    heldout_pairs: int = 48  # judge-labelled held-out pairs for the per-round implicit-reward accuracy
    quality: bool = True  # a vetting phase, then gold checks at a steady share with the records carried
    twin: bool = False  # also the flagship without gold checks, on the same pairs
    spammers: float = 0.2  # share of spammers among the bots
    bot_capacity: str = "3-6"  # labels a bot can deliver per round, MIN-MAX (prefmarket bots --capacity)
    gold_items: int = 40
    min_gold_answers: int = 3  # gold answers before an annotator can leave probation
    vet_rounds: int = 3  # the vetting phase's rounds
    # units a vetting round buys (mostly gold checks while everyone is on probation): enough that
    # every bot, not only the cheapest, sells some (in a CPU run, rounds of 32 gave 8 of 20 bots none)
    vet_round_size: int = 60
    vet_budget_cents: int = 6_000
    posted_price_cents: int | None = None  # the baseline's price; None: the bots' median cost (posted_price_cents())

    @property
    def round_budget_cents(self) -> int:
        return max(1, self.budget_cents // self.rounds)

    def check(self) -> DemoSettings:
        rules = known_rules()
        if self.rule not in rules:
            raise ValueError(f"--rule: unknown rule {self.rule!r}; choose one of {', '.join(rules)}")
        if self.acquisition not in ACQUISITIONS:
            raise ValueError(f"--acquisition: {unknown_message(self.acquisition)}")
        if self.device not in DEVICES[1:]:
            raise ValueError(f"--device: choose one of {', '.join(DEVICES)}")
        if self.rounds < 1:
            raise ValueError("--rounds: at least 1")
        if self.round_budget_cents < self.max_price_cents:
            raise ValueError(f"--budget: {usd(self.budget_cents)} over {self.rounds} rounds leaves less than one "
                             f"label's maximum price ({usd(self.max_price_cents)}) per round")
        if not 0 <= self.spammers < 1:
            raise ValueError("--spammers: a share in [0, 1)")
        if self.twin and not self.quality:
            raise ValueError("--twin: the twin is the flagship without gold checks; drop --no-quality")
        if self.eval_prompts < 2 or self.eval_samples < 1:
            raise ValueError("eval_prompts: at least 2 held-out prompts, eval_samples at least 1")
        if self.heldout_pairs < 2:
            raise ValueError("heldout_pairs: at least 2 judge-labelled held-out pairs")
        if self.judge not in JUDGES:
            raise ValueError(f"judge: choose one of {', '.join(JUDGES)}")
        if self.quality and self.gold_items < self.min_gold_answers:
            raise ValueError("gold_items: at least min_gold_answers gold checks are needed to judge anyone")
        if self.posted_price_cents is not None and not 1 <= self.posted_price_cents <= self.max_price_cents:
            raise ValueError(f"--posted-price-cents: {self.posted_price_cents} is outside 1 to {self.max_price_cents} "
                             f"(the campaigns' maximum price, {usd(self.max_price_cents)})")
        if self.pool < POOL_FACTOR * self.rounds * self.round_size:
            raise ValueError(f"the pool ({self.pool} pairs) must hold at least {POOL_FACTOR} times what a campaign "
                             f"can buy ({self.rounds} rounds of {self.round_size}), so that the acquisition "
                             "decides what is bought")
        return self

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> DemoSettings:
        data = json.loads(path.read_text())
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def posted_price_cents(costs_dollars, cap_cents: int) -> int:
    """The posted price a requester would set in advance: the median of the annotators'
    private costs per label (dollars), rounded up to a whole cent, at least 1 and at most
    ``cap_cents``. Rounding up means an annotator whose cost is the median accepts it (a
    bot's ask is its cost rounded up the same way)."""
    costs = [float(c) for c in costs_dollars]
    if not costs:
        raise ValueError("posted_price_cents: no annotator costs to take the median of")
    if cap_cents < 1:
        raise ValueError(f"posted_price_cents: the cap must be at least 1 cent, not {cap_cents}")
    cents = math.ceil(100.0 * statistics.median(costs) - 1e-9)  # 0.07 * 100 is 7.000000000000001
    return min(cap_cents, max(1, cents))


# cpu: measured on two shared CPU cores with SmolLM2-135M and one torch thread (README, "The demo").
PRESETS: dict[str, DemoSettings] = {
    # three rounds of 14, not four of 10, and 32 held-out pairs, not 48: the same labels and
    # training with fewer fixed costs (each round pays a held-out pass, a trainer start and its
    # bidding and labelling besides its labels), for the 15-minute target (README, "The demo")
    "cpu": DemoSettings(preset="cpu", budget_cents=1_500, rounds=3, pool=168, round_size=14, max_price_cents=60,
                        bots=20, eval_prompts=256, max_new_tokens=24, epochs=2.0, batch_size=8, lr=5e-4,
                        heldout_pairs=32),
    "gpu": DemoSettings(preset="gpu", budget_cents=40_000, rounds=8, pool=3_200, round_size=100, max_price_cents=60,
                        bots=120, eval_prompts=1_024, max_new_tokens=48, epochs=2.0, batch_size=16, gold_items=100,
                        eval_samples=4, heldout_pairs=512, vet_rounds=3, vet_round_size=200, vet_budget_cents=15_000),
    # quick: with gold as hard as the work a careful reader needs four or more answers to
    # qualify, so the vetting phase's rounds are big enough for every bot to take four.
    "quick": DemoSettings(preset="quick", budget_cents=1_200, rounds=3, pool=72, round_size=6, max_price_cents=100,
                          bots=10, eval_prompts=8, max_new_tokens=8, epochs=1.0, batch_size=4, gold_items=12,
                          min_gold_answers=2, heldout_pairs=6, vet_rounds=2, vet_round_size=24,
                          vet_budget_cents=2_000),
}


def choose(*, quick: bool, device: str, budget: float | None = None, rounds: int | None = None, **given) -> DemoSettings:
    """The preset for this device (or ``quick``), with the options the user gave over it.

    A budget given without rounds keeps the preset's rounds; rounds given without a
    budget keep the preset's round budget (so more rounds buy more labels)."""
    base = PRESETS["quick" if quick else "gpu" if device == "cuda" else "cpu"]
    changes = {k: v for k, v in given.items() if v is not None}
    if rounds is not None:
        changes["rounds"] = rounds
        if budget is None:
            changes["budget_cents"] = base.round_budget_cents * rounds
        changes["pool"] = max(base.pool, POOL_FACTOR * rounds * base.round_size)
    if budget is not None:
        changes["budget_cents"] = round(budget * 100)
    return replace(base, device=device, **changes).check()
