"""Guards: pure checks a drafted skill must pass before it is published.

Each guard takes the draft (and the sessions it came from) and returns a
:class:`GuardVerdict`; none raises on odd input and none does I/O. A failed verdict names
the guard and lists reasons (coordinates such as the offending token kind, never the
session payload beyond the token itself), so a rejection flows on as data.

* :func:`check_shape`: Agent Skills shape (name, description that says when to use the
  skill, bounded body).
* :func:`check_secrets`: anything ``producers.redact.find_secrets`` (the edge's own
  detector) flags in the draft or in any block it quotes, taken alone and unescaped.
* :func:`check_injection`: instructions planted in tool results or fetched content
  (overrides, pipe-to-shell, exfiltration, hooks/settings/permission changes, hosts the
  user never typed, agent-addressed lines copied from tool output).
* :func:`check_grounding`: every concrete command, path, flag, identifier and URL in the
  body appears in the source sessions' events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from msgspec import Struct

from schemas.events import EventKind
from schemas.sessions import Session
from schemas.skills import MAX_DESCRIPTION_LEN, is_valid_skill_name


class GuardVerdict(Struct, frozen=True):
    guard: str
    ok: bool
    reasons: list[str] = []


class DraftText(Struct, frozen=True, kw_only=True):
    """The part of a draft the guards read (decoupled from the Draft type)."""

    name: str
    description: str
    body: str

    def full(self) -> str:
        return f"{self.name}\n{self.description}\n{self.body}"


# --------------------------------------------------------------------------- shape

_WHEN = re.compile(r"(?i)\b(use (?:this |it )?(?:skill )?(?:when|whenever|if|for|before|after)|"
                   r"when(?:ever)?\b|if you|before|after)\b")


def check_shape(draft: DraftText, *, max_body_chars: int) -> GuardVerdict:
    reasons = []
    if not is_valid_skill_name(draft.name):
        reasons.append("name is not a valid Agent Skills name (a-z, 0-9, single hyphens, <= 64)")
    desc = draft.description.strip()
    if not desc:
        reasons.append("description is empty")
    elif len(desc) > MAX_DESCRIPTION_LEN:
        reasons.append(f"description is {len(desc)} chars, limit {MAX_DESCRIPTION_LEN}")
    elif not _WHEN.search(desc):
        reasons.append("description does not say when to use the skill")
    body = draft.body.strip()
    if not body:
        reasons.append("body is empty")
    elif len(draft.body) > max_body_chars:
        reasons.append(f"body is {len(draft.body)} chars, limit {max_body_chars}")
    if body.startswith("---"):
        reasons.append("body starts with front matter")
    return GuardVerdict("shape", not reasons, reasons)


# --------------------------------------------------------------------------- secrets

def _secret_kinds(text: str) -> set[str]:
    """Kinds of secrets in ``text``, by the one detector the edge redacts with."""
    from producers.redact import find_secrets

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

_OVERRIDE = re.compile(
    r"(?i)\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier|existing|system|user'?s?|other)?\s*"
    r"(?:instructions|rules|directions|prompts?|guidelines|policies)\b"
    r"|\byou\s+are\s+now\b|\bnew\s+instructions\s*:|\bsystem\s+prompt\b"
    r"|\bdo\s+not\s+(?:tell|inform|mention\s+(?:this\s+)?to)\s+the\s+user\b"
    r"|\bwithout\s+(?:asking|telling|informing)\b|\bsilently\b"
)
_PIPE_TO_SHELL = re.compile(
    r"(?i)\b(?:curl|wget|iwr|invoke-webrequest|fetch)\b[^\n]*?\|\s*(?:sudo\s+)?"
    r"(?:ba|z|da)?sh\b|\b(?:curl|wget)\b[^\n]*?\|\s*(?:sudo\s+)?(?:python3?|perl|ruby|node|iex|powershell)\b"
    r"|(?:ba|z)?sh\s+<\(\s*(?:curl|wget)|eval\s+[\"']?\$\(\s*(?:curl|wget)"
    r"|base64\s+(?:-d|--decode)[^\n]*\|\s*(?:ba|z)?sh\b|\biex\s*\(\s*(?:iwr|new-object)"
)
_SENSITIVE = re.compile(
    r"(?i)(?:(?<![\w.])\.env\b|\bid_(?:rsa|ed25519|ecdsa)\b|\.aws/credentials|~/\.ssh\b|\.netrc\b"
    r"|\.npmrc\b|\.pypirc\b|\bsecrets?\b|\bapi[_ -]?keys?\b|\bcredentials?\b|\bpasswords?\b"
    r"|\btokens?\b|\bprivate\s+keys?\b|\benv(?:ironment)?\s+variables\b|\bprintenv\b)"
)
_TRANSFER = re.compile(
    r"(?i)\b(?:send|upload|post|email|e-mail|paste|share|exfiltrate|forward|transmit|report)\b"
    r"|\bcurl\b[^\n]*(?:\s-d\b|\s-F\b|--data|--upload-file|-T\s)|\bnc\s+\S+\s+\d+|\bscp\b|\brsync\b"
    r"|\bwebhook\b"
)
_SETTINGS_TARGET = re.compile(
    r"(?i)\.claude/|\bsettings(?:\.local)?\.json\b|\bhooks?\b|\bpermissions?\b"
    r"|\ballowedtools\b|\bbypasspermissions\b|\bdefaultmode\b|\bsudoers\b|\bauthorized_keys\b"
    r"|\bcore\.hookspath\b|\.git/hooks\b|\b(?:pre|post)tooluse\b|~/\.(?:bash|zsh)rc\b|~/\.profile\b"
    r"|\bcrontab\b"
)
_SETTINGS_CHANGE = re.compile(
    r"(?i)\b(?:add|edit|modify|change|update|disable|remove|delete|install|write|set|configure|"
    r"skip|bypass|turn\s+off|grant|allow|append|overwrite|replace)\b|>>|\btee\b"
)
_ALWAYS_DANGEROUS = re.compile(
    r"(?i)--dangerously-skip-permissions|\bchmod\s+(?:-R\s+)?(?:777|a\+rwx)\b|--no-verify\b"
    r"|\bgit\s+config\s+[^\n]*core\.hookspath|\bsudo\s+rm\s+-rf\s+/"
)
_URL = re.compile(r"(?i)\b(?:https?|ftp|wss?)://([^\s/`'\"<>()\]]+)[^\s`'\"<>()\]]*")
_HOST = re.compile(
    r"(?i)(?<![\w@/.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"(?:com|net|org|io|dev|ai|co|xyz|ru|cn|cloud|info|biz|top|site|online|tk|me|us|uk|de))"
    r"(?![\w-])"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_LOOPBACK = {"localhost", "127.0.0.1", "0.0.0.0", "::1"}
# A line of tool output that addresses the model ("NOTE TO AI AGENTS: ...", "Claude should
# always ...", "IMPORTANT: never ..."), not one that merely contains a word like "agent"
# ("amount exceeds agent refund limit").
_AGENT_ADDRESSED = re.compile(
    r"(?i)\b(?:note|message|instructions?|attention|notice)\s+(?:to|for)\s+(?:all\s+|the\s+)?"
    r"(?:ai|llm|assistant|agent|claude|model|bot|copilot)s?\b"
    r"|\b(?:ai|llm)\s+(?:agents?|assistants?|models?|tools?)\b"
    r"|\b(?:claude|assistants?|agents?|copilot|gpt|chatgpt|the\s+model)\s+"
    r"(?:should|must|shall|needs?\s+to|has\s+to|have\s+to|always|never)\b"
    r"|\bif\s+you\s+are\s+an?\s+(?:ai|assistant|agent|llm|language\s+model)\b"
    r"|\b(?:important|attention|system)\b[^\n]{0,40}\b(?:always|never|must|ignore)\b"
    r"|\b(?:for|to)\s+(?:ai\s+)?(?:assistants|agents)\b"
)


def check_injection(draft: DraftText, sessions: Sequence[Session]) -> GuardVerdict:
    """Refuse instructions that came from tool results or fetched content."""
    text = draft.full()
    reasons = []
    if _OVERRIDE.search(text):
        reasons.append("instruction override")
    if _PIPE_TO_SHELL.search(text):
        reasons.append("pipes downloaded content to an interpreter")
    if _ALWAYS_DANGEROUS.search(text):
        reasons.append("disables a safety mechanism")
    for line in _lines(text):
        if _SENSITIVE.search(line) and _TRANSFER.search(line):
            reasons.append("sends secrets or credentials somewhere")
            break
    for line in _lines(text):
        if _SETTINGS_TARGET.search(line) and _SETTINGS_CHANGE.search(line):
            reasons.append("changes hooks, settings or permissions")
            break
    trusted = trusted_hosts(sessions)
    for host in sorted(hosts_in(text)):
        if host not in _LOOPBACK and host not in trusted:
            reasons.append(f"host not from the user or the agent's own input: {host}")
    if _copies_agent_addressed_output(text, sessions):
        reasons.append("copies an agent-addressed instruction from tool output")
    return GuardVerdict("injection", not reasons, reasons)


def trusted_hosts(sessions: Sequence[Session]) -> set[str]:
    """Hosts whose first appearance in a session is the user's prompt or the agent's own
    tool input; a host first seen in a tool result or fetched content is untrusted, even
    when the agent later used it (that is how an injection gets followed)."""
    trusted: set[str] = set()
    for s in sessions:
        tainted: set[str] = set()
        for e in sorted(s.events, key=lambda ev: ev.seq):
            if e.kind is EventKind.PROMPT and e.text:
                trusted |= hosts_in(e.text)
            elif e.kind is EventKind.TOOL_CALL and e.tool_input:
                trusted |= hosts_in(e.tool_input) - tainted
            elif e.kind is EventKind.TOOL_RESULT and e.tool_output:
                tainted |= hosts_in(e.tool_output) - trusted
    return trusted


def hosts_in(text: str) -> set[str]:
    hosts = {m.group(1).lower().split(":")[0].split("@")[-1] for m in _URL.finditer(text)}
    hosts |= {m.group(1).lower() for m in _HOST.finditer(text)}
    hosts |= {m.group(0) for m in _IPV4.finditer(text)}
    return {h.rstrip(".") for h in hosts if h}


def _copies_agent_addressed_output(text: str, sessions: Sequence[Session], n: int = 5) -> bool:
    draft_grams = _ngrams(_words(text), n)
    if not draft_grams:
        return False
    user_grams: set[tuple[str, ...]] = set()
    for s in sessions:
        for e in s.events:
            if e.kind is EventKind.PROMPT and e.text:
                user_grams |= _ngrams(_words(e.text), n)
    for s in sessions:
        for e in s.events:
            if e.kind is not EventKind.TOOL_RESULT or not e.tool_output:
                continue
            for line in _lines(e.tool_output):
                if _AGENT_ADDRESSED.search(line):
                    shared = (_ngrams(_words(line), n) & draft_grams) - user_grams
                    if shared:
                        return True
    return False


def _lines(text: str) -> list[str]:
    return [ln for ln in re.split(r"[\n\r]+|(?<=[.!?])\s+(?=[A-Z])", text) if ln.strip()]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_./~-]+", text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


# --------------------------------------------------------------------------- grounding

_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_PLACEHOLDER = re.compile(r"^(?:<[^>]*>|\{[^}]*\}|\$\{?[A-Z_][A-Z0-9_]*\}?|\.\.\.|…)$")
_SHELL_NOISE = {"&&", "||", "|", ";", ">", ">>", "<", "2>&1", "&", "\\", "$", "#", "-", "--",
                "=", "(", ")", "[", "]", "{", "}"}
_STRIP = "\"'`,;:()[]{}"
_PROSE_TOKEN = re.compile(r"[^\s`]+")
_PROSE_IGNORE = {"e.g.", "i.e.", "e.g", "i.e", "etc.", "vs.", "a.k.a", "and/or", "n/a", "w/o", "ci/cd",
                 "tcp/ip", "i/o", "read/write", "input/output"}


def concrete_tokens(body: str) -> dict[str, str]:
    """Concrete tokens of a Markdown body -> their kind (code, url, path, flag, identifier).

    Everything inside code spans and blocks is concrete (minus shell operators and
    placeholders like ``<file>``); in prose only URLs, paths, flags and identifiers are.
    """
    tokens: dict[str, str] = {}
    prose = body
    for block in _CODE_BLOCK.findall(body):
        for line in block.splitlines():
            _add_code_tokens(line, tokens)
    prose = _CODE_BLOCK.sub(" ", prose)
    for span in _CODE_SPAN.findall(prose):
        _add_code_tokens(span, tokens)
    prose = _CODE_SPAN.sub(" ", prose)
    for raw in _PROSE_TOKEN.findall(prose):
        tok = raw.strip(_STRIP).rstrip(".!?")
        if not tok or tok.lower() in _PROSE_IGNORE or _PLACEHOLDER.match(tok):
            continue
        kind = _prose_kind(tok)
        if kind:
            tokens.setdefault(tok, kind)
    return tokens


def _add_code_tokens(line: str, tokens: dict[str, str]) -> None:
    line = line.strip()
    if line.startswith(("#", "//")) and not line.startswith("#!"):
        return  # a comment in a code block is prose
    line = re.sub(r"^\$\s+", "", line)
    for raw in line.split():
        tok = raw.strip(_STRIP)
        if "=" in tok and not tok.startswith("-"):
            # VAR=value: both sides are concrete
            left, _, right = tok.partition("=")
            for part in (left, right):
                part = part.strip(_STRIP)
                if len(part) > 1 and not _PLACEHOLDER.match(part):
                    tokens.setdefault(part, "code")
            continue
        if len(tok) <= 1 or tok in _SHELL_NOISE or _PLACEHOLDER.match(tok):
            continue
        tokens.setdefault(tok, _prose_kind(tok) or "code")


def _prose_kind(tok: str) -> str | None:
    if re.match(r"(?i)^(?:https?|ftp|wss?)://", tok):
        return "url"
    if re.match(r"^--?[A-Za-z][\w-]*(?:=\S+)?$", tok) and not re.match(r"^-\d", tok):
        return "flag" if tok.startswith("--") or len(tok) <= 3 else None
    if tok.startswith(("/", "./", "../", "~/")) or (re.search(r"\w\.[A-Za-z0-9]{1,5}$", tok) and (
            "/" in tok)) or tok.count("/") >= 2:
        return "path"
    if re.search(r"\w\.(?:py|js|ts|tsx|json|ya?ml|toml|md|txt|cfg|ini|lock|sh|go|rs|java|rb|sql|"
                 r"csv|html|css|env)$", tok):
        return "path"
    if re.match(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+(?:\(\))?$", tok):
        return "identifier"  # dotted.name
    if re.match(r"^[A-Za-z]\w*_\w+$", tok) or re.match(r"^[a-z]+[A-Z]\w*$", tok) or re.match(
            r"^[A-Z][a-z0-9]+[A-Z]\w*$", tok):
        return "identifier"  # snake_case, camelCase, CamelCase
    return None


def session_corpus(sessions: Iterable[Session], extra: Iterable[str] = ()) -> str:
    """Every text a body may quote: prompts, responses, tool names, inputs (raw and
    JSON-decoded strings) and outputs of the sessions, plus ``extra`` (an existing skill
    body a MERGE builds on)."""
    parts: list[str] = list(extra)
    for s in sessions:
        parts.append(s.project)
        for e in s.events:
            for value in (e.text, e.tool_name, e.tool_output, e.tool_input, e.outcome):
                if value:
                    parts.append(value)
            if e.tool_input:
                parts.extend(_json_strings(e.tool_input))
                compact = _compact_json(e.tool_input)
                if compact:  # the offline codifier quotes non-shell calls this way
                    parts.append(f"{e.tool_name or 'tool'} {compact}")
    return "\n".join(parts)


def _compact_json(raw: str) -> str:
    try:
        return json.dumps(json.loads(raw), separators=(",", ":"), sort_keys=True)
    except ValueError:
        return ""


def _json_strings(raw: str) -> list[str]:
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    out: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def ungrounded_tokens(body: str, corpus: str) -> list[tuple[str, str]]:
    """(token, kind) of the body's concrete tokens that the corpus does not contain."""
    missing = []
    for tok, kind in concrete_tokens(body).items():
        bare = tok.rstrip("/").removesuffix("()")
        if not (_in_corpus(tok, corpus) or (bare and _in_corpus(bare, corpus))):
            missing.append((tok, kind))
    return missing


def _in_corpus(token: str, corpus: str) -> bool:
    """``token`` occurs in the corpus as a whole token: "rm" is not grounded by "reformat"."""
    if token not in corpus:
        return False
    left = r"(?<![\w-])" if re.match(r"[\w-]", token[0]) else ""
    right = r"(?![\w-])" if re.match(r"[\w-]", token[-1]) else ""
    return re.search(left + re.escape(token) + right, corpus) is not None


def commands_in(body: str) -> list[str]:
    """Multi-word code spans and code-block lines, whitespace-normalized, without a
    leading ``$`` prompt or comments: the commands a body tells an agent to run."""
    found = []
    lines = [ln for block in _CODE_BLOCK.findall(body) for ln in block.splitlines()]
    lines += _CODE_SPAN.findall(_CODE_BLOCK.sub(" ", body))
    for line in lines:
        line = re.sub(r"^\$\s+", "", line.strip())
        if not line or line.startswith(("#", "//")):
            continue
        norm = " ".join(line.split())
        if len(norm.split()) >= 2 and not any(_PLACEHOLDER.match(w) for w in norm.split()):
            found.append(norm)
    prose = _CODE_SPAN.sub(" ", _CODE_BLOCK.sub(" ", body))
    for m in _PROSE_COMMAND.finditer(prose):
        words = m.group(0).split()
        head = [words[0]]
        for w in words[1:]:
            bare = w.rstrip(".")
            if not bare or bare.lower() in _PROSE_STOP or _PLACEHOLDER.match(bare):
                break
            head.append(bare)
            if w.endswith("."):
                break  # the sentence ends
        # "git history" is English; "git push --force" or "alembic stamp head" is a command
        if len(head) >= 3 or (len(head) == 2 and re.search(r"[-./=_\d]", head[1])):
            found.append(" ".join(head))
    return found


# A command written in prose, without backticks: a well-known CLI and what follows it up
# to punctuation or a word that ends the command ("run pip install x before the tests").
_PROSE_COMMAND = re.compile(
    r"(?<![\w./-])(?:pip3?|npm|npx|yarn|pnpm|git|docker|kubectl|python3?|cargo|brew|"
    r"apt(?:-get)?|curl|wget|poetry|terraform|helm|gradle|mvn|psql|alembic)"
    r"\s+[^\s,;:!?()]+(?:\s+[^\s,;:!?()]+){0,8}"
)
_PROSE_STOP = frozenset((  # noqa: SIM905
    "a an the and or to in on for with by at from as is are be it this that then before after "
    "first again instead when if so but which what will should can may must fails failed works "
    "worked command commands call fixes fixed fix helps does did goes runs sure it them"
).split())


def ungrounded_commands(body: str, corpus: str) -> list[tuple[str, str]]:
    """Commands of the body not found as a whole in the corpus: every token may be
    grounded while the command is not (``make checks`` when the session ran
    ``make check`` and printed "all checks passed")."""
    flat = " ".join(corpus.split())
    return [(cmd, "command") for cmd in commands_in(body)
            if not _in_corpus(cmd, flat)]


def check_grounding(draft: DraftText, sessions: Sequence[Session], *,
                    extra_sources: Iterable[str] = ()) -> GuardVerdict:
    corpus = session_corpus(sessions, extra_sources)
    text = f"{draft.description}\n{draft.body}"
    missing = ungrounded_tokens(text, corpus) + ungrounded_commands(text, corpus)
    reasons = [f"ungrounded {kind}: {tok[:80]}" for tok, kind in missing[:10]]
    return GuardVerdict("grounding", not missing, reasons)


# --------------------------------------------------------------------------- all

GUARD_NAMES = ("shape", "secrets", "injection", "grounding")


def run_guards(draft: DraftText, sessions: Sequence[Session], *, max_body_chars: int,
               extra_sources: Iterable[str] = ()) -> list[GuardVerdict]:
    """Every guard's verdict, in order (shape, secrets, injection, grounding)."""
    return [
        check_shape(draft, max_body_chars=max_body_chars),
        check_secrets(draft),
        check_injection(draft, sessions),
        check_grounding(draft, sessions, extra_sources=extra_sources),
    ]


def first_failure(verdicts: Iterable[GuardVerdict]) -> GuardVerdict | None:
    return next((v for v in verdicts if not v.ok), None)
