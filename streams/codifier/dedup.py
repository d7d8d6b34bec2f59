"""Near-duplicate detection between a draft and a workspace's skills (pure Python).

Guarantee: :meth:`SkillIndex.nearest` returns the existing skill most similar to a
draft when the similarity reaches the threshold, else ``None``; it is deterministic
(ties go to the lexicographically first name) and never raises on odd text.

Similarity is an IDF-weighted Jaccard index over a skill's *features*: stemmed content
words (stop words dropped), commands (code-block lines and inline code) and key tokens
(flags, paths, assignments, JSON snippets). Weights come from the workspace's own
library, so the house style every skill shares (headings, "Use when ...", template
phrases) weighs little and the specifics of a lesson weigh a lot. Two skills that both
quote commands but share none, or both name flags/paths but share none, are never
duplicates however alike their prose: ``pytest -x`` and ``pytest --lf`` written from one
template differ only there. The index is incremental (add/remove), so a library of
thousands of skills is checked in about a millisecond per draft.

:func:`merge_bodies` builds the body of a MERGE deterministically: the existing body,
then the draft's lines that are new (not a list item restating a line already there),
bounded by ``max_chars``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from msgspec import Struct

from hivemind_kafka.schemas.skills import Skill

DEFAULT_THRESHOLD = 0.5

_STOP = frozenset((  # noqa: SIM905
    "a an the and or of to in on for with by at from as is are be been it this that these "
    "those when whenever if then than use used using run runs ran instead not no do does "
    "don't skill you your should must can will before after into out up down also only "
    "all any each every first again its it's via per so such here there what which"
).split())
_WORD = re.compile(r"[a-z0-9_./-]+")
_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_ALSO = "## Also seen"
# "Learned from N session(s) in X." heads an offline body; the count is provenance (kept in
# the skill's metadata), not a lesson: merging it would only pile up stale counts.
_PROVENANCE_LINE = re.compile(r"^Learned from \d+ session\(s\)")
_KEY_TOKEN = re.compile(r"(?<!\S)(-{1,2}[A-Za-z][\w.=-]*|[\w.-]*[/=_][\w./=-]+|\{[^\s}]+\})")


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=16384)
def code_lines(body: str) -> frozenset[str]:
    """Normalized commands of a body: code-block lines and inline code spans."""
    raw = [ln for block in _CODE_BLOCK.findall(body) for ln in block.splitlines()]
    raw += _CODE_SPAN.findall(_CODE_BLOCK.sub(" ", body))
    lines = {" ".join(re.sub(r"^\s*\$\s+", "", ln).split()) for ln in raw}
    return frozenset(ln for ln in lines if len(ln) >= 3)


@lru_cache(maxsize=16384)
def key_tokens(text: str) -> frozenset[str]:
    """Flags, paths, assignments and JSON snippets, wherever they are written except in
    headings: a heading names a section ("## Steps that led to tests_passed"), and an
    outcome label there differs between two drafts of one lesson."""
    text = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    found = (t.strip(".,;:()") for t in _KEY_TOKEN.findall(text.replace("`", " ")))
    return frozenset(t for t in found if len(t) > 1)


@lru_cache(maxsize=16384)
def features(name: str, description: str, body: str) -> frozenset[str]:
    text = f"{name.replace('-', ' ')}\n{description}\n{body}".lower()
    words = {_stem(w.strip("./-")) for w in _WORD.findall(text)}
    feats = {f"w:{w}" for w in words if w and w not in _STOP}
    feats |= {f"c:{c}" for c in code_lines(body)}
    feats |= {f"k:{k}" for k in key_tokens(body)}
    return frozenset(feats)


KEY_AGREEMENT = 0.6
# Share of the shorter side's commands the other must quote too. One shared line is not
# enough: a rejected edit or a routine `git status` quoted in two lessons says nothing of
# their fixes, and template prose then carried two different lessons into one skill.
CODE_AGREEMENT = 0.5


def _commands(lines: frozenset[str]) -> frozenset[str]:
    """Multi-word code lines: a bare `terraform` names the tool, not the lesson."""
    return frozenset(ln for ln in lines if " " in ln)


def _specifics_agree(code_a: frozenset[str], keys_a: frozenset[str], code_b: frozenset[str],
                     keys_b: frozenset[str]) -> bool:
    """Two lessons can only be one if, where both quote commands, at least half of the
    shorter side's commands are in the other, and, where both name flags/paths, at least
    :data:`KEY_AGREEMENT` of those agree (Jaccard)."""
    if code_a and code_b and \
            len(code_a & code_b) / min(len(code_a), len(code_b)) < CODE_AGREEMENT:
        return False
    return not (keys_a and keys_b and len(keys_a & keys_b) / len(keys_a | keys_b) < KEY_AGREEMENT)


def canonical_body(body: str) -> str:
    """The lesson as first written: the body without what merges appended, so a skill's
    fingerprint does not grow (and start swallowing other lessons) with every merge."""
    return body.split(f"\n{_ALSO}\n", 1)[0]


class Match(Struct, frozen=True):
    name: str
    score: float


class SkillIndex:
    """Features and document frequencies of one workspace's skills (incremental)."""

    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._feats: dict[str, frozenset[str]] = {}
        self._code: dict[str, frozenset[str]] = {}
        self._keys: dict[str, frozenset[str]] = {}
        self._df: Counter[str] = Counter()
        self._postings: dict[str, set[str]] = {}
        for s in skills:
            self.add(s)

    def __len__(self) -> int:
        return len(self._feats)

    def add(self, skill: Skill) -> None:
        self.remove(skill.name)
        body = canonical_body(skill.body)
        feats = features(skill.name, skill.description, body)
        self._feats[skill.name] = feats
        self._code[skill.name] = _commands(code_lines(body))
        self._keys[skill.name] = key_tokens(body)
        self._df.update(feats)
        for f in feats:
            self._postings.setdefault(f, set()).add(skill.name)

    def remove(self, name: str) -> None:
        feats = self._feats.pop(name, None)
        if feats is None:
            return
        self._code.pop(name, None)
        self._keys.pop(name, None)
        self._df.subtract(feats)
        for f in feats:
            posting = self._postings.get(f)
            if posting is not None:
                posting.discard(name)
                if not posting:
                    del self._postings[f]
                    del self._df[f]

    def _idf(self, feature: str) -> float:
        n = len(self._feats) + 1
        return math.log((n + 1) / (self._df.get(feature, 0) + 1)) + 1.0

    def nearest(self, name: str, description: str, body: str, *,
                threshold: float = DEFAULT_THRESHOLD) -> Match | None:
        mine = features(name, description, body)
        my_code, my_keys = _commands(code_lines(body)), key_tokens(body)
        weight = {f: self._idf(f) for f in mine}
        mine_total = sum(weight.values())
        # only skills sharing a specific (non-word) feature or a word not in most skills
        n, candidates = len(self._feats), set()
        for f in mine:
            if f[0] != "w" or n < 20 or self._df.get(f, 0) <= n // 2:
                candidates |= self._postings.get(f, set())
        best: Match | None = None
        for other in sorted(candidates):
            if not _specifics_agree(my_code, my_keys, self._code[other], self._keys[other]):
                continue
            theirs = self._feats[other]
            inter = sum(weight[f] for f in mine & theirs)
            theirs_total = inter + sum(self._idf(f) for f in theirs - mine)
            # overlap coefficient: a merged skill grows with every version, so a new draft
            # of the same lesson is *contained* in it rather than equal to it
            smaller = min(mine_total, theirs_total)
            score = inter / smaller if smaller else 0.0
            if score >= threshold and (best is None or score > best.score):
                best = Match(other, score)
        return best


def merge_bodies(existing: str, new: str, *, max_chars: int) -> str:
    """Existing body plus the new body's lines it does not hold yet (bounded)."""
    have = {_norm(line) for line in existing.splitlines() if line.strip()}
    added = [line for line in new.splitlines()
             if line.strip() and _norm(line) not in have and not line.startswith("#")
             and not _PROVENANCE_LINE.match(line) and _bare(line) not in have]
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


_LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+")


def _bare(line: str) -> str:
    """A list item without its marker and backticks: ``1. `npm run build` `` restates a
    command the body already quotes, so it teaches nothing new (and must not make a new
    version whose only change is a list of steps already there)."""
    return _norm(_LIST_MARK.sub("", line).strip().strip("`"))
