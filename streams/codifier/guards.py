"""Guards: pure checks a drafted skill must pass before it is published.

Each guard takes the draft (and the sessions it came from) and returns a
:class:`GuardVerdict`; none raises on odd input and none does I/O. A failed verdict names
the guard and lists reasons (the kind of problem, a span id, and at most a short excerpt of
the offending text), so a rejection flows on as data.

* :func:`check_shape`: the Agent Skills rules (name, a useful description that says what
  the skill does and when to use it, no XML-ish tags, a body with content).
* :func:`check_secrets`: anything ``producers.redact.find_secrets`` flags.
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

import json
import re
from collections.abc import Collection, Iterable, Sequence

from msgspec import Struct

from schemas.events import EventKind
from schemas.sessions import Session
from schemas.skills import MAX_DESCRIPTION_LEN, is_valid_skill_name
from streams.codifier import provenance as pv
from streams.codifier.provenance import Citation, SourceIndex


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


def _excerpt(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


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


def check_shape(draft: DraftText, *, max_body_chars: int) -> GuardVerdict:
    """The Agent Skills rules: a name of lowercase letters, digits and single hyphens
    (at most 64); a description of 1..1024 characters without XML-ish tags that says what
    the skill does and when to use it (at least four words, a situation, not the name
    again); a body with content (not only headings) within ``max_body_chars`` and
    without front matter."""
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

def _find_secrets(text: str) -> list[str]:
    """Kinds of secrets in ``text``, via producers.redact (the one detector)."""
    try:
        from producers.redact import find_secrets
    except ImportError:  # pragma: no cover - until the capture stage's module lands
        return [kind for kind, rx in _FALLBACK_SECRETS if rx.search(text)]
    return [str(getattr(f, "kind", f)) for f in find_secrets(text)]


# Minimal stand-in used only while producers/redact.py is absent.
_FALLBACK_SECRETS = [
    ("anthropic_key", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9]{20,}")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("github_token", re.compile(r"\b(?:ghp|gho|ghs|ghu)_[A-Za-z0-9]{30,}|github_pat_\w{30,}")),
    ("slack_token", re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}")),
    ("private_key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("url_password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
]


def check_secrets(draft: DraftText) -> GuardVerdict:
    kinds = sorted(set(_find_secrets(draft.full())))
    return GuardVerdict("secrets", not kinds, [f"secret of kind {k}" for k in kinds])


# --------------------------------------------------------------------------- injection

class Danger(Struct, frozen=True):
    """A dangerous-action rule over normalized text; ``unconditional`` rules refuse
    whatever the sessions say, the others unless an instruction span grounds the match."""

    kind: str
    pattern: re.Pattern[str]
    unconditional: bool = False


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


DANGERS: tuple[Danger, ...] = (
    Danger("overrides prior instructions", _rx(
        r"\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|the|your|of|my)\s+)*"
        r"(?:previous|prior|above|earlier|existing|system|user'?s?|other|preceding)?\s*"
        r"(?:instructions|rules|directions|prompts?|guidelines|policies|guardrails)\b"
        r"|\byou\s+are\s+now\b|\bnew\s+(?:instructions|rules?)\s*:|\bsystem\s+prompt\b"
        r"|\bignor\w*\s+(?:todas\s+)?las\s+instrucciones|\bignore[rz]?\s+(?:toutes\s+)?les\s+"
        r"instructions|\bignorier\w*\s+(?:alle\s+)?(?:vorherigen\s+|bisherigen\s+)?anweisungen"
        r"|игнорир\w*|предыдущие\s+инструкции|忽略(?:之前|以前|上面|所有)*的?(?:指令|指示|说明)"
        r"|指示を無視"), unconditional=True),
    Danger("pipes downloaded content to an interpreter", _rx(
        r"\b(?:curl|wget|iwr|invoke-webrequest|fetch)\b[^\n|]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b"
        r"|\b(?:curl|wget)\b[^\n|]*\|\s*(?:sudo\s+)?(?:python3?|perl|ruby|node|iex|powershell|pwsh)\b"
        r"|(?:ba|z)?sh\s+<\(\s*(?:curl|wget)|eval\s+[\"']?\$\(\s*(?:curl|wget)"
        r"|base64\s+(?:-d|--decode)[^\n]*\|\s*(?:ba|z)?sh\b|\biex\s*\(\s*(?:iwr|new-object)"
        r"|os\.system\s*\(\s*['\"](?:curl|wget)"), unconditional=True),
    Danger("contains a prompt delimiter", _rx(
        r"<\s*/?\s*(?:untrusted|system|instructions?|source\s+id)\b"), unconditional=True),
    Danger("disables a safety check", _rx(
        r"--dangerously-skip-permissions|\bbypasspermissions\b|\bdefaultmode\b|\ballowedtools\b"
        r"|\bpermissions\.allow\b|\bchmod\s+(?:-r\s+)?(?:0?777|a\+rwx|o\+w)\b|--no-verify\b"
        r"|\bhusky=0\b|\bgit_ssl_no_verify\b|\bssl_?verify\s*[=:]?\s*false\b"
        r"|\bnode_tls_reject_unauthorized\s*=\s*0|--trusted-host\b|--insecure\b"
        r"|--no-check-certificate\b|--privileged\b|--cap-add\b|--no-hooks\b"
        r"|\b(?:disable|turn\s+off|remove|skip|bypass)\s+(?:the\s+)?(?:mfa|2fa|two-factor|kyc|"
        r"verification|branch\s+protection|protection|hooks?|pre-commit|checks|ci|scans?)\b"
        r"|\bassert\s+true\b|\bmark\s+(?:them|it|the\s+tests?|tests?)\s+(?:as\s+)?skipped\b"
        r"|\bcommit\.gpgsign\s*=?\s*false\b")),
    Danger("auto-approves", _rx(
        r"(?<![\w])-{0,2}auto[-_]?approve\b|\bautoapprove\b|--approve\b|--yes\b|--assume-yes\b"
        r"|\bpre-?approved\b|\bapprove\s+(?:\S+\s+){0,3}yourself\b|--admin\b|(?<![\w-])yes\s*\|")),
    Danger("forces", _rx(
        r"(?<![\w-])--force\b(?!-with-lease|-if-includes)|(?<![\w-])-force\b|\bforce\s*[=:]\s*true\b"
        r"|\bforce-unlock\b|--grace-period[= ]0\b|\bpush\s+(?:\S+\s+)?-f\b|\breset\s+--hard\b"
        r"|\brm\s+-(?:rf|fr|r)\b|\bdrop\s+(?:table|database|schema)\b|\btruncate\s+table\b"
        r"|\bdelete\s+(?:namespace|ns)\b|\bdelete\s+\S+\s+--all\b|--no-preserve-root\b")),
    Danger("turns a lock off", _rx(
        r"-{1,2}lock\s*=\s*false\b|\block\s*[=:]\s*false\b|--locked\s*=\s*false\b|--no-lock\b"
        r"|\b(?:disable|skip|remove|ignore|bypass)\s+(?:the\s+)?(?:state\s+)?lock(?:file|ing|s)?\b")),
    Danger("turns confirmation off", _rx(
        r"\bnever\s+(?:ask|confirm|check\s+with|prompt|wait\s+for|mention|tell|report|inform|"
        r"notify|escalate)\w*"
        r"|\b(?:do\s+not|don'?t|must\s+not|should\s+not|no\s+need\s+to)\s+(?:ask|confirm|prompt|"
        r"wait\s+for|mention|tell|report|inform|notify|escalate)\w*"
        r"|\bwithout\s+(?:asking|confirmation|confirming|approval|approving|a\s+review|review|"
        r"reviewing|telling|informing|escalation|escalating|waiting\s+for|prompting|notifying)\b"
        r"|\bno\s+(?:manager\s+|human\s+)?(?:approval|confirmation|review|sign-?off)s?\s+"
        r"(?:is\s+|are\s+)?(?:needed|required|necessary)\b"
        r"|\bskip\s+(?:the\s+)?(?:confirmation|approval|review|prompt|sign-?off)s?\b"
        r"|\breviews?\s+(?:are|is)\s+not\s+(?:needed|required)"
        r"|\b(?:silently|quietly|secretly|covertly)\b|\bbehind\s+the\s+user'?s\s+back\b"
        r"|\bwithout\s+(?:the\s+)?(?:user|customer|reviewer)'?s?\s+(?:knowing|knowledge|noticing)\b"
        r"|\bsin\s+(?:preguntar|confirmar|avisar)|\bne\s+demandez\s+jamais"
        r"|\bsans\s+(?:demander|confirmation|confirmer)|\bohne\s+(?:zu\s+)?(?:fragen|bestätigung|"
        r"rückfrage)|не\s+(?:спрашивая|сообщая)|без\s+подтверждения|不要(?:告诉|通知|询问)"
        r"|无需确认|確認せず|確認なしで")),
    Danger("makes data public", _rx(
        r"--acl\s+public-read\S*|\bpublic-read(?:-write)?\b|--visibility\s+public\b"
        r"|\bmake\s+(?:the\s+\w+\s+|it\s+|them\s+)?public\b|\banyone\s+with\s+the\s+link\b"
        r"|\ballusers\b|\ballauthenticatedusers\b")),
    Danger("persists a change to the environment", _rx(
        r"\bnode_options\b|\bpythonstartup\b|\bld_preload\b|\bdyld_insert_libraries\b"
        r"|\bprompt_command\b|\bbash_env\b|\.(?:bashrc|zshrc|bash_profile|zprofile|zshenv)\b"
        r"|~/\.profile\b|\bconfig\.fish\b|\bcrontab\b|/etc/cron|\bsystemctl\s+enable\b"
        r"|\blaunchctl\s+load\b|\.git/hooks\b|\bcore\.hookspath\b|\bauthorized_keys\b"
        r"|\bsudoers\b|\bnopasswd\b|\bsitecustomize\b|\busercustomize\b|\bcredential\.helper\b"
        r"|\.claude/|\bsettings(?:\.local)?\.json\b|\b(?:pre|post)tooluse\b|\balias\s+sudo\b"
        r"|\bconfig\s+set\s+(?:global\.)?(?:index-url|registry)\b|\b_authtoken\b|\.npmrc\b"
        r"|\.pypirc\b|\bpip\.conf\b")),
    Danger("grants privileges", _rx(
        r"\broles/owner\b|\brole\s*[=:]?\s*(?:owner|admin)\b|\badmins?\s+group\b|\bclusteradmin\b"
        r"|\bcluster-admin\b|\badd-iam-policy-binding\b|\bsudo\s+tee\b|\bsuperuser\b"
        r"|\bgrant\s+(?:\S+\s+){0,3}(?:admin|owner|root)\b")),
    Danger("changes commercial terms", _rx(
        r"\b\d{1,3}\s*%\s*(?:off|discount)\b|\bwaive\w*\b|\bfull\s+refund\b"
        r"|\$\s?\d[\d,]*\s+credit\b|\bfree\s+of\s+charge\b")),
    Danger("destroys data", _rx(
        r"\bdelete\s+(?:the\s+|any\s+|all\s+|every\s+)?(?:audit\s+logs?|logs?|tests?|test\s+files?|"
        r"history|backups?|snapshots?|users?|accounts?|records?|tables?|lock\s?files?)\b|\bpurge\b|\bwipe\b"
        r"|\bshred\b")),
)

_SENSITIVE = _rx(
    r"(?<![\w.])\.env\b|\bid_(?:rsa|ed25519|ecdsa)\b|\.aws/credentials|~/\.ssh\b|\.netrc\b"
    r"|\.docker/config\.json|\bsecrets?\b|\bapi[_ -]?keys?\b|\b\w+_api_key\b|\bcredentials?\b"
    r"|\bpasswords?\b|\btokens?\b|\bprivate\s+keys?\b|\benv(?:ironment)?\s+variables\b"
    r"|\bprintenv\b|(?<![\w-])env\s*\||\byour\s+environment\b|\bcookies?\b")
_TRANSFER = _rx(
    r"\b(?:send|upload|post|e-?mail|paste|share|exfiltrate|forward|transmit|export|submit)\w*\b"
    r"|\bcurl\b[^\n]{0,80}?(?:\s-d\b|\s-f\b|--data|--upload-file|\s-t\s|-x\s+post)"
    r"|\bnc\s+\S+\s+\d+|\bscp\b|\brsync\b|\bwebhook\b")
_NEAR = 80  # characters between a credential and a transfer that make one instruction

_URL = re.compile(r"(?i)\b(?:https?|ftp|wss?)://([^\s/`'\"<>()\]]+)[^\s`'\"<>()\]]*")
_TLDS = ("com|net|org|io|dev|ai|co|xyz|ru|cn|cloud|info|biz|top|site|online|tk|me|us|uk|de|"
         "app|gg|ly|tv|cc|eu|fr|jp|br|au|ca|ch|nl|es|pl|se|link|live|tech|shop|store|page|"
         "email|support|help|zone|pro|net\\.\\w\\w|co\\.\\w\\w")
_HOST = re.compile(
    rf"(?i)(?<![\w@/.-])((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS}))(?![\w-])")
# An address after "@" (mail, git remotes): any letter TLD except file extensions.
_EMAIL = re.compile(r"(?i)[\w.+-]+@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,24}))\b")
_NOT_TLD = frozenset(("png", "jpg", "jpeg", "gif", "svg", "py", "js", "ts", "tsx", "jsx", "md",
                      "txt", "json", "yaml", "yml", "toml", "lock", "sh", "rs", "go", "rb", "java",
                      "css", "html", "exe", "zip", "gz", "tgz", "whl", "so", "dll", "ini", "cfg"))
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_LOOPBACK = {"localhost", "127.0.0.1", "0.0.0.0", "::1"}
# Text of a tool output that addresses the model ("NOTE TO AI AGENTS: ...", "Claude should
# always ...", "Hinweis für KI-Assistenten"), not text that merely contains a word like
# "agent" ("amount exceeds agent refund limit").
_AGENT_ADDRESSED = _rx(
    r"\b(?:note|message|instructions?|attention|notice|hint|tip|reminder|request)\s+(?:to|for)\s+"
    r"(?:all\s+|the\s+|any\s+)?(?:ai|llm|assistant|agent|claude|model|bot|copilot|automation|"
    r"automated|coding)\w*"
    r"|\b(?:ai|llm|coding|automated|support|sdr|scheduling|release|build)\s+(?:agents?|assistants?|"
    r"models?|tools?|bots?|fixers?|readers?|sdr)\b"
    r"|\b(?:claude|assistants?|agents?|copilots?|bots?|gpt|chatgpt|the\s+model|llms?|automation)"
    r"\s*(?:should|must|shall|need\s+to|have\s+to|always|never|:)"
    r"|\bif\s+you\s+are\s+an?\s+(?:ai|assistant|agent|llm|language\s+model|bot)\b"
    r"|\b(?:important|attention|system|operator|automation|agent|assistant)\b[^\n]{0,40}\b(?:always|"
    r"never|must|ignore|should)\b"
    r"|\b(?:for|to)\s+(?:the\s+|any\s+|all\s+)?(?:ai\s+)?(?:assistants?|agents?|bots|copilots)\b"
    r"|\bbot-readable\b|\bmachine-readable\s+instructions\b|\bllm-friendly\b"
    r"|asistentes?\s+de\s+ia|agentes?\s+de\s+ia|assistant\s+ia|l'assistant|assistants?\s+ia"
    r"|ki-assistent\w*|ki-agent\w*|ии-агент\w*|ии-ассистент\w*|для\s+ии|ai\s*助手|人工智能助手"
    r"|aiエージェント|aiアシスタント|assistentes?\s+de\s+ia")
_ADDRESSED_SPAN = 480  # characters after the cue that belong to the addressed instruction


def check_injection(draft: DraftText, sessions: Sequence[Session], *,
                    extra_sources: Iterable[str] = (),
                    index: SourceIndex | None = None) -> GuardVerdict:
    """Refuse dangerous actions the sessions do not ground, and planted instructions."""
    index = index or SourceIndex(sessions, extra_sources)
    readings = pv.variants(_readable(draft))
    reasons = _unsafe_text(draft.full(), readings)
    reasons += dangerous_actions(draft.full(), index, readings=readings)
    trusted = trusted_hosts(sessions) | {h for x in extra_sources for h in hosts_in(x)}
    for host in sorted({h for v in readings for h in hosts_in(v)}):
        if host not in _LOOPBACK and host not in trusted:
            reasons.append(f"host or address not from the user or the agent's own input: {host}")
    copied = _copies_agent_addressed_output(readings, index)
    if copied:
        reasons.append(f"copies an instruction a tool output addressed to AI agents ({copied})")
    return GuardVerdict("injection", not reasons, _dedup(reasons))


def _readable(draft: DraftText) -> str:
    """The whole draft as the rules read it: the name also as words."""
    return f"{draft.name}\n{draft.name.replace('-', ' ')}\n{draft.description}\n{draft.body}"


def _unsafe_text(text: str, readings: list[str] | None = None) -> list[str]:
    """What no session can make acceptable: invisible characters and the unconditional
    dangers (overrides, pipe-to-shell, prompt delimiters)."""
    reasons = []
    hidden = pv.invisible_chars(text)
    if hidden:
        reasons.append(f"contains {hidden} invisible character(s) (tag, zero-width or bidi)")
    for v in readings if readings is not None else pv.variants(text):
        for d in DANGERS:
            if d.unconditional:
                m = d.pattern.search(v)
                if m:
                    reasons.append(f"{d.kind}: {_excerpt(m.group(0), 40)}")
    return reasons


def dangerous_actions(text: str, index: SourceIndex | None, *,
                      allow: Collection[str] = (),
                      readings: list[str] | None = None) -> list[str]:
    """Groundable dangers in the normalized text (and its decoded readings) of a whole
    draft, across line breaks. A match is accepted when ``index`` grounds it in an
    instruction span; with no index nothing is grounded. ``allow`` skips kinds."""
    reasons = []
    for v in readings if readings is not None else pv.variants(text):
        for d in DANGERS:
            if d.unconditional or d.kind in allow:
                continue
            for m in d.pattern.finditer(v):
                frag = m.group(0).strip()
                if index is None or not index.grounded_fragment(frag):
                    reasons.append(f"{d.kind}: {_excerpt(frag, 40)}")
                    break
        if "sends credentials" not in allow:
            reasons += _sends_credentials(v, index)
    return _dedup(reasons)


def _sends_credentials(normalized: str, index: SourceIndex | None) -> list[str]:
    sensitive = list(_SENSITIVE.finditer(normalized))
    if not sensitive:
        return []
    for t in _TRANSFER.finditer(normalized):
        for s in sensitive:
            if abs(s.start() - t.start()) <= _NEAR or abs(s.end() - t.end()) <= _NEAR:
                grounded = index is not None and all(
                    index.grounded_fragment(m.group(0).strip()) for m in (s, t))
                if not grounded:
                    return [f"sends credentials or secrets somewhere: "
                            f"{_excerpt(normalized[min(s.start(), t.start()):max(s.end(), t.end())], 50)}"]
    return []


def _dedup(reasons: list[str]) -> list[str]:
    return list(dict.fromkeys(reasons))


def trusted_hosts(sessions: Sequence[Session]) -> set[str]:
    """Hosts whose first appearance in a session is the user's prompt or the agent's own
    tool input; a host first seen in a tool result or fetched content (or in a customer's
    or prospect's message to a support or SDR agent) is untrusted, even when the agent
    later used it (that is how an injection gets followed)."""
    trusted: set[str] = set()
    for s in sessions:
        tainted: set[str] = set()
        third_party = pv.is_third_party(s.agent_kind)
        for e in sorted(s.events, key=lambda ev: ev.seq):
            if e.kind is EventKind.PROMPT and e.text and third_party:
                tainted |= _hosts_all(e.text) - trusted
            elif e.kind is EventKind.PROMPT and e.text:
                trusted |= _hosts_all(e.text)
            elif e.kind is EventKind.TOOL_CALL and e.tool_input:
                trusted |= _hosts_all(e.tool_input) - tainted
            elif e.kind is EventKind.TOOL_RESULT and e.tool_output:
                tainted |= _hosts_all(e.tool_output) - trusted
    return trusted


def _hosts_all(text: str) -> set[str]:
    return {h for v in pv.variants(text) for h in hosts_in(v)}


def hosts_in(text: str) -> set[str]:
    """Hosts, IPv4 addresses and mail/remote domains (after ``@``) named in ``text``."""
    hosts = {m.group(1).lower().split(":")[0].split("@")[-1] for m in _URL.finditer(text)}
    hosts |= {m.group(1).lower() for m in _HOST.finditer(text)}
    hosts |= {m.group(1).lower() for m in _EMAIL.finditer(text)
              if m.group(2).lower() not in _NOT_TLD}
    hosts |= {m.group(0) for m in _IPV4.finditer(text)}
    return {h.rstrip(".") for h in hosts if h}


def _copies_agent_addressed_output(readings: list[str], index: SourceIndex) -> str | None:
    """The id of a data span whose agent-addressed text (the cue and what follows it, across
    line breaks) shares a run of words with the draft that no instruction holds."""
    addressed: dict[tuple[str, ...], str] = {}
    for s in index.data_spans():
        for v in index.readings[s.id]:
            for m in _AGENT_ADDRESSED.finditer(v):
                ws = pv.words(v[m.start():m.start() + _ADDRESSED_SPAN])
                for g in pv.grams(ws, pv.COPY_K):
                    if index.data_only_gram(g) is not None:
                        addressed.setdefault(g, s.id)
    if not addressed:
        return None
    for v in readings:
        for g in pv.grams(pv.words(v), pv.COPY_K):
            if g in addressed:
                return addressed[g]
    return None


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
                                   f"{_excerpt(u.text)}")
            for run in runs:
                run_text = " ".join(ws[run.start:run.end])
                if pv.is_order(run_text) and not index.from_error_output(ws, run):
                    reasons.append(f"quotes an instruction from tool output ({run.span}): "
                                   f"{_excerpt(run_text)}")
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
                           f"{_excerpt(run_text)}")
        if not step:
            continue
        framed_code = pv.output_framed_code(u.text)
        codes = [u.text] if u.kind == "command" else [
            c for c in pv.code_spans(u.text) if pv.looks_like_command(c) and c not in framed_code]
        for code in codes:
            n = pv.normalize(re.sub(r"^\$\s+", "", code.strip()))
            if not index.in_instruction(n) and index.in_data(n):
                reasons.append(f"command from tool output, never run or asked for: {_excerpt(code)}")
    if draft.citations is not None:
        reasons += _uncited(body_units, draft.citations, index)
    return GuardVerdict("provenance", not reasons, _dedup(reasons))


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
            reasons.append(f"uncited step or rule: {_excerpt(u.text)}")
        elif not any(index.by_id.get(i) is not None
                     and index.by_id[i].trust is pv.Trust.INSTRUCTION
                     for ids in matches for i in ids):
            reasons.append(f"step or rule cites no instruction span: {_excerpt(u.text)}")
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

_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_PLACEHOLDER = re.compile(r"^(?:<[^<>]*>|\{[^{}]*\}|\$\{?[A-Z_][A-Z0-9_]*\}?|\.\.\.|…)$")
# A placeholder inside a token: `<dep>@<version>`, `deploy/<name>`, `--tag={tag}`.
_PLACEHOLDER_PART = re.compile(r"<[A-Za-z][\w .-]*>|\{[A-Za-z_][\w .-]*\}|\$\{[A-Z_][A-Z0-9_]*\}")
_SHELL_NOISE = {"&&", "||", "|", ";", ">", ">>", "<", "2>&1", "&", "\\", "$", "#", "-", "--",
                "=", "(", ")", "[", "]", "{", "}"}
_STRIP = "\"'`,;:()[]{}"
_PROSE_TOKEN = re.compile(r"[^\s`]+")
_PROSE_IGNORE = {"e.g.", "i.e.", "e.g", "i.e", "etc.", "vs.", "a.k.a", "and/or", "n/a", "w/o", "ci/cd",
                 "tcp/ip", "i/o", "read/write", "input/output", "etc", "vs"}
# Product and project names that look like identifiers (CamelCase, dotted) in prose.
PRODUCT_NAMES = frozenset(n.lower() for n in (
    "GitHub", "GitLab", "BitBucket", "PostgreSQL", "MySQL", "SQLite", "MongoDB", "DynamoDB",
    "CockroachDB", "ClickHouse", "BigQuery", "CloudFront", "CloudWatch", "CloudFormation",
    "ElasticSearch", "OpenSearch", "JavaScript", "TypeScript", "CoffeeScript", "PowerShell",
    "DevOps", "PagerDuty", "HubSpot", "LinkedIn", "YouTube", "WordPress", "WhatsApp",
    "FastAPI", "NumPy", "SciPy", "PyTorch", "TensorFlow", "PyPI", "PyCharm", "IntelliJ",
    "WebStorm", "VSCode", "GraphQL", "OpenAPI", "OAuth", "OpenID", "macOS", "iOS", "iPadOS",
    "iPhone", "iPad", "iCloud", "watchOS", "tvOS", "eBay", "PayPal", "DocuSign", "DropBox",
    "OneDrive", "SharePoint", "OneNote", "ServiceNow", "SendGrid", "MailChimp", "RabbitMQ",
    "ActiveMQ", "ZooKeeper", "NodeJS", "ReactJS", "VueJS", "NextJS", "NuxtJS", "jQuery",
    "CircleCI", "TravisCI", "TeamCity", "ArgoCD", "HashiCorp", "GoLand", "RubyGems",
    "CocoaPods", "WebSocket", "WebSockets", "WebAssembly", "WebKit", "WebGL", "OpenAI",
    "DeepMind", "DataDog", "NetSuite", "QuickBooks", "SalesForce", "ZenDesk", "FreshDesk",
    "AirTable", "ClickUp", "GitBook", "LaunchDarkly", "CloudFlare", "DigitalOcean", "HeroKu",
    "SonarQube", "SonarCloud", "AppVeyor", "BuildKite", "GoCD", "CodeQL", "DependaBot",
    "RenovateBot", "StackOverflow", "PgBouncer", "pgAdmin", "TimescaleDB", "InfluxDB",
    "Node.js", "Vue.js", "Next.js", "Nuxt.js", "Express.js", "D3.js", "Three.js", "Chart.js",
    "Deno.land", "ASP.NET", "VB.NET", "ADO.NET", "Socket.IO", "Moment.js", "Ember.js",
    "Backbone.js", "Angular.js", "AngularJS", "Alpine.js", "Svelte.js", "SvelteKit",
    "NestJS", "ExpressJS", "MkDocs", "ReadTheDocs", "PlanetScale", "SingleStore", "FaunaDB",
    "DuckDB", "RocksDB", "LevelDB", "CouchDB", "ArangoDB", "OrientDB", "MariaDB", "ScyllaDB",
    "OpenTelemetry", "OpenTracing", "OpenShift", "OpenStack", "MicroK8s", "MiniKube", "KinD",
    "FluxCD", "JetBrains", "AppleScript", "ActionScript", "TikTok", "SnapChat", "MacBook",
))


def _is_product(tok: str) -> bool:
    return tok.lower() in PRODUCT_NAMES


def _clean(raw: str) -> str:
    """A prose token without surrounding quotes, brackets and sentence punctuation."""
    tok = raw
    while tok and (tok[0] in _STRIP or tok[-1] in _STRIP + ".!?"):
        if tok in ("...", "…"):
            break
        tok = tok.strip(_STRIP).rstrip(".!?") if tok[-1] in _STRIP + ".!?" else tok.lstrip(_STRIP)
    return tok


def concrete_tokens(body: str) -> dict[str, str]:
    """Concrete tokens of a Markdown body -> their kind (code, url, path, flag, identifier,
    setting).

    Everything inside code spans and blocks is concrete (minus shell operators and
    placeholders like ``<file>``); in prose only URLs, paths, flags, ``NAME=value``
    settings and identifiers are, and product names (``PostgreSQL``, ``Node.js``) are not.
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
        tok = _clean(raw)
        if (not tok or tok.lower() in _PROSE_IGNORE or _PLACEHOLDER.match(tok)
                or _is_product(tok)):
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
    if re.match(r"^[A-Za-z_][\w.-]*=\S*$", tok):
        return "setting"  # NAME=value
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
    """(token, kind) of the body's concrete tokens that the corpus does not contain. A
    token with a placeholder part (``<dep>@<version>``) matches any filling."""
    missing = []
    for tok, kind in concrete_tokens(body).items():
        bare = tok.rstrip("/").removesuffix("()")
        if _PLACEHOLDER_PART.search(tok):
            if _matches_with_placeholders(tok, corpus):
                continue
        elif _in_corpus(tok, corpus) or (bare and _in_corpus(bare, corpus)):
            continue
        missing.append((tok, kind))
    return missing


def _placeholder_regex(text: str) -> str:
    out, pos = [], 0
    for m in _PLACEHOLDER_PART.finditer(text):
        out.append(re.escape(text[pos:m.start()]))
        out.append(r"\S+?")
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return "".join(out)


def _matches_with_placeholders(text: str, corpus: str) -> bool:
    if not _PLACEHOLDER_PART.sub("", text).strip(" @/:=-._"):
        return True  # nothing concrete: `<dep>@<version>`
    left = r"(?<![\w-])" if re.match(r"[\w-]", text[0]) else ""
    right = r"(?![\w-])" if re.match(r"[\w-]", text[-1]) else ""
    return re.search(left + _placeholder_regex(text) + right, corpus) is not None


def _in_corpus(token: str, corpus: str) -> bool:
    """``token`` occurs in the corpus as a whole token: "rm" is not grounded by "reformat"."""
    if token not in corpus:
        return False
    left = r"(?<![\w-])" if re.match(r"[\w-]", token[0]) else ""
    right = r"(?![\w-])" if re.match(r"[\w-]", token[-1]) else ""
    return re.search(left + re.escape(token) + right, corpus) is not None


def commands_in(body: str, corpus: str = "") -> list[str]:
    """Multi-word code spans and code-block lines, whitespace-normalized, without a
    leading ``$`` prompt or comments, and commands written in prose: the commands a body
    tells an agent to run. ``corpus`` (flattened) tells where a prose command ends: after
    its longest prefix the corpus holds, plain English words are prose again."""
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
    for start in (m.start() for m in _PROSE_COMMAND.finditer(prose)):
        seg = _PROSE_WORDS.match(prose, start)
        if seg is None:
            continue
        before = prose[max(0, start - 12):start].lower().split()
        if before and before[-1] in _DETERMINERS:
            continue  # "the git history", "your docker image": a noun, not a command
        told = bool(before) and before[-1].strip("(") in _RUN_VERBS
        words = seg.group(0).split()
        head = [words[0]]
        for w in words[1:]:
            bare = w.rstrip(".")
            if not bare or bare.lower() in _PROSE_STOP or _PLACEHOLDER.match(bare):
                break
            head.append(bare)
            if w.endswith("."):
                break  # the sentence ends
        if len(head) < 2:
            continue
        grounded = next((n for n in range(len(head), 1, -1)
                         if corpus and _in_corpus(" ".join(head[:n]), corpus)), 0)
        if grounded == len(head):
            found.append(" ".join(head))  # grounded as a whole: reported, never missing
            continue
        if grounded and _english_after(head[:grounded], head[grounded:]):
            found.append(" ".join(head[:grounded]))  # the command, then English
            continue
        # "git history" is English; "git push --force", "alembic stamp head" or a command
        # the text says to run ("run make install") is a command
        if told or len(head) >= 3 or re.search(r"[-./=_\d]", head[1]):
            found.append(" ".join(head))
    return found


def _plain_word(w: str) -> bool:
    return w.isalpha() and w.islower()


def _english_after(command: list[str], rest: list[str]) -> bool:
    """Do plain words after a grounded command read as English ("npm install
    --legacy-peer-deps resolves the conflict") rather than as more subcommands ("go mod
    vendor")? Yes after a complete-looking command (three words, or one ending in a flag,
    path or value), or when the next word is a verb in the third person."""
    if not all(_plain_word(w) for w in rest):
        return False
    complete = len(command) >= 3 or bool(re.search(r"[-./=_\d]", command[-1]))
    return complete or (len(rest[0]) > 3 and rest[0].endswith("s"))


# A command written in prose, without backticks: a well-known CLI and what follows it up
# to punctuation or a word that ends the command ("run pip install x before the tests").
_PROSE_COMMAND = re.compile(
    r"(?<![\w./-])(?:pip3?|npm|npx|yarn|pnpm|git|docker|kubectl|python3?|cargo|brew|"
    r"apt(?:-get)?|curl|wget|poetry|terraform|helm|gradle|mvn|psql|alembic|go|make|nvm|uv|"
    r"gh|gcloud|aws|az|bq|mypy|ruff|black|pytest|node|rm|chmod|sudo)[ \t]+[^\s,;:!?()]"
)
# The words of a prose command, on its line, up to punctuation (each start is tried).
_PROSE_WORDS = re.compile(r"[^\s,;:!?()]+(?:[ \t]+[^\s,;:!?()]+){0,8}")
_PROSE_STOP = frozenset((  # noqa: SIM905
    "a an the and or to in on for with by at from as is are be it this that then before after "
    "first again instead when if so but which what will should can may must fails failed works "
    "worked command commands call fixes fixed fix helps does did goes runs sure it them "
    "whenever once until unless while because since though although through via into onto "
    "over under without within across per like than using inside around against instead"
).split())
_DETERMINERS = frozenset(("the", "a", "an", "your", "our", "their", "its", "this", "that",
                          "these", "those", "his", "her", "my", "every", "each", "no"))
_RUN_VERBS = frozenset(("run", "running", "execute", "try", "use", "type", "with", "then",
                        "call", "invoke", "re-run", "rerun", "retry"))


def ungrounded_commands(body: str, corpus: str) -> list[tuple[str, str]]:
    """Commands of the body not found as a whole in the corpus: every token may be
    grounded while the command is not (``make checks`` when the session ran
    ``make check`` and printed "all checks passed"). Placeholders match any filling."""
    flat = " ".join(corpus.split())
    missing = []
    for cmd in commands_in(body, flat):
        if _PLACEHOLDER_PART.search(cmd):
            if not _matches_with_placeholders(cmd, flat):
                missing.append((cmd, "command"))
        elif not _in_corpus(cmd, flat):
            missing.append((cmd, "command"))
    return missing


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

    Runs the shape rules, the secrets detector, the unconditional dangers (invisible
    characters, prompt delimiters, instruction overrides, pipe-to-shell) and every
    groundable danger (force, auto-approve, locks off, confirmation off, persistence,
    privileges, publishing data, sending credentials): without sessions nothing grounds
    them, so a skill the codifier published because the user asked for ``--force`` is
    refused here unless its kind is in ``allow`` (a :attr:`Danger.kind`, or
    ``"sends credentials"``). Hosts are not checked (trust needs the sessions)."""
    draft = DraftText(name=name, description=description, body=body)
    reasons: list[str] = []
    for verdict in (check_shape(draft, max_body_chars=max_body_chars), check_secrets(draft)):
        reasons += [f"{verdict.guard}: {r}" for r in verdict.reasons]
    readings = pv.variants(_readable(draft))
    reasons += _unsafe_text(draft.full(), readings)
    reasons += dangerous_actions(draft.full(), None, allow=allow, readings=readings)
    return GuardVerdict("published", not reasons, _dedup(reasons))
