"""The demo's model steps, the parts that need no model: held-out prompts, judge labels, coin flips."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from app.demo.paired import EVAL_BLOCKS, _wanted, blocks, coin_flipped, held_out_prompts, judge_labelled
from app.demo.settings import PRESETS
from policy.train import PreferencePair
from task import prompts as task


def test_held_out_prompts_are_disjoint_unseen_and_change_with_the_seed():
    s = PRESETS["cpu"]
    final, pairs = held_out_prompts(s)
    assert len(final) == s.eval_prompts >= 256 and len(pairs) == s.heldout_pairs
    assert not set(final) & set(pairs)  # the held-out pairs never share a prompt with the final comparison
    assert not (set(final) | set(pairs)) & set(task.prompts("train"))  # titles never trained on
    other, _ = held_out_prompts(replace(s, seed=1))
    assert other != final and held_out_prompts(s) == (final, pairs)  # the seed draws them, reproducibly


class LengthJudge:
    def compare(self, prompts, a, b):
        return np.array([1.0 if len(x) > len(y) else 0.0 if len(x) < len(y) else 0.5 for x, y in zip(a, b)])


def test_held_out_pairs_take_the_judges_side_and_drop_ties():
    rows = judge_labelled(["p1", "p2", "p3"], ["long reply", "s", "same"], ["short", "longer", "also"], LengthJudge())
    assert rows == [{"prompt": "p1", "chosen": "long reply", "rejected": "short"},
                    {"prompt": "p2", "chosen": "longer", "rejected": "s"}]


def test_the_coin_flip_control_keeps_pairs_trainings_and_weights_and_flips_answers_at_random():
    batches = [[PreferencePair(f"p{k}-{i}", f"good {i}", f"bad {i}", weight=1 + i / 100, soft_label=0.9)
                for i in range(50)] for k in range(4)]
    flipped = coin_flipped(batches, seed=0)
    assert [len(b) for b in flipped] == [len(b) for b in batches]  # the same trainings, the same sizes
    for mine, theirs in zip(flipped, batches):
        for f, p in zip(mine, theirs):
            assert (f.prompt, {f.chosen, f.rejected}, f.weight, f.soft_label) == \
                (p.prompt, {p.chosen, p.rejected}, p.weight, p.soft_label)
    turned = [f.chosen != p.chosen for mine, theirs in zip(flipped, batches) for f, p in zip(mine, theirs)]
    assert 70 < sum(turned) < 130  # a fair coin on 200 answers (outside this band: p < 0.002)
    assert coin_flipped(batches, seed=0) == flipped and coin_flipped(batches, seed=1) != flipped


def test_the_final_prompts_split_into_blocks_that_cover_them_in_order():
    for n in (1, 7, 256, 257):
        prompts = [f"p{i}" for i in range(n)]
        parts = blocks(prompts)
        assert len(parts) == EVAL_BLOCKS and sum(parts, []) == prompts  # the judge rejoins them in order
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # two blocks on two cores end together


def test_a_sample_step_names_whole_policies_or_single_blocks():
    assert _wanted(["reference", "baseline:2"]) == [("reference", 1), ("reference", 2), ("baseline", 2)]
