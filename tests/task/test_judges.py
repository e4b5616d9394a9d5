"""Judges: the sentiment judge and its penalties, the facet Bradley–Terry model, the HTTP judge."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from task.judges import (
    FACETS,
    FacetRewardModel,
    OpenAIJudge,
    SentimentJudge,
    facet_matrix,
    make_judge,
    outcomes_from_scores,
    repetition,
)
from task.prompts import prompts


def test_sentiment_judge_prefers_positive_clean_reviews():
    j = SentimentJudge()
    p = ["Review the film."] * 4
    good = "A wonderful, moving film with brilliant acting."
    assert list(j.compare(p, [good, good, good, "Dull."], ["Boring and awful.", "", "great " * 12, "Dull."])) == [1, 1, 1, 0.5]


def test_degenerate_text_is_penalised():
    j = SentimentJudge()
    s = j.score(["p"] * 4, ["", "!!! ...", "great great great great great great", "great film, really great acting"])
    assert s[0] == s[1] == -2.0  # no words at all
    assert s[2] < s[3]
    assert repetition("a b c a b c a b c") > 0.5 and repetition("one two three four") == 0.0


def test_outcomes_count_ties_as_half():
    np.testing.assert_array_equal(outcomes_from_scores([1, 2, 3], [1, 1, 4]), [0.5, 1.0, 0.0])


def test_facet_model_recovers_how_facets_trade_off():
    rng = np.random.default_rng(0)
    ps = prompts("train", 300, seed=1)
    words = ["great", "wonderful", "boring", "awful", "fine", "the plot", "the acting", "great great great great"]
    a = [" ".join(rng.choice(words, size=rng.integers(1, 8))) for _ in ps]
    b = [" ".join(rng.choice(words, size=rng.integers(1, 8))) for _ in ps]
    true_w = np.array([{"sentiment": 3.0, "repetition": -2.0, "non_words": -1.0, "empty": -3.0, "length": 0.5}.get(f, 0.0)
                       for f in FACETS])
    ua, ub = facet_matrix(ps, a) @ true_w, facet_matrix(ps, b) @ true_w
    a_wins = rng.random(len(ps)) < 1 / (1 + np.exp(-(ua - ub)))
    chosen = [x if w else y for x, y, w in zip(a, b, a_wins)]
    rejected = [y if w else x for x, y, w in zip(a, b, a_wins)]
    model = FacetRewardModel().fit(ps, chosen, rejected)
    w = model.explain()
    assert set(w) == set(FACETS)
    assert w["sentiment"] > 1.0 and w["repetition"] < 0
    agree = (model.compare(ps, a, b) == (ua > ub)).mean()
    assert agree > 0.8


def test_facet_model_saves_and_loads(tmp_path):
    m = FacetRewardModel(weights=np.arange(len(FACETS), dtype=float))
    m.save(tmp_path / "facet.json")
    loaded = make_judge(f"facet:{tmp_path / 'facet.json'}")
    np.testing.assert_array_equal(loaded.weights, m.weights)


def _fake_server(answer_for):
    """An OpenAI-compatible endpoint that answers with ``answer_for(first, second)``."""
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        body = json.loads(request.content)
        seen.append(body)
        text = body["messages"][1]["content"]
        first = text.split("Response A:\n")[1].split("\n\nResponse B:")[0]
        second = text.split("Response B:\n")[1].split("\n\nWhich")[0]
        return httpx.Response(200, json={"choices": [{"message": {"content": answer_for(first, second)}}]})

    return httpx.Client(base_url="http://judge.test/v1", transport=httpx.MockTransport(handler)), seen


def test_http_judge_asks_both_orders_and_parses_letters():
    client, seen = _fake_server(lambda first, second: "A" if len(first) > len(second) else "B.")
    judge = OpenAIJudge(base_url="http://judge.test/v1", model="judge-1", client=client)
    out = judge.compare(["p", "q"], ["a long answer", "x"], ["short", "a longer one"])
    np.testing.assert_array_equal(out, [1.0, 0.0])
    assert len(seen) == 4 and seen[0]["model"] == "judge-1" and seen[0]["temperature"] == 0


def test_http_judge_position_bias_and_garbage_become_ties():
    client, _ = _fake_server(lambda first, second: "A")
    assert OpenAIJudge(base_url="http://judge.test/v1", model="m", client=client).compare(["p"], ["x"], ["y"])[0] == 0.5
    client, _ = _fake_server(lambda first, second: "I cannot decide")
    judge = OpenAIJudge(base_url="http://judge.test/v1", model="m", client=client)
    assert judge.compare(["p"], ["x"], ["y"])[0] == 0.5 and judge.unparsed == 2


def test_a_facet_model_saved_before_a_facet_existed_still_loads(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"weights": {"sentiment": 2.0, "empty": -1.0}, "l2": 0.01}))
    weights = make_judge(f"facet:{tmp_path / 'old.json'}").explain()
    assert weights["sentiment"] == 2.0 and weights["empty"] == -1.0 and weights["gibberish"] == 0.0


def test_make_judge_parses_specs():
    assert isinstance(make_judge("sentiment"), SentimentJudge)
    j = make_judge("openai:gpt-judge@http://localhost:9999/v1")
    assert isinstance(j, OpenAIJudge) and j.model == "gpt-judge" and j.base_url == "http://localhost:9999/v1"
    with pytest.raises(ValueError, match="unknown judge"):
        make_judge("oracle")
