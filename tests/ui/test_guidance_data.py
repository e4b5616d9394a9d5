"""Unit tests of the labelling page's guidance (ui.guidance_data): no Streamlit, no server."""

from __future__ import annotations

import pytest

from task.judges import FACET_HELP, FacetJudge
from ui.guidance_data import TOTAL, guidance_frame

PROMPT = 'Give your opinion of "Kite Season", a western, especially its pacing.'
ON_TOPIC = "Kite Season is briskly paced and never drags."
GUSHING = "A masterpiece! Wonderful, stunning, the best film of the year."


def test_guidance_shows_each_facets_part_of_both_scores_and_the_totals():
    table = guidance_frame(PROMPT, ON_TOPIC, GUSHING).set_index("facet")
    assert list(table.columns) == ["A", "B"]
    assert table.loc[FACET_HELP["mentions_title"]].tolist() == ["+1.50", "+0.00"]
    assert table.loc[FACET_HELP["mentions_aspect"]].tolist() == ["+1.50", "+0.00"]
    assert table.loc[FACET_HELP["sentiment"], "B"].startswith("+0.9")
    scores = FacetJudge().score([PROMPT] * 2, [ON_TOPIC, GUSHING])
    assert table.loc[TOTAL].tolist() == [f"{scores[0]:+.2f}", f"{scores[1]:+.2f}"]
    assert FACET_HELP["gibberish"] not in table.index  # a facet that counts for neither is left out


def test_an_empty_completion_is_shown_as_saying_nothing():
    table = guidance_frame(PROMPT, ON_TOPIC, None).set_index("facet")
    assert table.loc[FACET_HELP["empty"]].tolist() == ["+0.00", "-2.00"]


@pytest.mark.parametrize("prompt", ["Write a short review of film 3.", "How do I bake bread?",
                                    'What do you think of "Kite Season"?'])
def test_no_guidance_outside_the_movie_review_task(prompt):
    assert guidance_frame(prompt, ON_TOPIC, GUSHING) is None
