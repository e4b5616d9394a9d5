"""The embedded task's gold checks: the known answer is the one the demo's judge gives."""

from __future__ import annotations

import json

from policy import task


def test_gold_checks_are_answered_by_the_sentiment_judge_with_a_wide_margin():
    from policy.judges import SentimentJudge

    rows = [json.loads(line) for line in task.gold_jsonl(30, seed=3).splitlines()]
    assert len(rows) == 30 and all(r["gold_check"] for r in rows)
    assert {r["gold"] for r in rows} == {"a", "b"}  # the praise is not always on one side
    judge = SentimentJudge()
    prompts = [r["prompt"] for r in rows]
    a = judge.score(prompts, [r["completion_a"] for r in rows])
    b = judge.score(prompts, [r["completion_b"] for r in rows])
    for row, sa, sb in zip(rows, a, b, strict=True):
        assert ("a" if sa > sb else "b") == row["gold"]
        assert abs(sa - sb) > 1.0  # a diligent annotator cannot get it wrong by a hair


def test_gold_prompts_look_like_the_work():
    rows = [json.loads(line) for line in task.gold_jsonl(10).splitlines()]
    train = set(task.prompts("train"))
    assert all(r["prompt"] in train for r in rows)
    assert all(task.title_of(r["prompt"]) in r["completion_a"] for r in rows)
