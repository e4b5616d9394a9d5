"""Judges: who decides which of two completions is better when no annotator is asked.

A judge answers ``compare(prompts, a, b)`` with one outcome per pair: 1.0 when ``a`` is
better, 0.0 when ``b`` is, 0.5 for a tie. Four kinds:

- ``SentimentJudge``: the first movie-review judge; it reads no prompt. VADER's compound
  sentiment in [-1, 1], minus penalties for degenerate text (empty, repeated n-grams, non-words), so a
  policy cannot win by spamming "great great great".
- ``FacetJudge``: the movie-review judge that reads the prompt. Fixed weights over named
  facets (the film asked for, the aspect asked for, tone, fluency), so a policy cannot win
  by gushing about any film; ``explain`` shows each facet's part of a score.
- ``FacetRewardModel``: a Bradley–Terry model over a handful of interpretable facet scores
  (after Nath et al.): a few parameters, fit on a few hundred labels, readable weights. It
  serves as a cheap judge and as the quality signal ``b`` of QA-DPO.
- ``OpenAIJudge``: any OpenAI-compatible chat-completions endpoint, configured by URL and
  model; each pair is asked in both orders to cancel position bias.

``make_judge("sentiment" | "facets" | "facet:PATH" | "openai:MODEL@URL")`` builds one from a setting.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from task.prompts import ASPECT_TERMS, aspect_of, title_of


class Judge(Protocol):
    def compare(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray: ...


def outcomes_from_scores(score_a, score_b, tol: float = 1e-9) -> np.ndarray:
    """1.0 where ``a`` scores higher, 0.0 where lower, 0.5 within ``tol``."""
    sa, sb = np.asarray(score_a, dtype=np.float64), np.asarray(score_b, dtype=np.float64)
    return np.where(np.abs(sa - sb) <= tol, 0.5, (sa > sb).astype(np.float64))


# ----------------------------------------------------------------------------- text facets

_WORD = re.compile(r"[A-Za-z']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def repetition(text: str, n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier one (0 for text shorter than n words)."""
    w = words(text)
    grams = [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def non_word_share(text: str) -> float:
    """Share of non-space characters that are not letters or common punctuation (garbage)."""
    chars = [ch for ch in text if not ch.isspace()]
    if not chars:
        return 0.0
    return sum(1 for ch in chars if not (ch.isalpha() or ch in ".,!?'\"-:;()")) / len(chars)


_VADER = None


def sentiment(text: str) -> float:
    """VADER's compound score in [-1, 1] (the analyzer is built once: its lexicon load is slow)."""
    global _VADER
    if _VADER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _VADER = SentimentIntensityAnalyzer()
    return float(_VADER.polarity_scores(text)["compound"])


# ----------------------------------------------------------------------------- the embedded judge


@dataclass
class SentimentJudge:
    """Positive, clean reviews win: ``compound − r·repetition − g·non_word_share``; empty text scores −2."""

    repetition_penalty: float = 1.0
    garbage_penalty: float = 1.0
    empty_score: float = -2.0

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        out = np.empty(len(completions))
        for i, text in enumerate(completions):
            if not words(text):
                out[i] = self.empty_score
            else:
                out[i] = (
                    sentiment(text)
                    - self.repetition_penalty * repetition(text)
                    - self.garbage_penalty * non_word_share(text)
                )
        return out

    def compare(self, prompts, a, b) -> np.ndarray:
        return outcomes_from_scores(self.score(prompts, a), self.score(prompts, b))


# ----------------------------------------------------------------------------- facet reward model

FACETS = ("sentiment", "repetition", "non_words", "empty", "length", "mentions_title", "mentions_aspect",
          "unfinished", "gibberish")


def _name_pattern(phrase: str) -> str:
    """A phrase as a regex: whole words, any run of spaces between them, either apostrophe."""
    return r"\s+".join(re.escape(w).replace("'", "['’]") for w in phrase.lower().split())


@lru_cache(maxsize=4096)
def _names(title: str | None, aspect: str | None) -> tuple[re.Pattern | None, re.Pattern | None]:
    """The prompt's film (a leading "The" optional, a possessive included) and its aspect
    (the word or one of ``ASPECT_TERMS``) as case-insensitive whole-word patterns."""
    title_re = aspect_re = None
    if title:
        core = re.sub(r"^the\s+", "", title.strip(), flags=re.IGNORECASE)
        lead = r"(?:the\s+)?" if core != title.strip() else ""
        title_re = re.compile(rf"(?<![\w']){lead}{_name_pattern(core)}(?:['’]s?)?(?![\w'])", re.IGNORECASE)
    if aspect:
        terms = "|".join(_name_pattern(t) for t in ASPECT_TERMS.get(aspect, (aspect,)))
        aspect_re = re.compile(rf"(?<![\w'])(?:{terms})(?![\w'])", re.IGNORECASE)
    return title_re, aspect_re


def _without(pattern: re.Pattern | None, text: str) -> str:
    """``text`` with every match of ``pattern`` cut out, repeated until none is left (a cut
    can bring two halves of a name together), spaces collapsed."""
    while pattern is not None:
        cut = pattern.sub(" ", text)
        if cut == text:
            break
        text = cut
    return " ".join(text.split())


def unfinished(text: str) -> float:
    """1 when the text stops mid-sentence (no closing . ! ? or quote): cut off at the token limit."""
    stripped = text.rstrip()
    return float(bool(stripped) and stripped[-1] not in ".!?…\"'”’)")


_TOKEN_EDGES = ".,!?'\"-:;()…“”‘’"
_WORD_SHAPE = re.compile(r"[a-z]+(?:['’-][a-z]+)*")


def gibberish(text: str) -> float:
    """Share of the tokens with letters in them that are not shaped like words: mixed with
    digits or symbols, no vowel (beyond three-letter abbreviations such as "tv"), a letter
    three times running, or over 20 letters. Catches what ``non_word_share`` cannot: made-up
    words and words cut in half by noise ("torlohatedci", "kipch")."""
    tokens = [t.strip(_TOKEN_EDGES).lower() for t in text.split()]
    tokens = [t for t in tokens if any(ch.isalpha() for ch in t)]
    if not tokens:
        return 0.0

    def odd(t: str) -> bool:
        return (not _WORD_SHAPE.fullmatch(t) or len(t) > 20 or re.search(r"(.)\1\1", t) is not None
                or (len(t) > 3 and not re.search(r"[aeiouy]", t)))

    return sum(map(odd, tokens)) / len(tokens)


def facet_scores(prompt: str, completion: str) -> np.ndarray:
    """Interpretable facets of a review (``FACETS``), each in [0, 1] (sentiment in [-1, 1]).

    The names of the film and the aspect the prompt asks about count once, in their own
    facets; tone and sentence ending are read from the review's own words without them, so
    that naming what was asked never changes how positive the review reads ("Pale Fire
    Road" is negative to VADER, "humor" positive) and a name at the very end is not an
    unfinished sentence. How it is written (repetition, symbols, made-up words, length) is
    read from the whole text."""
    title_re, aspect_re = _names(title_of(prompt), aspect_of(prompt))
    without_title = _without(title_re, completion)
    own = _without(aspect_re, without_title)
    has_words = bool(words(completion))
    return np.array(
        [
            sentiment(own) if words(own) else 0.0,
            repetition(completion),
            non_word_share(completion),
            0.0 if has_words else 1.0,
            min(len(words(completion)), 100) / 100.0,
            float(title_re is not None and title_re.search(completion) is not None),
            float(aspect_re is not None and aspect_re.search(without_title) is not None),
            unfinished(own),
            gibberish(completion),
        ]
    )

def facet_matrix(prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
    return np.array([facet_scores(p, c) for p, c in zip(prompts, completions, strict=True)]).reshape(-1, len(FACETS))


@dataclass
class FacetRewardModel:
    """``r(x, y) = wᵀ s(x, y)`` over the ``FACETS``, fit by Bradley–Terry with a small L2 penalty.

    One weight per facet is all it learns: the facets do the hard part of judging, the labels
    only teach how the facets trade off, which a few hundred comparisons pin down.
    """

    weights: np.ndarray = field(default_factory=lambda: np.zeros(len(FACETS)))
    l2: float = 1e-2

    def fit(self, prompts: Sequence[str], chosen: Sequence[str], rejected: Sequence[str]) -> FacetRewardModel:
        diff = facet_matrix(prompts, chosen) - facet_matrix(prompts, rejected)
        self.weights = fit_bradley_terry(diff, self.l2)
        return self

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        return facet_matrix(prompts, completions) @ self.weights

    def compare(self, prompts, a, b) -> np.ndarray:
        return outcomes_from_scores(self.score(prompts, a), self.score(prompts, b))

    def explain(self) -> dict[str, float]:
        return {name: float(w) for name, w in zip(FACETS, self.weights, strict=True)}

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps({"weights": self.explain(), "l2": self.l2}, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> FacetRewardModel:
        data = json.loads(Path(path).read_text())
        # a facet added since the file was saved weighs nothing, as it did then
        return cls(weights=np.array([data["weights"].get(name, 0.0) for name in FACETS]), l2=data["l2"])


# ----------------------------------------------------------------------------- the facet judge

# The facet judge's weights, fixed by hand from the task's statement, never fit to labels or
# to held-out data (docs/judges.md). Answering the request comes first: naming the film asked
# for and addressing the aspect asked for are worth 1.5 each, more than the whole positive
# half of the tone scale, so a gushing review of another film or of another aspect loses to
# a modest one on topic. Tone keeps the task's preference (positive reviews, VADER in
# [-1, 1], as in ``SentimentJudge``) and breaks ties between reviews that answer equally
# well. Fluency is a set of penalties strong enough that a loop or noise that names the film
# and the aspect still loses to clean text that does. Length weighs nothing: longer is not
# better (the facet model's literature found length the label's main confound).
FACET_WEIGHTS = {
    "sentiment": 1.0,
    "repetition": -2.0,
    "non_words": -2.0,
    "empty": -2.0,
    "length": 0.0,
    "mentions_title": 1.5,
    "mentions_aspect": 1.5,
    "unfinished": -0.25,
    "gibberish": -2.0,
}

# What each facet means, in an annotator's words (the portal shows these beside the numbers).
FACET_HELP = {
    "sentiment": "tone: how positive the review reads",
    "repetition": "repeats itself",
    "non_words": "symbols and noise instead of letters",
    "empty": "says nothing",
    "length": "length",
    "mentions_title": "names the film asked about",
    "mentions_aspect": "addresses the aspect asked about",
    "unfinished": "stops mid-sentence",
    "gibberish": "made-up or broken words",
}


@dataclass
class FacetJudge:
    """The movie-review judge that reads the prompt: ``FacetRewardModel`` with the fixed
    ``FACET_WEIGHTS``. A review wins by being about the film and the aspect asked for, then
    by being positive, and loses for repetition, noise, emptiness or stopping mid-sentence.
    ``explain`` splits a score into its facets' contributions, which sum to it, so a person
    can see why one review beat another."""

    model: FacetRewardModel = field(
        default_factory=lambda: FacetRewardModel(weights=np.array([FACET_WEIGHTS[f] for f in FACETS])))

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        return self.model.score(prompts, completions)

    def compare(self, prompts, a, b) -> np.ndarray:
        return self.model.compare(prompts, a, b)

    def explain(self, prompt: str, completion: str) -> dict[str, float]:
        """Each weighted facet's contribution to ``score`` (facets that weigh nothing left out)."""
        values = facet_scores(prompt, completion)
        # + 0.0: a penalty that does not apply reads 0.0, not -0.0
        return {name: float(w * v) + 0.0 for name, w, v in zip(FACETS, self.model.weights, values, strict=True) if w}


def fit_bradley_terry(diff: np.ndarray, l2: float) -> np.ndarray:
    """Minimise ``mean log(1 + exp(−wᵀd)) + l2·‖w‖²`` over ``w`` (d = chosen − rejected facets).

    The loss is convex and smooth; L-BFGS reaches its optimum in a few iterations.
    """
    from scipy.optimize import minimize

    if len(diff) == 0:
        raise ValueError("no labelled pairs to fit")

    def loss(w):
        z = diff @ w
        value = np.logaddexp(0.0, -z).mean() + l2 * w @ w
        grad = -(diff * (0.5 * (1.0 - np.tanh(z / 2)))[:, None]).mean(0) + 2 * l2 * w
        return value, grad

    return minimize(loss, np.zeros(diff.shape[1]), jac=True, method="L-BFGS-B").x


# ----------------------------------------------------------------------------- HTTP judge

RUBRIC = (
    "You compare two responses to the same request. Prefer the response that follows the request, "
    "is more positive in tone, and is grammatical, consistent and not repetitive. "
    "Answer with a single letter: A or B."
)


class JudgeError(ValueError):
    """The HTTP judge could not give an answer (unreachable, refused, or not speaking the
    protocol). A ``ValueError`` so that command lines report it as a setting to fix (URL,
    model, key), never as a traceback."""


@dataclass
class OpenAIJudge:
    """An OpenAI-compatible ``/chat/completions`` endpoint as a judge (docs/judges.md).

    Each pair is asked twice, with the two responses swapped, and the answers averaged, so a
    judge that always says "A" scores every pair a tie. Unparseable answers count as half a
    win for each side and are tallied in ``unparsed``. A busy server (429, 5xx) or a dropped
    connection is asked again up to ``retries`` times, ``backoff_s`` apart (doubling);
    anything else that is not an answer raises ``JudgeError`` naming the URL and the reason.
    The key is ``api_key`` or ``$PREFMARKET_JUDGE_API_KEY`` (sent as a bearer token; none
    for a local server). ``client`` lets tests pass an ``httpx.Client`` of their own.
    """

    base_url: str
    model: str
    api_key: str | None = None
    rubric: str = RUBRIC
    timeout: float = 60.0
    retries: int = 2
    backoff_s: float = 1.0
    client: object | None = None
    unparsed: int = 0
    requests: int = 0

    def _client(self):
        if self.client is None:
            import httpx

            key = self.api_key or os.environ.get("PREFMARKET_JUDGE_API_KEY", "")
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            self.client = httpx.Client(base_url=self.base_url.rstrip("/"), headers=headers, timeout=self.timeout)
        return self.client

    def _post(self, body: dict):
        import httpx

        where = f"{self.base_url.rstrip('/')}/chat/completions"
        for attempt in range(self.retries + 1):
            self.requests += 1
            try:
                response = self._client().post("/chat/completions", json=body)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise JudgeError(f"judge {where}: cannot reach it ({exc})") from None
            else:
                if response.status_code != 429 and response.status_code < 500:
                    break
                if attempt == self.retries:
                    raise JudgeError(f"judge {where}: answered {response.status_code} "
                                     f"{self.retries + 1} times: {response.text[:200]}")
            time.sleep(self.backoff_s * 2**attempt)
        if response.status_code >= 400:
            hint = " (set PREFMARKET_JUDGE_API_KEY)" if response.status_code in (401, 403) else ""
            raise JudgeError(f"judge {where}: answered {response.status_code}{hint}: {response.text[:200]}")
        return response

    def _ask(self, prompt: str, first: str, second: str) -> str | None:
        message = f"Request:\n{prompt}\n\nResponse A:\n{first}\n\nResponse B:\n{second}\n\nWhich response is better?"
        response = self._post({
            "model": self.model,
            "messages": [{"role": "system", "content": self.rubric}, {"role": "user", "content": message}],
            "temperature": 0,
            "max_tokens": 4,
        })
        try:
            answer = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JudgeError(f"judge {self.base_url}: not a chat-completions answer: {response.text[:200]}") from None
        found = re.search(r"\b([AB])\b", (answer or "").strip().upper())
        return found.group(1) if found else None

    def compare(self, prompts, a, b) -> np.ndarray:
        out = np.empty(len(prompts))
        for i, (p, x, y) in enumerate(zip(prompts, a, b, strict=True)):
            forward, backward = self._ask(p, x, y), self._ask(p, y, x)
            votes = []
            for answer, a_letter in ((forward, "A"), (backward, "B")):
                if answer is None:
                    self.unparsed += 1
                    votes.append(0.5)
                else:
                    votes.append(1.0 if answer == a_letter else 0.0)
            out[i] = float(np.mean(votes))
        return out


JUDGE_SPECS = "'sentiment', 'facets', 'facet:PATH' or 'openai:MODEL@URL'"


def make_judge(spec: str = "sentiment") -> Judge:
    """``sentiment``, ``facets`` (the facet judge), ``facet:PATH`` (a saved
    FacetRewardModel) or ``openai:MODEL@URL``."""
    if spec == "sentiment":
        return SentimentJudge()
    if spec == "facets":
        return FacetJudge()
    kind, _, rest = spec.partition(":")
    if kind == "facet" and rest:
        return FacetRewardModel.load(rest)
    if kind == "openai" and "@" in rest:
        model, _, url = rest.partition("@")
        return OpenAIJudge(base_url=url, model=model)
    raise ValueError(f"unknown judge {spec!r}: use {JUDGE_SPECS}")
