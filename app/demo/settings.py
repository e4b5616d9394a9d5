"""The demo's sizes, and why they are what they are.

Three presets. ``cpu`` is sized so that the whole job (three campaigns, the real default
model) fits in about 25 minutes on two shared CPU cores: generation dominates (the pool's pairs once,
then the held-out completions after every round), so the pool, the number of held-out
prompts and the completion length are the levers; DPO on a round's labels with LoRA is a
few seconds. ``gpu`` spends the same wall time on a bigger budget. ``quick`` is the smoke
run the tests use (with ``--model tiny``): every step happens, nothing is big.

Quality control. The population has ``spammers`` (20%) among its annotators, and the
auction campaign checks its annotators with ``gold_items`` gold checks (two reviews a notch
apart in tone, ``task.prompts.GOLD_PAIRS``, mixed in unmarked); everyone starts on probation, so the first
round or two buy mostly gold. With ``quality`` on, a twin of the auction campaign runs
without gold checks on the same pairs, budget and bots, so the report can say what quality
control bought: spammers' share of paid labels, and win rate per dollar. The demo judges
at confidence 0.8 (``run.QUALITY_CONTROL``): four right answers of four to qualify, so a
random clicker gets through probation one time in sixteen (at 0.7, three of three let one
in one time in eight, and in a CPU run one did). A bot delivers 3 to 6 labels a round
(``bot_capacity``; the population's default is 1 to 3): a round is a sitting, reading two
short completions takes a minute, and an annotator admitted to probation can then answer
its four gold checks in one round, so probation takes the first round or two rather than
most of a five-round campaign.

Money follows the annotator population's defaults (``bidders.population``: a label costs
an annotator $0.25 at the median): the round budget is sized so that the budget-feasible
rule can buy most of a round at the market's prices, and the campaign's budget is the
round budget times the rounds.

The baseline's posted price (``posted_price_cents``, ``prefmarket demo --posted-price-cents``)
is the one a requester sets in advance, before any auction has run: by default the median
private cost of the demo's bot population (``posted_price_cents`` below, on the costs in the
bots' roster), rounded up to a whole cent and capped at ``max_price_cents``; or the price the
user gives. It is never read off the auction's own prices after the fact, which would erase
the auction's price discovery by construction. The baseline spends what the auction it is
compared with spent, and buys what annotators accept at that price (its fill).

Vetting once (``vet_once``, ``prefmarket demo --vet-once``). Vetting 20 bots at 8 to 20
gold answers each costs more gold checks than a five-round campaign of 80 units can spare,
so the gold campaign buys few training labels. A requester pays for vetting once, not in
every campaign (``gold_carry``): with ``vet_once`` the demo runs the auction a second time
on the same pairs with new gold items, carrying the first campaign's gold records, and the
report sets that campaign (``vetted``) beside the twin without gold checks. About a fifth
more wall time.

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


@dataclass(frozen=True)
class DemoSettings:
    preset: str
    budget_cents: int
    rounds: int
    pool: int  # training prompts uploaded (the worker samples a pair for each)
    round_size: int  # items offered per round
    max_price_cents: int
    bots: int  # annotators in the population
    eval_prompts: int  # held-out prompts per evaluation (the win rate's n)
    max_new_tokens: int
    epochs: float  # DPO epochs over each round's labels
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
    quality: bool = True  # gold checks in the auction campaign, and a twin campaign without them
    spammers: float = 0.2  # share of spammers among the bots
    bot_capacity: str = "3-6"  # labels a bot can deliver per round, MIN-MAX (prefmarket bots --capacity)
    gold_items: int = 40
    min_gold_answers: int = 3  # gold answers before an annotator can leave probation
    vet_once: bool = False  # with quality: the auction again, carrying its gold records (gold_carry 1)
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
        if self.vet_once and not self.quality:
            raise ValueError("--vet-once: needs gold checks to carry; drop --no-quality")
        if self.quality and self.gold_items < self.min_gold_answers:
            raise ValueError("gold_items: at least min_gold_answers gold checks are needed to judge anyone")
        if self.posted_price_cents is not None and not 1 <= self.posted_price_cents <= self.max_price_cents:
            raise ValueError(f"--posted-price-cents: {self.posted_price_cents} is outside 1 to {self.max_price_cents} "
                             f"(the campaigns' maximum price, {usd(self.max_price_cents)})")
        if self.pool < self.round_size:
            raise ValueError("the pool must hold at least one round's items")
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
    "cpu": DemoSettings(preset="cpu", budget_cents=4_000, rounds=5, pool=80, round_size=16, max_price_cents=60,
                        bots=20, eval_prompts=64, max_new_tokens=32, epochs=1.0, batch_size=8, lr=1e-3),
    "gpu": DemoSettings(preset="gpu", budget_cents=40_000, rounds=8, pool=1_200, round_size=100, max_price_cents=60,
                        bots=120, eval_prompts=512, max_new_tokens=48, epochs=2.0, batch_size=16, gold_items=100),
    # quick: five rounds, because with gold as hard as the work a careful reader needs four
    # or more answers to qualify, and the smoke run must still buy training labels after that.
    "quick": DemoSettings(preset="quick", budget_cents=1_500, rounds=5, pool=30, round_size=6, max_price_cents=100,
                          bots=10, eval_prompts=8, max_new_tokens=8, epochs=1.0, batch_size=4, gold_items=12,
                          min_gold_answers=2),
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
        changes["pool"] = max(base.pool, math.ceil(1.5 * rounds * base.round_size))
    if budget is not None:
        changes["budget_cents"] = round(budget * 100)
    return replace(base, device=device, **changes).check()
