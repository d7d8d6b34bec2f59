"""Near-duplicate detection between a draft and a workspace's skills (pure Python).

Guarantee: :func:`find_near_duplicate` returns the most similar existing skill whose
similarity reaches the threshold, else ``None``; it is deterministic (ties go to the
lexicographically first name). Similarity is the larger of two Jaccard indices over
normalized text (name, description, body): content-word sets (stop words removed, so
"run the tests" and "runs tests" meet) and word 3-shingles (so reordered boilerplate
alone does not match). A library of a few thousand skills is compared in milliseconds;
fingerprints are cached per content hash.

:func:`merge_bodies` builds the body of a MERGE deterministically: the existing body,
then the draft's lines that are new, bounded by ``max_chars``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from schemas.skills import Skill

DEFAULT_THRESHOLD = 0.55

_STOP = frozenset(
    ["a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "at", "from", "as", "is", "are", "be", "been", "it", "this", "that", "these", "those", "when", "whenever", "if", "then", "than", "use", "used", "using", "run", "runs", "ran", "instead", "not", "no", "do", "does", "don't", "skill", "you", "your", "should", "must", "can", "will", "before", "after", "into", "out", "up", "down", "also", "only", "all", "any", "each", "every", "first", "then", "again", "its", "it's", "via", "per", "so", "such"]
)
_WORD = re.compile(r"[a-z0-9_./-]+")


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=8192)
def fingerprint(text: str) -> tuple[frozenset[str], frozenset[tuple[str, ...]]]:
    words = [w.strip("./-") for w in _WORD.findall(text.lower())]
    words = [w for w in words if w]
    content = frozenset(_stem(w) for w in words if w not in _STOP)
    shingles = frozenset(tuple(words[i:i + 3]) for i in range(len(words) - 2))
    return content, shingles


def _jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def similarity(a: str, b: str) -> float:
    ca, sa = fingerprint(a)
    cb, sb = fingerprint(b)
    return max(_jaccard(ca, cb), _jaccard(sa, sb))


def skill_text(name: str, description: str, body: str) -> str:
    return f"{name.replace('-', ' ')}\n{description}\n{body}"


_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


@lru_cache(maxsize=8192)
def code_lines(body: str) -> frozenset[str]:
    """Normalized commands of a body: code-block lines and inline code spans."""
    lines = set()
    for block in _CODE_BLOCK.findall(body):
        lines.update(" ".join(ln.split()) for ln in block.splitlines())
    lines.update(" ".join(span.split()) for span in _CODE_SPAN.findall(_CODE_BLOCK.sub(" ", body)))
    return frozenset(ln for ln in lines if len(ln) >= 3)


def find_near_duplicate(name: str, description: str, body: str, skills: Iterable[Skill], *,
                        threshold: float = DEFAULT_THRESHOLD) -> tuple[Skill, float] | None:
    """The existing skill most similar to the draft, if at least ``threshold``.

    Two skills that both quote commands but share none are never duplicates, however
    alike their prose: the commands are the lesson (``pytest`` vs ``ruff`` recoveries
    written from one template differ only there)."""
    text = skill_text(name, description, body)
    commands = code_lines(body)
    best: tuple[Skill, float] | None = None
    for skill in sorted(skills, key=lambda s: s.name):
        theirs = code_lines(skill.body)
        if commands and theirs and not commands & theirs:
            continue
        score = similarity(text, skill_text(skill.name, skill.description, skill.body))
        if score >= threshold and (best is None or score > best[1]):
            best = (skill, score)
    return best


_ALSO = "## Also seen"


def merge_bodies(existing: str, new: str, *, max_chars: int) -> str:
    """Existing body plus the new body's lines it does not hold yet (bounded)."""
    have = {_norm(line) for line in existing.splitlines() if line.strip()}
    added = [line for line in new.splitlines()
             if line.strip() and _norm(line) not in have and not line.startswith("#")]
    if not added:
        return existing
    merged = existing.rstrip()
    if _ALSO not in merged:
        merged += f"\n\n{_ALSO}\n"
    for line in added:
        if len(merged) + len(line) + 1 > max_chars:
            break
        merged += f"\n{line}"
    return merged + "\n"


def _norm(line: str) -> str:
    return " ".join(line.lower().split())
