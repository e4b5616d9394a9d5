"""An annotator's accuracy as a Beta posterior over gold answers, and what follows from it.

Model (one coin per annotator, as in one-coin Dawid–Skene): each gold answer is right
with the annotator's accuracy θ, whatever the item. With a ``Beta(α0, β0)`` prior, after
``n`` gold answers earning credit ``c`` the posterior is ``Beta(α0 + c, β0 + n − c)``.
A right answer earns 1, a wrong one 0, and a tie on a gold pair 0.5: gold pairs have a
clear answer, so "tie" is worth a coin flip, no more and no less (an always-tie account
scores exactly like a random clicker).

Prior ``Beta(2, 1)``: a newcomer is presumed better than chance (mean 2/3, so q = 1/3:
trusted a little, below any proven annotator) and the prior weighs as much as three
answers, so a handful of gold answers outweighs it.

Quality for the auction: ``q = 2θ − 1`` floored at ``QUALITY_FLOOR`` and capped at 1. For
a binary label that is right with probability θ, ``2θ − 1`` is its correlation with the
truth (the expected product of ±1 label and ±1 truth), so dividing an ask by q prices a
unit of information rather than a click: a spammer (θ = 1/2) carries none and an
adversary (θ < 1/2) would have to be flipped to be of use; both sit at the floor, where
their effective ask is 20 times their ask. The floor keeps q inside (0, 1] as the
mechanisms require.

Judgement, a sequential test against the campaign's bar: once it has ``min_gold`` gold
answers, an annotator is *below the bar* when ``P(θ < bar | answers) ≥ confidence`` and
*qualified* when ``P(θ < bar | answers) ≤ (1 − confidence) / PASS_STRICTNESS``; before
that, and whenever the evidence is not decisive either way, it is *on probation*
(``mixing``: half its work is gold checks, and its labels are held, unpaid and not
exported, until the test ends, ``acceptance``; a qualified annotator whose record
wobbles is checked closely again). Qualifying takes
positive evidence, and more of it than rejecting, because the two mistakes cost
differently: a random clicker qualified by a lucky run is cheap, wins much work and is
then checked only at the campaign's gold rate, while a careful reader left on probation
a little longer only answers a few more checks. At bar 0.65 and confidence 0.8 it takes 4
right of 4, 6 of 6, 7 of 8, 8 of 9, 9 of 10 ... to qualify, and 1 right of 4, 2 of 6, 3 of
8 ... fail. Probation ends after ``PROBATION_LIMIT × min_gold`` answers, so a borderline
reader does not do paid gold checks forever: an annotator the test still cannot place is
then *below the bar* if its posterior mean is, and otherwise *provisional*. The limit is
long (24 answers at 3 before judging) because an undecided record at a dozen answers is
what a lucky random clicker looks like: in a CPU demo run one got 9 of its first 12 right
and, let in at a limit of 12, sold 6 of the campaign's 17 training labels while its record
stayed above the bar (13 of 18); kept on probation its labels are held, and rejected
once the test fails (``acceptance``).

*Provisional* is a short leash: the annotator's labels are accepted, but half its work
stays gold checks (``mixing.UNPROVEN_RATE``) rather than the campaign's rate. It
applies to the undecided at the probation limit, and to every annotator that passed the
test with fewer than ``LEASH × min_gold`` answers, who is *qualified* (checked at the
campaign's rate) only once its record holds that many. Why: a random clicker that passes
on a lucky run (4 right of 4 has odds of 1 in 16) needs a wrong gold answer to be sent
back to probation, and at a gold rate of 0.1 it sells about 18 labels before one comes,
more than a small campaign buys in a round; on the leash it sells about 2. A careful
reader, which passes after about 8 answers, pays for it with the rest of its ``LEASH ×
min_gold`` checks at half its work, once per campaign. Without a bar, every annotator
with ``min_gold`` answers is qualified: the campaign measures, it does not judge.

What this does at bar 0.65, confidence 0.8 and 4 answers (``tests/quality/test_skill.py``
checks it exactly, over every sequence of answers): within 40 gold answers, 98.6% of
random clickers (θ = 0.5) end below the bar, half of them within 5 answers and 71% within
12, and 9% pass on a lucky run before that (and are caught on the leash); 88% of
adversaries (θ = 0.16) are below it within 4 answers and 99.9% within 12; a careful reader
(θ = 0.84) passes 95% of the time and ends below the bar 4% of the time, a reader at θ =
0.8 10% of the time, at θ = 0.75 23%, a diligent one (θ = 0.9) 1%. (With the probation
limit at 4 × min_gold these were 99%, 94%, 7%, 15%, a third and 1%: the long limit keeps
the undecided on gold checks instead of judging them by their mean.) Confidence 0.9 would
cut the careful readers' risk to 1% but let random clickers last
about three times longer (half within 14 answers), which in the simulator costs more than
it saves (``bench/bench_quality.py``). A credible bound rather than the posterior mean,
because the test is repeated after every answer: judging by the mean from the 4th answer
on would exclude one careful reader in four.

Rejection is about as fast as a gold record allows. Wald's sequential probability ratio
test of chance (θ = 1/2) against θ = 0.8, the test that needs the fewest answers on
average, takes 8 or 9 answers on average to catch a random clicker at the same 15% risk
to a reader right 80% of the time (this test: 9 or 10), because one answer tells the two
apart by only 0.22 nats; tuned to reject sooner it rejects more careful readers, and
added to this test with its risk bounded by 10% it would only reject 3 wrong answers of
3 one answer earlier. What keeps spammers' paid labels down in a market is rather *who* gets
gold checks while on probation: ``mixing.probation_lottery`` puts annotators whose record
has fallen below the prior's behind everyone else.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaincinv

PRIOR_ALPHA = 2.0
PRIOR_BETA = 1.0
QUALITY_FLOOR = 0.05
PROBATION_LIMIT = 8  # probation ends after this many times min_gold answers
LEASH = 4  # an annotator that passed is provisional until it has this many times min_gold answers
PASS_STRICTNESS = 2  # qualifying leaves half the doubt that rejecting does

PROBATION = "probation"
PROVISIONAL = "provisional"
QUALIFIED = "qualified"
BELOW_BAR = "below_bar"
STATUSES = (PROBATION, PROVISIONAL, QUALIFIED, BELOW_BAR)


def gold_credit(choice: str, answer: str) -> float:
    """Credit for answering ``choice`` on a gold item whose answer is ``answer`` (a or b)."""
    if choice == answer:
        return 1.0
    return 0.5 if choice == "tie" else 0.0


def posterior(credit, answers, prior: tuple[float, float] = (PRIOR_ALPHA, PRIOR_BETA)):
    """``(alpha, beta)`` after ``answers`` gold answers that earned ``credit`` in total."""
    credit = np.asarray(credit, dtype=float)
    answers = np.asarray(answers, dtype=float)
    return prior[0] + credit, prior[1] + answers - credit


def accuracy(alpha, beta):
    """Posterior mean accuracy ``α / (α + β)``."""
    alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)
    return alpha / (alpha + beta)


def prob_below(alpha, beta, bar: float):
    """``P(θ < bar)`` under ``Beta(alpha, beta)`` (the regularised incomplete beta)."""
    return betainc(np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float), bar)


def credible_interval(alpha, beta, level: float = 0.9):
    """Equal-tailed credible interval ``(low, high)`` of the accuracy."""
    tail = (1.0 - level) / 2.0
    return betaincinv(alpha, beta, tail), betaincinv(alpha, beta, 1.0 - tail)


def quality_from_accuracy(acc, floor: float = QUALITY_FLOOR):
    """The auction's quality ``q = 2·acc − 1``, clipped into ``[floor, 1]``."""
    return np.clip(2.0 * np.asarray(acc, dtype=float) - 1.0, floor, 1.0)


def held_outcome(status, expired=False, by_mean=True):
    """What becomes of the labels held while an annotator was on probation, given its
    status now (``judge``): paid (True) once it is provisional or qualified, rejected
    (False) once below the bar, still held (None) while the test goes on, unless the
    hold has ``expired`` (``limits.HOLD_LIMIT_S``): then ``by_mean`` decides (the
    caller's verdict on the evidence so far: ``acceptance.settle_held`` asks for an
    exam's worth of answers whose posterior mean is at or above the bar), so an account
    that stops mid-test leaves no escrow held for ever. Elementwise."""
    status = np.asarray(status)
    pending = np.where(np.asarray(expired), np.asarray(by_mean, dtype=bool).astype(object), None)
    return np.where(status == BELOW_BAR, False, np.where(status == PROBATION, pending, True))


def judge(alpha, beta, answers, *, min_gold: int, bar: float | None, confidence: float):
    """Status of each annotator: probation, provisional, qualified or below the bar (array of str)."""
    answers = np.asarray(answers)
    shape = np.broadcast_shapes(np.shape(alpha), np.shape(beta), answers.shape)
    enough = np.broadcast_to(answers >= min_gold, shape)
    if bar is None:
        return np.where(enough, QUALIFIED, PROBATION)
    below = prob_below(alpha, beta, bar)
    settled = np.broadcast_to(answers >= PROBATION_LIMIT * min_gold, shape)
    by_mean = accuracy(alpha, beta) >= bar
    passed = np.where(np.broadcast_to(answers >= LEASH * min_gold, shape), QUALIFIED, PROVISIONAL)
    return np.where(enough & (below >= confidence), BELOW_BAR,
                    np.where(enough & (below <= (1.0 - confidence) / PASS_STRICTNESS), passed,
                             np.where(settled, np.where(by_mean, PROVISIONAL, BELOW_BAR), PROBATION)))
