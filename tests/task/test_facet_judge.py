"""The facet judge: a review wins by answering the prompt (its film, its aspect), then by tone,
and loses for degenerate text; its explanation adds up to its score."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from task.judges import FACET_HELP, FACET_WEIGHTS, FACETS, FacetJudge, facet_scores, gibberish, make_judge, unfinished
from task.prompts import ASPECT_TERMS, ASPECTS, aspect_of, gold_jsonl, prompts, title_of

PROMPT = 'Write a short review of the drama "Paper Comets", focusing on its acting.'
MODEST = "The acting in Paper Comets is solid, though the middle drags a little."
JUDGE = FacetJudge()


def score(text: str, prompt: str = PROMPT) -> float:
    return float(JUDGE.score([prompt], [text])[0])


def test_gushing_about_the_wrong_film_or_aspect_loses_to_a_modest_review_on_topic():
    gushing = {
        "no film named": "An absolute masterpiece! Brilliant, stunning and wonderful, the best film of the year.",
        "another film": "Midnight in Vellora is a masterpiece! The acting is brilliant, stunning and wonderful.",
        "another aspect": "Paper Comets is a masterpiece! The music is brilliant, stunning and wonderful.",
    }
    for why, text in gushing.items():
        assert JUDGE.compare([PROMPT], [MODEST], [text])[0] == 1.0, why
        assert score(text) < score(MODEST) - 0.4, why  # a clear margin, not a rounding accident
    # the old judge, which reads no prompt, preferred every one of them
    from task.judges import SentimentJudge

    old = SentimentJudge()
    assert all(old.score([PROMPT], [t])[0] > old.score([PROMPT], [MODEST])[0] for t in gushing.values())


def test_a_synonym_of_the_aspect_counts_and_a_word_inside_another_does_not():
    assert facet_scores(PROMPT, "Paper Comets has a fine cast.")[FACETS.index("mentions_aspect")] == 1.0
    assert facet_scores(PROMPT, "Paper Comets is exacting.")[FACETS.index("mentions_aspect")] == 0.0
    music = 'Give your opinion of "A Song for Marrow", a drama, especially its music.'
    # the title's "Song" is not the music
    assert facet_scores(music, "A Song for Marrow is lovely.")[FACETS.index("mentions_aspect")] == 0.0
    assert facet_scores(music, "A Song for Marrow has lovely songs.")[FACETS.index("mentions_aspect")] == 1.0
    glass = 'Write a short review of the comedy "The Glass Harbor", focusing on its humor.'
    assert facet_scores(glass, "glass harbor's jokes land.")[FACETS.index("mentions_title")] == 1.0


def test_the_aspect_of_a_musical_is_not_its_music():
    p = 'Give your opinion of "Northbound", a musical, especially its pacing.'
    assert aspect_of(p) == "pacing"
    assert all(aspect_of(q) in ASPECT_TERMS and q.rstrip(".").endswith(aspect_of(q)) for q in prompts("train", 600))
    assert set(ASPECT_TERMS) == set(ASPECTS)


def test_repetition_noise_emptiness_and_stopping_midway_lose_to_clean_text():
    degenerate = {
        "loop": "Paper Comets acting great. " * 4,
        "noise": "Paper Comets acting \ufffd*\ufffd\ufffd\ufffdril\ufffd\ufffd #### %%%",
        "made-up words": "Paper Comets acting xkqzt brrrrp zzzvq",
        "empty": "",
        "symbols only": "!!! ...",
        "cut off": "The acting in Paper Comets is solid, though the middle dra",
    }
    for why, text in degenerate.items():
        assert score(text) < score(MODEST), why
    assert score("") == -2.0
    assert unfinished("It is good") == 1.0 and unfinished('It is "good."') == 0.0 and unfinished("") == 0.0
    assert gibberish("a fine film, tv at its best") == 0.0 and gibberish("xkqzt film") == 0.5


def test_explain_adds_up_to_the_score_and_names_its_facets():
    texts = [MODEST, "", "Paper Comets acting great. " * 3, "Awful!", "The cast of The Glass Harbor shines."]
    for text in texts:
        parts = JUDGE.explain(PROMPT, text)
        assert set(parts) <= {f for f, w in FACET_WEIGHTS.items() if w} and set(parts) <= set(FACET_HELP)
        assert abs(sum(parts.values()) - score(text)) < 1e-12
    assert JUDGE.explain(PROMPT, MODEST)["mentions_title"] == FACET_WEIGHTS["mentions_title"]


def test_make_judge_builds_the_facet_judge():
    judge = make_judge("facets")
    assert isinstance(judge, FacetJudge)
    np.testing.assert_array_equal(judge.compare([PROMPT, PROMPT], [MODEST, ""], ["Great film!", MODEST]), [1.0, 0.0])


def test_gold_checks_keep_their_answers_under_the_facet_judge():
    rows = [json.loads(line) for line in gold_jsonl(200, seed=3).splitlines()]
    ps = [r["prompt"] for r in rows]
    a = JUDGE.score(ps, [r["completion_a"] for r in rows])
    b = JUDGE.score(ps, [r["completion_b"] for r in rows])
    assert [("a" if x > y else "b") for x, y in zip(a, b, strict=True)] == [r["gold"] for r in rows]


def test_the_bots_truth_works_with_the_facet_judge():
    """The bots read a judge as ``judge(prompt, completion) -> float`` (bidders/cli.py)."""
    from bidders.cli import _bot_judge

    truth = _bot_judge("facets")
    assert truth(PROMPT, MODEST) == score(MODEST) and truth(PROMPT, MODEST) > truth(PROMPT, "Great film!")


# Review words that name no title and no aspect, so that what the test adds is new to the review
# (the little words of titles stay: alone they name nothing).
_NAMES = {w.lower() for t in prompts("train") + prompts("eval") for w in title_of(t).split()}
_NAMES -= {"the", "a", "of", "and"}
_NAMES |= {w for terms in ASPECT_TERMS.values() for term in terms for w in term.split()}
VOCAB = [w for w in ("the a it this film movie is was great awful fine dull moving boring not very but and "
                     "truly i loved hated of with too slow long short best worst good bad really , . ! "
                     "xkq ### 10/10 zzz").split() if w not in _NAMES]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(st.sampled_from(VOCAB), max_size=25), at=st.integers(min_value=0),
       prompt=st.sampled_from(prompts("train", 40, seed=5) + prompts("eval", 20, seed=5)),
       what=st.sampled_from(["title", "aspect", "both"]))
def test_naming_the_film_or_aspect_asked_for_never_lowers_a_score(words, at, prompt, what):
    at %= len(words) + 1
    added = {"title": [title_of(prompt)], "aspect": [aspect_of(prompt)],
             "both": [title_of(prompt), aspect_of(prompt)]}[what]
    before = " ".join(words)
    after = " ".join(words[:at] + added + words[at:])
    assert score(after, prompt) >= score(before, prompt) - 1e-12
    named = {"title": ["mentions_title"], "aspect": ["mentions_aspect"], "both": ["mentions_title", "mentions_aspect"]}
    assert all(facet_scores(prompt, after)[FACETS.index(f)] == 1.0 for f in named[what])
