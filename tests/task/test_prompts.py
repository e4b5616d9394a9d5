"""The embedded task's gold checks: the known answer is the one the demo's judge gives."""

from __future__ import annotations

import json
import math

from task import prompts as task


def test_gold_checks_are_answered_by_the_sentiment_judge_and_as_hard_as_clear_work():
    from task.judges import SentimentJudge

    rows = [json.loads(line) for line in task.gold_jsonl(200, seed=3).splitlines()]
    assert len(rows) == 200 and all(r["gold_check"] for r in rows)
    assert {r["gold"] for r in rows} == {"a", "b"}  # the warmer review is not always on one side
    judge = SentimentJudge()
    prompts = [r["prompt"] for r in rows]
    a = judge.score(prompts, [r["completion_a"] for r in rows])
    b = judge.score(prompts, [r["completion_b"] for r in rows])
    gaps = []
    for row, sa, sb in zip(rows, a, b, strict=True):
        assert ("a" if sa > sb else "b") == row["gold"]
        gaps.append(abs(sa - sb))
    # a careful reader (Bradley-Terry skill 3) gets 80-95% right, a hurried one (skill 1) about
    # two in three: the gold record tells them apart, as glowing-against-scathing pairs did not
    assert 0.1 < min(gaps) and max(gaps) < 1.2 and 0.5 < sorted(gaps)[len(gaps) // 2] < 0.8
    right = {skill: sum(1 / (1 + math.exp(-skill * g)) for g in gaps) / len(gaps) for skill in (1, 3)}
    assert 0.6 < right[1] < 0.72 and 0.83 < right[3] < 0.93


def test_gold_prompts_look_like_the_work():
    rows = [json.loads(line) for line in task.gold_jsonl(10).splitlines()]
    train = set(task.prompts("train"))
    assert all(r["prompt"] in train for r in rows)
    assert all(task.title_of(r["prompt"]) in r["completion_a"] for r in rows)
