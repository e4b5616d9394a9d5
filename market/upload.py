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

Any bad line raises ``Invalid`` naming its 1-based line number, and nothing is imported
(all or nothing, the default). With ``skip_invalid`` the good lines are kept and every bad
line is returned with its number and reason, for the caller to report: nothing is dropped
silently.

Empty replies (e.g. 2 of Anthropic HH harmless-base's 1,156 dev pairs, where the logged
preference is the assistant saying nothing rather than something harmful): a pool item is
shown to annotators, who cannot judge an empty reply, so the pool refuses it with that
reason; a held-out set (``parse_held_out``) is never shown to anyone and keeps it, because
the preference is real and the model's implicit reward of an empty reply is well defined.

``read_text`` reads ``.jsonl`` and ``.jsonl.gz`` files (gzip recognised by its magic bytes).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
    line: int = 0  # 1-based line of the upload it came from

    def key(self) -> tuple[str, frozenset[str]]:
        """The pair, whatever its a/b order: what makes a held-out pair and a pool item the same."""
        return pair_key(self.prompt, self.completion_a or "", self.completion_b or "")


def pair_key(prompt: str, one: str, other: str) -> tuple[str, frozenset[str]]:
    return prompt, frozenset((one.strip(), other.strip()))


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


def _text(obj: dict, key: str, *, empty_ok: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not (value.strip() or (empty_ok and value == "")):
        raise Invalid(f"{key!r} must be a non-empty string")
    if len(value) > limits.MAX_TEXT_CHARS:
        raise Invalid(f"{key!r} is longer than {limits.MAX_TEXT_CHARS} characters")
    return value


def _swap(*parts: str) -> bool:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return bool(digest[0] & 1)


def split_hh(transcript: str, key: str, *, empty_ok: bool = False) -> tuple[str, str]:
    """Split an HH transcript into (prompt up to and including the last Assistant tag, reply).

    An empty last reply is refused unless ``empty_ok`` (held-out sets: see the module doc)."""
    if HUMAN not in transcript:
        raise Invalid(f"{key!r} is not an HH transcript (no '\\n\\nHuman:' turn)")
    cut = transcript.rfind(ASSISTANT)
    if cut < 0:
        raise Invalid(f"{key!r} has no '\\n\\nAssistant:' turn")
    prompt = transcript[: cut + len(ASSISTANT)]
    reply = transcript[cut + len(ASSISTANT) :].strip()
    if not reply and not empty_ok:
        raise Invalid(f"{key!r} ends with an empty assistant reply, which an annotator cannot judge "
                      "(a held-out set keeps such a pair: see docs/contract.md)")
    return prompt, reply


def _optional(obj: dict, fmt: str) -> tuple[float | None, str | None, str | None]:
    score = obj.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise Invalid("'score' must be a finite number")
        if abs(score) > limits.MAX_SCORE_ABS:
            raise Invalid(f"'score' is out of range (|score| <= {limits.MAX_SCORE_ABS:g})")
        score = float(score)
    gold = obj.get("gold")
    if gold is not None:
        if fmt != "pair" or gold not in ("a", "b", "tie"):
            raise Invalid("'gold' must be 'a', 'b' or 'tie' (pair format only)")
    ext = obj.get("id")
    if ext is not None:
        if isinstance(ext, bool) or not isinstance(ext, (str, int)):
            raise Invalid("'id' must be a string or an integer")
        ext = str(ext)[: limits.MAX_NAME_CHARS]
    return score, gold, ext


def _gold_check(obj: dict, item: ParsedItem) -> bool:
    flag = obj.get("gold_check", False)
    if not isinstance(flag, bool):
        raise Invalid("'gold_check' must be true or false")
    if flag and item.gold not in ("a", "b"):
        raise Invalid("a gold_check line needs a known answer 'a' or 'b' "
                      "(the pair's 'gold', or a trl/hh line's logged preference)")
    return flag


def _item(obj: dict, fmt: str, *, empty_ok: bool) -> ParsedItem:
    """One line's item, or ``Invalid`` with the reason (without the line number)."""
    score, gold, ext = _optional(obj, fmt)
    if fmt == "pair":
        item = ParsedItem(_text(obj, "prompt"), _text(obj, "completion_a"), _text(obj, "completion_b"),
                          gold, score, ext, fmt)
    elif fmt == "prompt":
        item = ParsedItem(_text(obj, "prompt"), None, None, None, score, ext, fmt)
    else:
        if fmt == "trl":
            prompt = _text(obj, "prompt")
            chosen = _text(obj, "chosen", empty_ok=empty_ok)
            rejected = _text(obj, "rejected", empty_ok=empty_ok)
        else:
            prompt, chosen = split_hh(_text(obj, "chosen"), "chosen", empty_ok=empty_ok)
            _, rejected = split_hh(_text(obj, "rejected"), "rejected", empty_ok=empty_ok)
        if _swap(prompt, chosen, rejected):
            item = ParsedItem(prompt, rejected, chosen, "b", score, ext, fmt)
        else:
            item = ParsedItem(prompt, chosen, rejected, "a", score, ext, fmt)
    item.gold_check = _gold_check(obj, item)
    return item


@dataclass
class Parsed:
    """An upload's format, its good lines as items, and its refused lines ``(line, reason)``."""

    format: str
    pairs: list[ParsedItem]
    refused: list[tuple[int, str]] = field(default_factory=list)


MAX_REASON_CHARS = 300  # a refused line's reason, in a response that may list thousands


def _parse(text: str, *, skip_invalid: bool, empty_ok: bool,
           check: Callable[[ParsedItem], None] | None = None) -> Parsed:
    if not text or not text.strip():
        raise Invalid("body: the upload is empty; send one JSON object per line")
    fmt: str | None = None
    first_line = 0
    pairs: list[ParsedItem] = []
    refused: list[tuple[int, str]] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(pairs) + len(refused) >= limits.MAX_UPLOAD_LINES:
            raise Invalid(f"line {line_no}: too many lines (at most {limits.MAX_UPLOAD_LINES} per upload)")
        try:
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise Invalid(f"not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None
            if not isinstance(obj, dict):
                raise Invalid(f"expected a JSON object, got {type(obj).__name__}")
            line_fmt = detect_format(obj)
            if line_fmt is None:
                raise Invalid(
                    f"unrecognised keys {sorted(obj)[:6]}; expected prompt/chosen/rejected, "
                    "prompt/completion_a/completion_b, chosen/rejected (HH) or prompt"
                )
            if fmt is None:
                fmt, first_line = line_fmt, line_no
            elif line_fmt != fmt:
                raise Invalid(f"format {line_fmt!r} differs from line {first_line}'s {fmt!r}")
            item = _item(obj, fmt, empty_ok=empty_ok)
            item.line = line_no
            if check is not None:
                check(item)
        except Invalid as exc:
            if not skip_invalid:
                raise Invalid(f"line {line_no}: {exc.detail}") from None
            refused.append((line_no, exc.detail[:MAX_REASON_CHARS]))
            continue
        pairs.append(item)
    if not pairs:
        if refused:
            line, reason = refused[0]
            raise Invalid(f"body: every line was refused ({len(refused)}); line {line}: {reason}")
        raise Invalid("body: the upload has no JSON lines")
    assert fmt is not None
    return Parsed(fmt, pairs, refused)


def exclude(parsed: Parsed, keys: set, reason: str, *, skip_invalid: bool) -> Parsed:
    """``parsed`` without the pairs whose ``key()`` is in ``keys``: refused with ``reason``
    (``skip_invalid``), else ``Invalid`` naming the first such line."""
    keep, refused = [], list(parsed.refused)
    for item in parsed.pairs:
        if item.key() not in keys:
            keep.append(item)
        elif not skip_invalid:
            raise Invalid(f"line {item.line}: {reason}")
        else:
            refused.append((item.line, reason))
    if not keep:
        line, why = min(refused)
        raise Invalid(f"body: every line was refused ({len(refused)}); line {line}: {why}")
    return Parsed(parsed.format, keep, sorted(refused))


def parse_lines(text: str, *, skip_invalid: bool = False) -> Parsed:
    """Parse a pool upload. By default the first bad line raises ``Invalid`` naming it and
    nothing is kept; with ``skip_invalid`` bad lines are returned in ``refused`` with their
    1-based number and reason, so the caller can report every one (nothing is dropped
    silently). An upload in which every line is bad still raises: importing nothing is not
    a success."""
    return _parse(text, skip_invalid=skip_invalid, empty_ok=False)


def _logged_preference(item: ParsedItem) -> None:
    if item.gold not in ("a", "b"):
        raise Invalid("a held-out pair needs a logged preference (trl or hh format, or a pair with 'gold' 'a' or 'b')")
    if item.completion_a == item.completion_b:
        raise Invalid("the two replies are identical, so there is no preference to measure")
    if item.gold_check:
        raise Invalid("'gold_check' has no meaning in a held-out set (it is never shown to annotators)")


def parse_held_out(text: str, *, skip_invalid: bool = False) -> Parsed:
    """Parse a held-out labelled set: every line must carry a logged preference.

    Unlike the pool, an empty reply is accepted here: nobody is ever shown a held-out pair,
    and in harmlessness data an empty reply preferred to a harmful one is a real preference
    (the model's implicit reward of an empty reply is well defined)."""
    return _parse(text, skip_invalid=skip_invalid, empty_ok=True, check=_logged_preference)


def parse_jsonl(text: str) -> tuple[str, list[ParsedItem]]:
    """All-or-nothing parse of a pool upload; returns ``(format, items)`` (see ``parse_lines``)."""
    parsed = parse_lines(text)
    return parsed.format, parsed.pairs


GZIP_MAGIC = b"\x1f\x8b"


def read_text(path, *, max_bytes: int | None = limits.MAX_UPLOAD_BYTES) -> str:
    """Read a ``.jsonl`` or ``.jsonl.gz`` file as text (gzip recognised by its magic bytes,
    whatever the suffix). Errors are ``ValueError`` naming the file. ``max_bytes`` bounds the
    decompressed size (the API's upload limit by default, so a gzip bomb stops early and an
    upload that the market would refuse is refused before it is sent); ``None`` lifts it."""
    p = Path(path)
    compressed = False
    try:
        with p.open("rb") as fh:
            compressed = fh.read(2) == GZIP_MAGIC
            fh.seek(0)
            stream = gzip.GzipFile(fileobj=fh) if compressed else fh
            data = stream.read(-1 if max_bytes is None else max_bytes + 1)
    except FileNotFoundError:
        raise ValueError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{p}: is a folder, not a JSONL file") from None
    except (OSError, EOFError, zlib.error) as exc:
        what = "not a readable gzip file" if compressed else "cannot be read"
        raise ValueError(f"{p}: {what} ({exc})") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError(f"{p}: more than {max_bytes} bytes of text{' once decompressed' if compressed else ''}; "
                         "split the file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: not UTF-8 text (byte {exc.start}{' after decompression' if compressed else ''})") from None
