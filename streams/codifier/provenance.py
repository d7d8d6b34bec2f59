"""Provenance: which text of a session may teach what (pure logic, no I/O).

Every span of a session carries its trust:

* **instruction**: the user's prompts and the agent's own tool calls (``tool_input``);
  a support or SDR agent's prompt may be a customer's or a prospect's message, so it
  grounds ordinary steps but never a dangerous action or a host, and it taints the calls
  after it like data does;
* **data**: tool results of any kind (command output, files read, fetched pages, MCP and
  elicitation results, errors);
* **agent**: the agent's own prose (responses, stop text) and outcome labels: they can
  neither ground a step nor count as data.

A skill may state a step or rule only when it is grounded in an instruction span; text
that matches a data span may appear only inside a quoted output block. Matching is done
on :func:`normalize`\\ d text (NFKC, case folded, whitespace collapsed, look-alike letters
folded, zero-width/bidi/tag characters removed, HTML entities decoded) and on decoded
variants of data (Unicode tag characters read as ASCII, right-to-left overrides reversed,
base64, percent and ``\\u`` escapes decoded), so a line break, an invisible character or an
encoding does not hide a copy.

Span ids are ``s<session>.<seq>`` (1-based session index in the candidate, event seq):
the prompt shows them to the model and :class:`Citation`\\ s name them back.

Never raises on odd input; cost is linear in the text of the sessions.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable, Sequence
from enum import StrEnum

from msgspec import Struct

from hivemind_kafka.schemas.events import AgentKind, EventKind
from hivemind_kafka.schemas.sessions import Session
from hivemind_kafka.streams.candidates import is_failed_result


class Trust(StrEnum):
    INSTRUCTION = "instruction"
    DATA = "data"
    AGENT = "agent"


class Span(Struct, frozen=True, kw_only=True):
    id: str
    trust: Trust
    kind: str  # user_prompt | tool_call | tool_output | agent_text | outcome
    session: int  # 1-based index in the candidate
    seq: int
    text: str
    tool: str = ""
    third_party: bool = False  # a prompt that may come from a customer or prospect
    failed: bool = False  # a tool output that reports a failure (error text)


class Citation(Struct, frozen=True, kw_only=True):
    """A statement of the body (verbatim, or a distinctive part of it) and the ids of the
    spans it comes from."""

    statement: str
    spans: list[str] = []


def excerpt(text: str, n: int = 60) -> str:
    """``text`` on one line, cut to ``n`` characters: all of a span a reason may quote."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def span_id(session_index: int, seq: int) -> str:
    return f"s{session_index}.{seq}"


def spans_of(sessions: Sequence[Session]) -> list[Span]:
    """Every non-empty text of the sessions as a span, in session then seq order."""
    out: list[Span] = []
    for i, s in enumerate(sessions, 1):
        third_party = is_third_party(s.agent_kind)
        for e in sorted(s.events, key=lambda ev: ev.seq):
            sid, tool = span_id(i, e.seq), e.tool_name or ""
            if e.kind is EventKind.PROMPT and e.text:
                out.append(Span(id=sid, trust=Trust.INSTRUCTION, kind="user_prompt", session=i,
                                seq=e.seq, text=e.text, third_party=third_party))
            elif e.kind is EventKind.TOOL_CALL and e.tool_input:
                out.append(Span(id=sid, trust=Trust.INSTRUCTION, kind="tool_call", session=i,
                                seq=e.seq, text=call_text(tool, e.tool_input), tool=tool))
            elif e.kind is EventKind.TOOL_RESULT and e.tool_output:
                out.append(Span(id=sid, trust=Trust.DATA, kind="tool_output", session=i,
                                seq=e.seq, text=e.tool_output, tool=tool,
                                failed=is_failed_result(e)))
            elif e.kind is EventKind.OUTCOME and (e.outcome or e.text):
                out.append(Span(id=sid, trust=Trust.AGENT, kind="outcome", session=i,
                                seq=e.seq, text=" ".join(filter(None, (e.outcome, e.text)))))
            elif e.text:
                out.append(Span(id=sid, trust=Trust.AGENT, kind="agent_text", session=i,
                                seq=e.seq, text=e.text))
    return out


def is_third_party(agent_kind: AgentKind) -> bool:
    """Do this agent's prompts come from outside the team (customers, prospects)?"""
    return agent_kind in (AgentKind.SUPPORT, AgentKind.SDR)


def call_text(tool: str, tool_input: str) -> str:
    """A tool call as the text it can ground: the raw input, its string values (a Bash
    command as typed) and ``tool {compact sorted json}`` (how skills quote other tools)."""
    parts = [tool_input]
    try:
        data = json.loads(tool_input)
    except ValueError:
        return tool_input
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    parts.append(f"{tool or 'tool'} {json.dumps(data, separators=(',', ':'), sort_keys=True)}")
    return "\n".join(parts)


# --------------------------------------------------------------------------- normalization

# Format characters (Unicode category Cf: zero-width, bidi controls, tags...), variation
# selectors and fillers that render as nothing.
_INVISIBLE_EXTRA = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0") | frozenset(
    chr(c) for c in (*range(0x180B, 0x1810), *range(0xFE00, 0xFE10)))
_TAG_RANGE = (0xE0000, 0xE007F)
# Look-alike letters folded to Latin (Cyrillic and Greek forms seen in smuggled text).
HOMOGLYPHS = str.maketrans({
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0445": "x",
    "\u0443": "y", "\u0456": "i", "\u0458": "j", "\u0455": "s", "\u04bb": "h", "\u0501": "d",
    "\u0261": "g", "\u03bf": "o", "\u03b1": "a", "\u03b5": "e", "\u03c1": "p", "\u03ba": "k",
    "\u03bd": "v", "\u03c4": "t", "\u0410": "A", "\u0415": "E", "\u041e": "O", "\u0420": "P",
    "\u0421": "C", "\u0425": "X", "\u041d": "H", "\u041c": "M", "\u0422": "T", "\u041a": "K",
    "\u0412": "B",
})


# Every code point of Unicode category Cf (format: zero-width, bidi controls, tags...)
# plus the extras above, as one character class (checked against unicodedata in tests).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")


def is_invisible(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf" or ch in _INVISIBLE_EXTRA


def invisible_chars(text: str) -> int:
    """How many characters of ``text`` render as nothing (tags, zero-width, bidi...)."""
    return len(_INVISIBLE.findall(text))


def strip_invisible(text: str) -> str:
    return _INVISIBLE.sub("", text)


def normalize(text: str) -> str:
    """Case-folded, NFKC, look-alikes folded, invisibles removed, entities decoded,
    whitespace collapsed to single spaces."""
    text = html.unescape(unicodedata.normalize("NFKC", text))
    text = strip_invisible(text).translate(HOMOGLYPHS)
    return " ".join(text.casefold().split())


_RLO = re.compile("[\u202e\u2067]([^\u202c\u2069\n]*)")
_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}")
_UESC = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})")
# "ops [at] example [dot] com", "ops at example dot com": an address spelled out.
_SPELLED_ADDRESS = re.compile(
    r"(?i)([\w.+-]+)\s*(?:\[at\]|\(at\)|\{at\}|\sat\s)\s*([\w-]+(?:\s*(?:\[dot\]|\(dot\)|"
    r"\{dot\}|\sdot\s|\.)\s*[\w-]+)+)")
_SPELLED_DOT = re.compile(r"(?i)\s*(?:\[dot\]|\(dot\)|\{dot\}|\sdot\s)\s*")


_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")


def _tags_as_ascii(text: str) -> str:
    """Each run of tag characters read as the ASCII it encodes, set apart by spaces."""
    lo = _TAG_RANGE[0]
    return _TAG_RUN.sub(lambda m: " " + "".join(
        chr(ord(c) - lo) for c in m.group(0) if ord(c) - lo >= 0x20) + " ", text)


def _decode_b64(text: str) -> str:
    out = []
    for m in _B64.finditer(text):
        raw = m.group(0)
        try:
            data = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_"
                                    if ("-" in raw or "_" in raw) else None, validate=False)
            decoded = data.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        printable = sum(ch.isprintable() or ch in "\n\t" for ch in decoded)
        if len(decoded) >= 8 and printable >= 0.95 * len(decoded) and re.search(
                r"[A-Za-z]{3}", decoded):
            out.append(decoded)
    return "\n".join(out)


def variants(text: str) -> list[str]:
    """``text`` and the readings an attacker can hide in it (each normalized): tag
    characters as ASCII, right-to-left overrides reversed, base64 blobs, percent and
    backslash escapes decoded. Only distinct, non-empty readings."""
    readings = [text]
    if any(_TAG_RANGE[0] <= ord(c) <= _TAG_RANGE[1] for c in text):
        readings.append(_tags_as_ascii(text))
    if _RLO.search(text):
        readings.append(_RLO.sub(lambda m: m.group(1)[::-1], text))
    if "%" in text:
        readings.append(urllib.parse.unquote(text))
    if _UESC.search(text):
        readings.append(_UESC.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text))
    decoded = _decode_b64(text)
    if decoded:
        readings.append(decoded)
    spelled = [m for m in _SPELLED_ADDRESS.finditer(text)
               if _SPELLED_DOT.search(m.group(2)) or "[" in m.group(0) or "(" in m.group(0)]
    if spelled:
        readings.append(" ".join(f"{m.group(1)}@{_SPELLED_DOT.sub('.', m.group(2))}"
                                 for m in spelled))
    out: list[str] = []
    for r in readings:
        n = normalize(r)
        if n and n not in out:
            out.append(n)
    return out


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff66-\uff9f"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")


def words(normalized: str) -> list[str]:
    """Word tokens of normalized text; each CJK character is a word of its own."""
    return _WORD.findall(normalized)


def grams(ws: Sequence[str], k: int) -> set[tuple[str, ...]]:
    return {tuple(ws[i:i + k]) for i in range(len(ws) - k + 1)}


# --------------------------------------------------------------------------- the index

COPY_K = 4  # a copied run is at least this many consecutive words


class SourceIndex:
    """What the sessions say, by trust, ready for matching a draft against.

    ``extra`` texts (the current body a MERGE builds on) count as instruction text.
    """

    def __init__(self, sessions: Sequence[Session], extra: Iterable[str] = ()) -> None:
        self.spans = spans_of(sessions)
        self.by_id = {s.id: s for s in self.spans}
        self.extra = [normalize(x) for x in extra if x]
        # normalized readings of every span: one for instructions, all variants for data
        self.readings = {s.id: (variants(s.text) if s.trust is Trust.DATA else [normalize(s.text)])
                         for s in self.spans}
        self.instruction_text = "\n".join(
            [self.readings[s.id][0] for s in self.spans if s.trust is Trust.INSTRUCTION]
            + self.extra)
        self.data_text = "\n".join(v for s in self.spans if s.trust is Trust.DATA
                                   for v in self.readings[s.id])
        self._instr_grams: set[tuple[str, ...]] = set()
        for t in self.instruction_text.split("\n"):
            self._instr_grams |= grams(words(t), COPY_K)
        self._data_grams: dict[tuple[str, ...], str] = {}
        self._error_grams: set[tuple[str, ...]] = set()  # held by a failed tool output
        for s in self.spans:
            if s.trust is not Trust.DATA:
                continue
            for v in self.readings[s.id]:
                for g in grams(words(v), COPY_K):
                    self._data_grams.setdefault(g, s.id)
                    if s.failed:
                        self._error_grams.add(g)

    def data_spans(self) -> list[Span]:
        return [s for s in self.spans if s.trust is Trust.DATA]

    def data_only_gram(self, gram: tuple[str, ...]) -> str | None:
        """The id of a data span holding ``gram`` when no instruction holds it."""
        if gram in self._instr_grams:
            return None
        return self._data_grams.get(gram)

    def from_error_output(self, unit_words: Sequence[str], run: CopiedRun,
                          k: int = COPY_K) -> bool:
        """Does a failed tool output (error text) hold every gram of the run?"""
        return all(tuple(unit_words[i:i + k]) in self._error_grams
                   for i in range(run.start, run.end - k + 1))

    def in_instruction(self, normalized: str) -> bool:
        return bool(normalized) and normalized in self.instruction_text

    def in_data(self, normalized: str) -> bool:
        return bool(normalized) and normalized in self.data_text

    def grounded_fragment(self, normalized: str) -> bool:
        """True when an instruction states ``normalized``: a user prompt (or the body a
        MERGE keeps), or an agent's tool call that did not first meet it in a data span
        (or a third party's prompt) of its session: an obeyed injection grounds nothing."""
        if not normalized:
            return False
        if any(normalized in x for x in self.extra):
            return True
        for s in self.spans:
            if (s.trust is not Trust.INSTRUCTION or s.third_party
                    or normalized not in self.readings[s.id][0]):
                continue
            if s.kind == "user_prompt":
                return True
            if not any((d.trust is Trust.DATA or d.third_party) and d.session == s.session
                       and d.seq < s.seq and any(normalized in v for v in self.readings[d.id])
                       for d in self.spans):
                return True
        return False


class CopiedRun(Struct, frozen=True):
    start: int  # word index in the unit
    end: int    # exclusive
    span: str   # a data span id it matches


def copied_runs(unit_words: Sequence[str], index: SourceIndex, k: int = COPY_K) -> list[CopiedRun]:
    """Maximal runs of ``unit_words`` covered by k-grams found in data and in no
    instruction."""
    runs: list[CopiedRun] = []
    for i in range(len(unit_words) - k + 1):
        sid = index.data_only_gram(tuple(unit_words[i:i + k]))
        if sid is None:
            continue
        if runs and runs[-1].end >= i:
            last = runs[-1]
            runs[-1] = CopiedRun(last.start, i + k, last.span)
        else:
            runs.append(CopiedRun(i, i + k, sid))
    return runs


# --------------------------------------------------------------------------- body units

class Unit(Struct, frozen=True):
    """A piece of a body: ``command`` (a line of a code block that is not output),
    ``output`` (a line of a quoted output block), ``quote`` (a blockquote line),
    ``item`` (a list item), ``sentence`` (a prose sentence), ``heading``, ``lead_in``
    (a sentence ending in ":" right before a code block) or ``description`` (a sentence
    of the description)."""

    kind: str
    text: str


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")
OUTPUT_INFOS = frozenset({"text", "txt", "output", "out", "console", "log", "logs", "stderr",
                          "stdout", "plaintext", "plain", "error", "err", "traceback",
                          "shell-session", "pytb", "diff"})
# A lead-in that introduces output, not commands: "failed with:", "The error:", "prints:"
# ("Install with:" and "Fix it with:" introduce commands).
_OUTPUT_LEAD = re.compile(
    r"(?i)(?:\b(?:fails?|failed|failing|errors?|errored|exits?|exited|stops?|stopped|dies|died|"
    r"crash(?:es|ed)?|rejects?|rejected|refuses?|refused|answers?|answered|responds?|responded|"
    r"breaks?|broke|aborts?|aborted)\s+with\b|^\s*with\b|\b(?:error|errors|output|outputs|"
    r"prints?|printed|says?|said|shows?|showed|returns?|returned|message|messages|log|logs|"
    r"response|traceback|expected|result|complains?|complained|fails|failed)\b)"
    r"[^:\n]{0,40}:\s*$")
_LIST = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_SENTENCE_END = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+(?=\\S)")


def description_units(description: str, name: str = "") -> list[Unit]:
    """The description's sentences, and the name read as words ("never-ask-the-user")."""
    units = [Unit("description", s) for s in _SENTENCE_END.split(" ".join(description.split()))
             if s.strip()]
    if name.strip():
        units.append(Unit("description", name.replace("-", " ")))
    return units


def units_of(body: str) -> list[Unit]:
    """The body split into units, in order (fenced blocks, quotes, list items, headings,
    and prose paragraphs split into sentences; a paragraph spans its line breaks)."""
    units: list[Unit] = []
    lines = body.splitlines()
    para: list[str] = []

    def flush() -> None:
        if para:
            text = " ".join(p.strip() for p in para)
            units.extend(Unit("sentence", s) for s in _SENTENCE_END.split(text) if s.strip())
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker, info = fence.group(1), fence.group(2).lower()
            lead = next((u for u in reversed(units) if u.kind != "heading"), None)
            is_output = info in OUTPUT_INFOS or bool(
                lead and lead.text.rstrip().endswith(":") and _OUTPUT_LEAD.search(lead.text))
            if lead is not None and units and units[-1] is lead and lead.text.rstrip().endswith(":"):
                units[-1] = Unit("lead_in", lead.text)
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker[:3]):
                if lines[i].strip():
                    units.append(Unit("output" if is_output else "command", lines[i].strip()))
                i += 1
            i += 1
            continue
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith(">"):
            flush()
            units.append(Unit("quote", stripped.lstrip("> ").strip()))
        elif stripped.startswith("#"):
            flush()
            units.append(Unit("heading", stripped.lstrip("#").strip()))
        elif _LIST.match(line):
            flush()
            item = [_LIST.sub("", line, count=1).strip()]
            while (i + 1 < len(lines) and lines[i + 1].strip() and lines[i + 1].startswith((" ", "\t"))
                   and not _LIST.match(lines[i + 1]) and not _FENCE.match(lines[i + 1])):
                i += 1
                item.append(lines[i].strip())
            units.append(Unit("item", " ".join(item)))
        else:
            para.append(line)
        i += 1
    flush()
    return units


# --------------------------------------------------------------------------- statements

_LEADING = re.compile(
    r"^(?:(?:then|first|next|also|finally|and|so|now|afterwards|otherwise|instead|please|just|"
    r"simply|again|once more|note|tip|important|rule|policy|remember)\b[,:]?\s+)+", re.I)
_CLAUSE = re.compile(
    r"^(?:if|when|whenever|before|after|once|while|unless|until|for|to|in case|on|as)\b"
    r"[^,;:]{0,120}[,;:]\s*", re.I)
IMPERATIVE_VERBS = frozenset((
    "run", "use", "add", "set", "pass", "install", "uninstall", "remove", "delete", "call",
    "open", "share", "send", "forward", "email", "invite", "grant", "give", "create", "apply",
    "push", "pull", "commit", "merge", "deploy", "restart", "retry", "rerun", "re-run",
    "check", "verify", "edit", "change", "update", "upgrade", "downgrade", "configure",
    "enable", "disable", "skip", "ignore", "avoid", "prefer", "try", "execute", "invoke",
    "copy", "paste", "move", "rename", "export", "import", "start", "stop", "kill", "reset",
    "revert", "restore", "approve", "accept", "reject", "close", "escalate", "refund",
    "cancel", "book", "reply", "respond", "tell", "ask", "mark", "tag", "assign", "replace",
    "write", "read", "fetch", "download", "upload", "point", "switch", "cd", "activate",
    "build", "compile", "clean", "clear", "wait", "include", "append", "prepend", "keep",
    "leave", "let", "make", "put", "go", "follow", "contact", "notify", "cc", "bcc",
    "transfer", "wire", "pay", "issue", "offer", "waive", "bypass", "override", "trust",
    "allow", "whitelist", "mute", "hide", "suppress", "turn", "log", "record", "save", "store",
    "attach", "post", "submit", "schedule", "sync", "link", "connect", "authorize",
    "authenticate", "login", "sign", "do", "don't", "dont", "never", "always", "stamp",
    "find", "look", "see", "mention", "report", "drop", "truncate", "purge", "wipe", "chmod",
    "chown", "sudo", "echo", "cat", "curl", "wget", "git", "npm", "pip", "docker", "kubectl",
    "helm", "terraform", "gh", "gcloud", "aws", "az", "pass", "provide", "specify", "supply",
    "enter", "type", "select", "pick", "choose", "rebase", "stash", "tidy", "format", "lint",
    "fix", "patch", "bump", "pin", "unpin", "point", "route", "redirect", "raise", "lower",
    "increase", "decrease", "extend", "reduce", "limit", "narrow", "identify", "resolve",
    "remember", "note", "ensure", "confirm", "re-enroll", "enroll", "unsubscribe", "subscribe",
    "activate", "deactivate", "unlock", "lock", "bcc", "archive", "mount", "expose", "publish",
    "comment", "uncomment", "scale", "rotate", "rollback", "drain", "cordon", "taint",
    "destroy", "shut", "reboot", "terminate", "revoke", "release", "squash", "amend",
    "rewrite", "label", "reopen", "exclude", "allowlist", "blocklist", "ban", "block",
    "unblock", "message", "ping", "text", "charge", "bill", "invoke", "erase", "flush",
    "prune", "vacuum", "reindex", "migrate", "seed", "dump", "backup", "replicate", "ship",
    "return", "exchange", "discount", "credit", "comp", "gift", "escalate", "forward",
    "promote", "demote", "downscale", "upscale", "deploy", "undeploy", "silence", "snooze",
))
_NOT_VERB = frozenset((
    "the", "a", "an", "this", "that", "these", "those", "it", "there", "here", "we", "you",
    "they", "he", "she", "i", "its", "our", "your", "their", "my", "when", "if", "then", "and",
    "or", "but", "so", "as", "for", "to", "in", "on", "at", "by", "of", "with", "from", "no",
    "not", "yes", "all", "some", "any", "each", "every", "both", "only", "also", "just", "now",
    "what", "which", "who", "why", "how", "where", "one", "two", "most", "many", "much",
    "more", "less", "same", "other", "another", "such", "nothing", "everything", "something"))
_OBJECT_OPENERS = frozenset(("the", "a", "an", "all", "every", "any", "your", "this", "that",
                             "these", "those", "out", "up", "off", "it", "them", "each", "its",
                             "their", "our", "my"))


def verb_shaped(ws: Sequence[str]) -> bool:
    """Words that open like an order even with a verb no list holds: a word that is no
    article, pronoun or connective, then an article or particle ("scale the api",
    "comment out the asserts", "rotate all keys")."""
    return (len(ws) >= 2 and ws[0].isalpha() and ws[0] not in _NOT_VERB
            and ws[1] in _OBJECT_OPENERS)
_RULE = re.compile(
    r"(?i)\b(?:must|should|shall|always|never|do\s+not|don'?t|need\s+to|needs\s+to|have\s+to|"
    r"has\s+to|make\s+sure|be\s+sure|ensure|remember\s+to|required|mandatory|no\s+need|"
    r"without\s+(?:asking|confirm\w*|approv\w*|review\w*|telling|escalat\w*|waiting|prompt\w*|"
    r"inform\w*|notify\w*)|pre-?approved|automatically|instead\s+of|avoid)\b")


_QUOTED = re.compile(r"`[^`\n]*`|\"[^\"\n]*\"|“[^”\n]*”|(?<!\w)'[^'\n]+'(?!\w)")


def own_words(text: str) -> str:
    """``text`` without what it quotes (inline code, quoted strings): the draft's own
    words, which decide whether a sentence is a step."""
    return _QUOTED.sub(" ", text)


_CLAUSE_SPLIT = re.compile("[:;,.!?\u2013\u2014]\\s+|\\s+[-\u2013\u2014]\\s+|\\(|\\)|\\|")


# Function words of languages written in Latin script other than English: text made of
# them is not classified (treated as an instruction), like text in other scripts.
_FOREIGN = frozenset((
    "el", "la", "los", "las", "del", "que", "y", "un", "una", "para", "por", "con", "sin",
    "siempre", "nunca", "antes", "después", "le", "les", "des", "du", "et", "pour", "avec",
    "sans", "jamais", "toujours", "avant", "vous", "der", "die", "das", "und", "nicht", "immer",
    "nie", "mit", "ohne", "für", "vor", "sie", "il", "lo", "gli", "non", "sempre", "mai",
    "per", "prima", "os", "não", "com", "sem", "você", "ne", "pas", "est", "sont", "ist",
    "zu", "auf", "ein", "eine", "al", "es", "su", "sus", "leur", "sur", "dans", "aux"))
_ENGLISH = frozenset(("the", "and", "to", "of", "a", "in", "is", "it", "for", "with", "on",
                      "that", "this", "be", "are", "you", "not", "or", "as", "at", "by",
                      "from", "if", "when", "then", "run", "use"))


def foreign(text: str) -> bool:
    """Text mostly not in English: another script, or Latin-script function words of
    another language outnumbering English ones."""
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isascii() for c in letters) < 0.6 * len(letters):
        return True
    ws = re.findall(r"[^\W\d_]+", text.lower())
    f = sum(w in _FOREIGN for w in ws)
    return f >= 2 and f > sum(w in _ENGLISH for w in ws)


def reads_as_instruction(text: str) -> bool:
    """A step or a rule: a clause that opens with an imperative (after a leading
    connective or condition), a modal rule (must, never, always, without asking...), or
    foreign text (not classified: treated as an instruction)."""
    t = re.sub(r"[`*_\"“”]", "", text).strip()
    if not t:
        return False
    if foreign(t):
        return True
    if _RULE.search(t):
        return True
    for clause in _CLAUSE_SPLIT.split(t):
        c = _LEADING.sub("", _CLAUSE.sub("", _LEADING.sub("", clause.strip())))
        first = re.match(r"[A-Za-z][\w'-]*", c)
        if first and first.group(0).lower() in IMPERATIVE_VERBS:
            return True
        if first and first.group(0)[0].islower() and verb_shaped(c.lower().split()):
            return True
    return False


def is_step(unit: Unit) -> bool:
    """Does this unit tell the reader to do something? Command lines do; list items,
    sentences and description sentences do when their own words (quotes removed) read as
    an instruction, and a list item that is only inline code is a step."""
    if unit.kind == "command":
        return True
    if unit.kind not in ("sentence", "item", "description", "heading", "lead_in"):
        return False
    own = own_words(unit.text)
    if unit.kind == "item" and not re.search(r"\w", own) and code_spans(unit.text):
        return True
    return reads_as_instruction(own)


# What an order looks like inside quoted text: it opens with an imperative, or states a
# rule to the reader ("always", "never", "you must"). Error text ("start must include a
# timezone offset") does not.
_ORDER = re.compile(
    r"(?i)\b(?:always|never|do\s+not|don'?t|make\s+sure|be\s+sure|remember\s+to|you\s+(?:must|"
    r"should|need\s+to|have\s+to)|without\s+(?:asking|confirm\w*|approv\w*|review\w*|telling))\b")


# Verbs that give an order wherever a clause opens with them (not nouns that open error
# lines: "log", "read", "type", "report"...).
_ORDER_VERBS = IMPERATIVE_VERBS - frozenset((
    "log", "read", "note", "type", "record", "issue", "report", "post", "find", "look", "see",
    "build", "lock", "link", "start", "stop", "point", "format", "patch", "limit", "route",
    # tool names open error lines too ("npm ERR! ..."): a command is told by its subcommand
    "git", "npm", "pip", "docker", "kubectl", "helm", "terraform", "gh", "gcloud", "aws", "az",
    "curl", "wget", "echo", "cat", "chmod", "chown", "sudo"))
# Error lines that open like "<word> the ...": not orders.
_ORDER_EXEMPT = frozenset(("error", "warning", "fatal", "failed", "cannot", "unable", "missing",
                           "found", "expected", "got", "using", "see", "note", "hint", "ran",
                           "running", "done", "updated", "created", "deleted", "removed",
                           "added", "skipping", "skipped", "refusing", "rejected", "reading",
                           "writing", "fetching", "building", "installing", "collecting"))
_CLAUSE_OPENERS = frozenset(("if", "when", "whenever", "once", "before", "after", "then", "also",
                             "please", "just", "always", "never", "first", "instead",
                             "otherwise", "simply", "now"))


# A command in normalized words (punctuation gone): a tool with a changing subcommand, a
# download, a removal or a permission change.
_ORDER_COMMAND = re.compile(
    r"(?:sudo\s+)?(?:(?:pip3?|npm|npx|yarn|pnpm|gem|cargo|go|brew|apt|apt-get|uv|poetry|git|"
    r"docker|kubectl|helm|terraform|gh|gcloud|aws|az)\s+(?:install|add|i|config|set|exec|apply|"
    r"push|delete|remove|rm|run|uninstall|update|upgrade|create|edit|destroy|import)\b"
    r"|(?:curl|wget)\s+(?:\S+\s+){0,4}(?:https?|ftp)\b|(?:chmod|chown|rm)\s+\S)")


def is_order(run_text: str) -> bool:
    """A copied run (normalized words) that is itself an instruction, even when quoted as
    output: a rule to the reader ("always", "never", "you must"), non-English text, or an
    order verb opening the run or following a clause opener ("if it fails, run ...")."""
    t = run_text.strip()
    if foreign(t):
        return True
    if _ORDER.search(t) or _ORDER_COMMAND.match(t):
        return True
    ws = t.split()
    # a list number, a table cell or a label may stand before the order ("1 comment out ...")
    core = ws[1:] if ws and (ws[0].isdigit() or ws[0] in ("step", "todo", "note", "tip")) else ws
    if verb_shaped(core) and core[0] not in _ORDER_EXEMPT:
        return True
    for i, w in enumerate(ws):
        if w in _ORDER_VERBS and (i == 0 or any(x in _CLAUSE_OPENERS for x in ws[max(0, i - 8):i])):
            return True
    return False


_OUTPUT_CUE = re.compile(
    r"(?i)\b(?:fails?|failed|failing|errors?|errored|says?|said|prints?|printed|shows?|showed|"
    r"shown|returns?|returned|answers?|answered|reports?|reported|complains?|complained|"
    r"rejects?|rejected|refuses?|refused|outputs?|message|messages|reads|stops?|stopped|"
    r"exits?|exited|mentions?|mentioning|with|expected|expect|like|as|e\.g|text|line|"
    r"warning|warns?|warned|responds?|responded|response|traceback|crash(?:es|ed)?|"
    r"breaks?|broke)\b")


def framed_as_output(unit_words: Sequence[str], start: int) -> bool:
    """The draft's own words just before word ``start``, within the same unit, present
    what follows as what a tool printed ("fails with ...", "the error says ...")."""
    own = " ".join(unit_words[max(0, start - 8):start])
    return bool(own) and _OUTPUT_CUE.search(own) is not None


def quoted_word_ranges(unit_text: str) -> list[tuple[int, int]]:
    """Word index ranges of the unit (normalized) that sit inside inline code or quotes."""
    ranges: list[tuple[int, int]] = []
    pos = 0
    for m in _QUOTED.finditer(unit_text):
        before = len(words(normalize(unit_text[pos:m.start()])))
        inner = len(words(normalize(m.group(0))))
        start = (ranges[-1][1] if ranges else 0) + before
        ranges.append((start, start + inner))
        pos = m.end()
    return ranges


def output_framed_code(unit_text: str) -> set[str]:
    """Inline code that the sentence presents as output ("... shows `amount 4900`")."""
    out = set()
    for m in _CODE_SPAN.finditer(unit_text):
        before = unit_text[max(0, m.start() - 48):m.start()].split()[-4:]
        if before and _OUTPUT_CUE.search(" ".join(before)):
            out.add(m.group(1))
    return out


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def code_spans(text: str) -> list[str]:
    return _CODE_SPAN.findall(text)


# A line of an output block that is really a command: a shell prompt, or a package,
# config or VCS tool with a subcommand that changes something.
_COMMAND_LINE = re.compile(
    r"^(?:\$|#|>)\s+\S|^(?:sudo\s+)?(?:pip3?|npm|npx|yarn|pnpm|gem|cargo|go|brew|apt(?:-get)?|yum|"
    r"dnf|apk|uv|poetry|git|docker|kubectl|helm|terraform|gh|gcloud|aws|az)\s+(?:install|add|i|"
    r"config|set|exec|apply|push|delete|remove|rm|run|uninstall|update|upgrade|create|edit|"
    r"destroy|import|get-credentials)\b|^(?:sudo\s+)?(?:curl|wget|chmod|chown|rm|echo|export|"
    r"source|bash|sh|eval)\s+\S")


def looks_like_command_line(line: str) -> bool:
    """An output-block line that reads as a command someone would run."""
    return _COMMAND_LINE.match(line.strip()) is not None


def looks_like_command(code: str) -> bool:
    """Inline code worth checking as a command: several words, or a flag, path or ``=``."""
    c = code.strip()
    return len(c.split()) >= 2 or bool(re.search(r"(?:^|\s)--?[A-Za-z]|/|=", c))
