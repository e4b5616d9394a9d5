"""Parsing JSONL uploads into items, all-or-nothing.

Four formats, detected from the first non-blank line and then required of every line:

========== ============================================ =========================================
format     keys                                         becomes
========== ============================================ =========================================
``trl``    ``prompt``, ``chosen``, ``rejected``         a ready pair; the logged preference is
                                                        kept as ``gold``
``pair``   ``prompt``, ``completion_a``, ``completion_b`` a pair to label (``gold`` optional)
``hh``     ``chosen``, ``rejected`` (Anthropic HH       the shared transcript up to the last
           transcripts with ``\\n\\nHuman:`` /            ``\\n\\nAssistant:`` is the prompt; the
           ``\\n\\nAssistant:`` turns)                   two last replies are the completions
``prompt`` ``prompt`` only                              a prompt for the policy to complete
========== ============================================ =========================================

Logged pairs (trl, hh) are shown in a random-but-reproducible order (a/b swapped by a
hash of the content) so an annotator cannot learn "a is always the chosen one"; ``gold``
records which side was logged as preferred. Optional keys on any line: ``score`` (finite
number), ``gold`` (pair format: ``a``/``b``/``tie``), ``id`` (kept as ``external_id``),
``gold_check`` (``true``: the line is a gold item, a control question for quality control
whose known answer must be ``a`` or ``b``: the pair's ``gold``, or the logged preference
of a trl/hh line; see ``market.quality.gold``).

Any bad line raises ``Invalid`` naming its 1-based line number, and nothing is imported.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from market import limits
from market.errors import Invalid

FORMATS = ("trl", "pair", "hh", "prompt")
HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"


@dataclass
class ParsedItem:
    prompt: str
    completion_a: str | None
    completion_b: str | None
    gold: str | None
    score: float | None
    external_id: str | None
    source_format: str
    gold_check: bool = False


def detect_format(obj: dict) -> str | None:
    keys = set(obj)
    if {"prompt", "completion_a", "completion_b"} <= keys:
        return "pair"
    if {"prompt", "chosen", "rejected"} <= keys:
        return "trl"
    if {"chosen", "rejected"} <= keys:
        return "hh"
    if "prompt" in keys:
        return "prompt"
    return None


def _text(obj: dict, key: str, line: int) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"line {line}: {key!r} must be a non-empty string")
    if len(value) > limits.MAX_TEXT_CHARS:
        raise Invalid(f"line {line}: {key!r} is longer than {limits.MAX_TEXT_CHARS} characters")
    return value


def _swap(*parts: str) -> bool:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return bool(digest[0] & 1)


def split_hh(transcript: str, key: str, line: int) -> tuple[str, str]:
    """Split an HH transcript into (prompt up to and including the last Assistant tag, reply)."""
    if HUMAN not in transcript:
        raise Invalid(f"line {line}: {key!r} is not an HH transcript (no '\\n\\nHuman:' turn)")
    cut = transcript.rfind(ASSISTANT)
    if cut < 0:
        raise Invalid(f"line {line}: {key!r} has no '\\n\\nAssistant:' turn")
    prompt = transcript[: cut + len(ASSISTANT)]
    reply = transcript[cut + len(ASSISTANT) :].strip()
    if not reply:
        raise Invalid(f"line {line}: {key!r} ends with an empty assistant reply")
    return prompt, reply


def _optional(obj: dict, line: int, fmt: str) -> tuple[float | None, str | None, str | None]:
    score = obj.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise Invalid(f"line {line}: 'score' must be a finite number")
        if abs(score) > limits.MAX_SCORE_ABS:
            raise Invalid(f"line {line}: 'score' is out of range (|score| <= {limits.MAX_SCORE_ABS:g})")
        score = float(score)
    gold = obj.get("gold")
    if gold is not None:
        if fmt != "pair" or gold not in ("a", "b", "tie"):
            raise Invalid(f"line {line}: 'gold' must be 'a', 'b' or 'tie' (pair format only)")
    ext = obj.get("id")
    if ext is not None:
        if isinstance(ext, bool) or not isinstance(ext, (str, int)):
            raise Invalid(f"line {line}: 'id' must be a string or an integer")
        ext = str(ext)[: limits.MAX_NAME_CHARS]
    return score, gold, ext


def _gold_check(obj: dict, item: ParsedItem, line: int) -> bool:
    flag = obj.get("gold_check", False)
    if not isinstance(flag, bool):
        raise Invalid(f"line {line}: 'gold_check' must be true or false")
    if flag and item.gold not in ("a", "b"):
        raise Invalid(f"line {line}: a gold_check line needs a known answer 'a' or 'b' "
                      "(the pair's 'gold', or a trl/hh line's logged preference)")
    return flag


def parse_jsonl(text: str) -> tuple[str, list[ParsedItem]]:
    """Parse a whole upload; returns ``(format, items)`` or raises ``Invalid`` naming the line."""
    if not text or not text.strip():
        raise Invalid("body: the upload is empty; send one JSON object per line")
    fmt: str | None = None
    first_line = 0
    items: list[ParsedItem] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(items) >= limits.MAX_UPLOAD_LINES:
            raise Invalid(f"line {line_no}: too many lines (at most {limits.MAX_UPLOAD_LINES} per upload)")
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise Invalid(f"line {line_no}: not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None
        if not isinstance(obj, dict):
            raise Invalid(f"line {line_no}: expected a JSON object, got {type(obj).__name__}")
        line_fmt = detect_format(obj)
        if line_fmt is None:
            raise Invalid(
                f"line {line_no}: unrecognised keys {sorted(obj)[:6]}; expected prompt/chosen/rejected, "
                "prompt/completion_a/completion_b, chosen/rejected (HH) or prompt"
            )
        if fmt is None:
            fmt, first_line = line_fmt, line_no
        elif line_fmt != fmt:
            raise Invalid(f"line {line_no}: format {line_fmt!r} differs from line {first_line}'s {fmt!r}")
        score, gold, ext = _optional(obj, line_no, fmt)
        if fmt == "pair":
            item = ParsedItem(
                _text(obj, "prompt", line_no),
                _text(obj, "completion_a", line_no),
                _text(obj, "completion_b", line_no),
                gold, score, ext, fmt,
            )
        elif fmt == "prompt":
            item = ParsedItem(_text(obj, "prompt", line_no), None, None, None, score, ext, fmt)
        else:
            if fmt == "trl":
                prompt = _text(obj, "prompt", line_no)
                chosen = _text(obj, "chosen", line_no)
                rejected = _text(obj, "rejected", line_no)
            else:
                prompt, chosen = split_hh(_text(obj, "chosen", line_no), "chosen", line_no)
                _, rejected = split_hh(_text(obj, "rejected", line_no), "rejected", line_no)
            if _swap(prompt, chosen, rejected):
                item = ParsedItem(prompt, rejected, chosen, "b", score, ext, fmt)
            else:
                item = ParsedItem(prompt, chosen, rejected, "a", score, ext, fmt)
        item.gold_check = _gold_check(obj, item, line_no)
        items.append(item)
    if not items:
        raise Invalid("body: the upload has no JSON lines")
    assert fmt is not None
    return fmt, items
