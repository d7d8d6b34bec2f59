"""Guards: pure checks a drafted skill must pass before it is published.

Each guard takes the draft (and the sessions it came from) and returns a
:class:`GuardVerdict`; none raises on odd input and none does I/O. A failed verdict names
the guard and lists reasons (the kind of problem, a span id, and at most a short excerpt of
the offending text), so a rejection flows on as data.

* :func:`check_shape`: the Agent Skills rules (name, a useful description that says what
  the skill does and when to use it, no XML-ish tags, a body with content).
* :func:`check_secrets`: anything ``producers.secrets.redact.find_secrets`` (the edge's own
  detector) flags in the draft or in any block it quotes, taken alone and unescaped.
* :func:`check_injection`: dangerous actions on the normalized text of the *whole* draft
  (disabling confirmations or safety checks, auto-approve, force, locks off, persistence,
  privileges, publishing or sending data and credentials, hosts and addresses the user
  never gave), refused unless an instruction span grounds them (a user who asked for
  ``--force`` may get a skill with ``--force``); and, whatever the sessions say,
  invisible characters, prompt delimiters, instruction overrides, pipe-to-shell and
  copies of text a tool output addressed to AI agents.
* :func:`check_provenance`: a step or rule may only come from an instruction span (the
  user's prompts, the agent's own calls); text matching a data span (tool output, files,
  pages) may only be quoted as output. A citing codifier's steps must cite an
  instruction span (:class:`streams.codifier.provenance.Citation`).
* :func:`check_grounding`: every concrete command, path, flag, identifier and URL in the
  body appears in the source sessions (placeholders, product names and prose are not
  identifiers).

:func:`check_published_body` re-checks a rendered skill without its sessions (skill sync).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

from msgspec import Struct

from hivemind_kafka.schemas.sessions import Session
from hivemind_kafka.schemas.skills import MAX_DESCRIPTION_LEN, is_valid_skill_name
from hivemind_kafka.streams.codifier import dangers
from hivemind_kafka.streams.codifier import provenance as pv
from hivemind_kafka.streams.codifier.dangers import (
    DANGERS,
    Danger,
    dangerous_actions,
    hosts_in,
    trusted_hosts,
)
from hivemind_kafka.streams.codifier.grounding import (
    commands_in,
    concrete_tokens,
    session_corpus,
    ungrounded_commands,
    ungrounded_tokens,
)
from hivemind_kafka.streams.codifier.provenance import Citation, SourceIndex, excerpt

__all__ = [
    "DANGERS", "GUARD_NAMES", "Danger", "DraftText", "GuardVerdict", "check_grounding",
    "check_injection", "check_provenance", "check_published_body", "check_secrets",
    "check_shape", "commands_in", "concrete_tokens", "dangerous_actions", "first_failure",
    "hosts_in", "run_guards", "session_corpus", "trusted_hosts", "ungrounded_commands",
    "ungrounded_tokens",
]


class GuardVerdict(Struct, frozen=True):
    guard: str
    ok: bool
    reasons: list[str] = []


class DraftText(Struct, frozen=True, kw_only=True):
    """The part of a draft the guards read (decoupled from the Draft type).

    ``citations`` is ``None`` for a codifier that does not cite (the offline one); a
    citing codifier passes a list, and its uncited steps and rules are refused."""

    name: str
    description: str
    body: str
    citations: list[Citation] | None = None

    def full(self) -> str:
        return f"{self.name}\n{self.description}\n{self.body}"


# --------------------------------------------------------------------------- shape

_XML_TAG = re.compile(r"<\s*/?\s*[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?\s*>")
_DESC_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
# A description says when it applies in many phrasings: "Use when...", "Fixes X in Y",
# "For support agents closing tickets...", "npm fails with ERESOLVE: ...". What is refused
# is a description with no situation at all ("Pytest.", "Helpful tips", the name again).
_SITUATION = re.compile(
    r"(?i)^\W*\w+ing\b|\b(?:when|whenever|if|before|after|while|during|for|on|in|to|with|once|"
    r"about|how|from|at|by|via|using|where|whether|fails?|failing|failed|errors?|missing|"
    r"broken|cannot|can't|won't|needs?|rejects?|refuses?|crash\w*|wants?|asked|asks|instead|"
    r"not)\b")
_PLACEHOLDER_DESC = re.compile(r"(?i)^\W*(?:todo|tbd|fixme|lorem ipsum.*|description|n/?a|none|"
                               r"skill|a skill|my skill|placeholder)\W*$")
MIN_DESCRIPTION_WORDS = 4


def check_shape(draft: DraftText, *, max_body_chars: int, useful: bool = True) -> GuardVerdict:
    """The Agent Skills rules: a name of lowercase letters, digits and single hyphens
    (at most 64); a description of 1..1024 characters without XML-ish tags that says what
    the skill does and when to use it (at least four words, a situation, not the name
    again); a body with content (not only headings) within ``max_body_chars`` and
    without front matter. ``useful=False`` keeps the format rules and leaves out the
    judgement of the description's wording (the codifier's call, not re-made at the
    edge)."""
    reasons = []
    if not is_valid_skill_name(draft.name):
        reasons.append("name is not a valid Agent Skills name (a-z, 0-9, single hyphens, <= 64)")
    desc = draft.description.strip()
    if not desc:
        reasons.append("description is empty")
    elif len(desc) > MAX_DESCRIPTION_LEN:
        reasons.append(f"description is {len(desc)} chars, limit {MAX_DESCRIPTION_LEN}")
    elif _XML_TAG.search(desc):
        reasons.append("description contains an XML-ish tag")
    elif not useful:
        pass
    elif _PLACEHOLDER_DESC.match(desc):
        reasons.append("description is a placeholder, not what the skill does and when to use it")
    else:
        desc_words = _DESC_WORD.findall(desc)
        if len(desc_words) < MIN_DESCRIPTION_WORDS:
            reasons.append("description is too short to say what the skill does and when to "
                           "use it")
        elif " ".join(w.lower() for w in desc_words) == " ".join(draft.name.split("-")):
            reasons.append("description repeats the name instead of saying when to use it")
        elif not _SITUATION.search(desc):
            reasons.append("description does not say when to use the skill")
    body = draft.body.strip()
    if not body:
        reasons.append("body is empty")
    elif len(draft.body) > max_body_chars:
        reasons.append(f"body is {len(draft.body)} chars, limit {max_body_chars}")
    elif body.startswith("---"):
        reasons.append("body starts with front matter")
    elif all(u.kind == "heading" for u in pv.units_of(body)):
        reasons.append("body has no content besides headings")
    return GuardVerdict("shape", not reasons, reasons)


# --------------------------------------------------------------------------- secrets

def _secret_kinds(text: str) -> set[str]:
    """Kinds of secrets in ``text``, by the one detector the edge redacts with."""
    from hivemind_kafka.producers.secrets.redact import find_secrets

    return {f.kind for f in find_secrets(text)}


_FENCE = re.compile(r"(?ms)^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)")
_INLINE = re.compile(r"(`+)(.+?)\1", re.S)
_QUOTE_LINE = re.compile(r"(?m)^[ \t]{0,3}>[ \t]?(.*)$")
_INDENTED = re.compile(r"(?m)(?:^(?: {4}|\t).*(?:\n|\Z))+")
_ESCAPES = {"\\n": "\n", "\\r": "\r", "\\t": "\t", '\\"': '"', "\\'": "'", "\\/": "/",
            "\\\\": "\\"}


def quoted_blocks(markdown: str) -> list[str]:
    """What a skill quotes, each on its own: fenced and indented code blocks, inline
    code spans, blockquotes (``>`` markers removed, lines joined), plus the unescaped
    form (JSON string escapes, HTML entities, percent-encoding) of any of those and of
    the whole text, so a secret split across quote markers or hidden in escapes is seen
    whole."""
    blocks = [m.group(2) for m in _FENCE.finditer(markdown)]
    blocks += [m.group(0) for m in _INDENTED.finditer(markdown)]
    blocks += [m.group(2) for m in _INLINE.finditer(_FENCE.sub("", markdown))]
    quoted = [m.group(1) for m in _QUOTE_LINE.finditer(markdown)]
    if quoted:
        blocks.append("\n".join(quoted))
    out = []
    for block in [markdown, *blocks]:
        if block is not markdown:
            out.append(block)
        out += [v for v in _unescaped(block) if v != block]
    return out


def _unescaped(text: str) -> list[str]:
    import html
    from urllib.parse import unquote

    variants = []
    if "\\" in text:
        un = text
        for _ in range(2):  # JSON inside JSON: two levels
            un = re.sub(r"\\(?:[nrt\"'/]|\\)", lambda m: _ESCAPES[m.group(0)], un)
        variants.append(un)
    if "&" in text:
        variants.append(html.unescape(text))
    if "%" in text:
        variants.append(unquote(text))
    return variants


def check_secrets(draft: DraftText) -> GuardVerdict:
    """Refuse a draft in which the edge's detector finds a secret: in the whole text,
    or in any block it quotes (taken alone and unescaped)."""
    full = draft.full()
    kinds = _secret_kinds(full)
    for block in quoted_blocks(full):
        kinds |= _secret_kinds(block)
    return GuardVerdict("secrets", not kinds, [f"secret of kind {k}" for k in sorted(kinds)])


# --------------------------------------------------------------------------- injection

def check_injection(draft: DraftText, sessions: Sequence[Session], *,
                    extra_sources: Iterable[str] = (),
                    index: SourceIndex | None = None) -> GuardVerdict:
    """Refuse dangerous actions the sessions do not ground, and planted instructions."""
    index = index or SourceIndex(sessions, extra_sources)
    readings = pv.variants(_readable(draft))
    reasons = dangers.unsafe_text(draft.full(), readings)
    reasons += dangerous_actions(draft.full(), index, readings=readings)
    reasons += dangers.untrusted_hosts(readings, sessions, extra_sources)
    copied = dangers.copies_agent_addressed_output(readings, index)
    if copied:
        reasons.append(f"copies an instruction a tool output addressed to AI agents ({copied})")
    return GuardVerdict("injection", not reasons, dangers.dedup(reasons))


def _readable(draft: DraftText) -> str:
    """The whole draft as the rules read it: the name also as words."""
    return f"{draft.name}\n{draft.name.replace('-', ' ')}\n{draft.description}\n{draft.body}"


# --------------------------------------------------------------------------- provenance

# How long a copy of tool output may be outside an output block: a short fragment (an
# error phrase, a path) anywhere but in a step unless quoted; a whole error message when
# it is quoted or framed as output ("fails with `...`") and comes from a failed call.
MAX_LOOSE_COPY_WORDS = 8
MAX_QUOTED_COPY_WORDS = 24


def check_provenance(draft: DraftText, sessions: Sequence[Session], *,
                     extra_sources: Iterable[str] = (),
                     index: SourceIndex | None = None) -> GuardVerdict:
    """Steps and rules come from instruction spans; data is only quoted as output.

    A *copy* is a run of words found in a data span and in no instruction. Refused: a copy
    that is itself an order ("always ...", "run ...", foreign text) unless it quotes a
    failed call's error inside an output block; in a step or rule, a copy that is not
    quoted or framed as output ("fails with ..."); anywhere outside an output block, a
    copy longer than a short fragment, unless it quotes a failed call's error; a command
    (a line of a command block, inline code in a step not framed as output, or a shell
    line dressed as output) found in a data span and in no instruction. The name and the
    description are read like the body. A citing codifier's steps and rules must each
    cite an instruction span."""
    index = index or SourceIndex(sessions, extra_sources)
    body_units = pv.units_of(draft.body)
    units = body_units + pv.description_units(draft.description, draft.name)
    reasons: list[str] = []
    for u in units:
        norm = pv.normalize(u.text)
        if index.extra and any(norm in x for x in index.extra):
            continue  # kept from the skill a MERGE builds on
        ws = pv.words(norm)
        runs = pv.copied_runs(ws, index)
        if u.kind in ("output", "quote"):
            if u.kind == "output" and pv.looks_like_command_line(u.text):
                n = pv.normalize(re.sub(r"^[$#>]\s+", "", u.text.strip()))
                if not index.in_instruction(n) and index.in_data(n):
                    reasons.append(f"command from tool output, shown as output: "
                                   f"{excerpt(u.text)}")
            for run in runs:
                run_text = " ".join(ws[run.start:run.end])
                if pv.is_order(run_text) and not index.from_error_output(ws, run):
                    reasons.append(f"quotes an instruction from tool output ({run.span}): "
                                   f"{excerpt(run_text)}")
            continue
        step = pv.is_step(u)
        quoted = pv.quoted_word_ranges(u.text)
        for run in runs:
            run_text = " ".join(ws[run.start:run.end])
            size = run.end - run.start
            as_output = (any(a <= run.start and run.end <= b for a, b in quoted)
                         or pv.framed_as_output(ws, run.start))
            pasted = size >= 0.8 * len(ws)  # the unit is a data line, none of its own words
            from_error = index.from_error_output(ws, run)
            if u.kind != "command" and not pv.is_order(run_text) and (
                    (size <= MAX_LOOSE_COPY_WORDS and (as_output or not (step or pasted)))
                    or (size <= MAX_QUOTED_COPY_WORDS and as_output and from_error)
                    or (pasted and not step and from_error and size <= MAX_QUOTED_COPY_WORDS)):
                continue
            reasons.append(f"states tool output ({run.span}) as a step or rule: "
                           f"{excerpt(run_text)}")
        if not step:
            continue
        framed_code = pv.output_framed_code(u.text)
        codes = [u.text] if u.kind == "command" else [
            c for c in pv.code_spans(u.text) if pv.looks_like_command(c) and c not in framed_code]
        for code in codes:
            n = pv.normalize(re.sub(r"^\$\s+", "", code.strip()))
            if not index.in_instruction(n) and index.in_data(n):
                reasons.append(f"command from tool output, never run or asked for: {excerpt(code)}")
    if draft.citations is not None:
        reasons += _uncited(body_units, draft.citations, index)
    return GuardVerdict("provenance", not reasons, dangers.dedup(reasons))


def _uncited(units: list[pv.Unit], citations: list[Citation], index: SourceIndex) -> list[str]:
    cited = [(_plain(c.statement), c.spans) for c in citations if c.statement.strip()]
    reasons = []
    for u in units:
        if u.kind not in ("command", "sentence", "item") or not pv.is_step(u):
            continue
        text = _plain(u.text)
        if not text or (index.extra and any(pv.normalize(u.text) in x for x in index.extra)):
            continue
        matches = [ids for st, ids in cited if _same_statement(text, st)]
        if not matches:
            reasons.append(f"uncited step or rule: {excerpt(u.text)}")
        elif not any(index.by_id.get(i) is not None
                     and index.by_id[i].trust is pv.Trust.INSTRUCTION
                     for ids in matches for i in ids):
            reasons.append(f"step or rule cites no instruction span: {excerpt(u.text)}")
    return reasons


def _plain(text: str) -> str:
    text = re.sub(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+", "", text)
    return pv.normalize(text.replace("`", "").replace("**", ""))


def _same_statement(unit: str, statement: str) -> bool:
    if unit in statement or (len(statement) >= 12 and statement in unit):
        return True
    a, b = set(pv.words(unit)), set(pv.words(statement))
    return bool(a) and len(a & b) >= 0.6 * len(a | b)


# --------------------------------------------------------------------------- grounding

def check_grounding(draft: DraftText, sessions: Sequence[Session], *,
                    extra_sources: Iterable[str] = ()) -> GuardVerdict:
    corpus = session_corpus(sessions, extra_sources)
    text = f"{draft.description}\n{draft.body}"
    missing = ungrounded_tokens(text, corpus) + ungrounded_commands(text, corpus)
    reasons = [f"ungrounded {kind}: {tok[:80]}" for tok, kind in missing[:10]]
    return GuardVerdict("grounding", not missing, reasons)


# --------------------------------------------------------------------------- all

GUARD_NAMES = ("shape", "secrets", "injection", "provenance", "grounding")


def run_guards(draft: DraftText, sessions: Sequence[Session], *, max_body_chars: int,
               extra_sources: Iterable[str] = ()) -> list[GuardVerdict]:
    """Every guard's verdict, in order (shape, secrets, injection, provenance, grounding)."""
    extra = list(extra_sources)
    index = SourceIndex(sessions, extra)
    return [
        check_shape(draft, max_body_chars=max_body_chars),
        check_secrets(draft),
        check_injection(draft, sessions, extra_sources=extra, index=index),
        check_provenance(draft, sessions, extra_sources=extra, index=index),
        check_grounding(draft, sessions, extra_sources=extra),
    ]


def first_failure(verdicts: Iterable[GuardVerdict]) -> GuardVerdict | None:
    return next((v for v in verdicts if not v.ok), None)


def check_published_body(name: str, description: str, body: str, *,
                         max_body_chars: int = 8000,
                         allow: Collection[str] = ()) -> GuardVerdict:
    """Re-check a rendered skill without the sessions it came from (skill sync).

    Runs the shape's format rules (not the judgement of the description's wording), the
    secrets detector, the unconditional dangers (invisible
    characters, prompt delimiters, instruction overrides, pipe-to-shell) and every
    groundable danger (force, auto-approve, locks off, confirmation off, persistence,
    privileges, publishing data, sending credentials): without sessions nothing grounds
    them, so a skill the codifier published because the user asked for ``--force`` is
    refused here unless its kind is in ``allow`` (a :attr:`Danger.kind`, or
    ``"sends credentials"``). Hosts are not checked (trust needs the sessions)."""
    draft = DraftText(name=name, description=description, body=body)
    reasons: list[str] = []
    for verdict in (check_shape(draft, max_body_chars=max_body_chars, useful=False),
                    check_secrets(draft)):
        reasons += [f"{verdict.guard}: {r}" for r in verdict.reasons]
    readings = pv.variants(_readable(draft))
    reasons += dangers.unsafe_text(draft.full(), readings)
    reasons += dangerous_actions(draft.full(), None, allow=allow, readings=readings)
    return GuardVerdict("published", not reasons, dangers.dedup(reasons))
