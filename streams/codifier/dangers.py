"""Dangerous actions in a skill, read on the normalized text of the whole draft (pure).

Two tiers. *Unconditional* rules refuse whatever the sessions say: invisible characters,
prompt delimiters, instruction overrides, pipe-to-shell. *Groundable* rules (confirmation,
review, lock or safety check turned off, auto-approve, force, persistence such as
``NODE_OPTIONS``/shell rc/cron/git hooks, privileges, public data, commercial terms,
destroyed data, credentials sent somewhere) refuse a match unless an instruction span
grounds it (:meth:`streams.codifier.provenance.SourceIndex.grounded_fragment`): a user who
asked for ``--force`` may get a skill with ``--force``; a call the agent made because a
tool output said so grounds nothing. Hosts and addresses (including after ``@``) are
trusted only when they first appear in the user's prompt or the agent's own call.
Functions return reasons (the rule's kind and a short excerpt), never raise.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

from msgspec import Struct

from hivemind_kafka.schemas.events import EventKind
from hivemind_kafka.schemas.sessions import Session
from hivemind_kafka.streams.codifier import provenance as pv
from hivemind_kafka.streams.codifier.provenance import SourceIndex, excerpt


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
LOOPBACK = {"localhost", "127.0.0.1", "0.0.0.0", "::1"}
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


def unsafe_text(text: str, readings: list[str] | None = None) -> list[str]:
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
                    reasons.append(f"{d.kind}: {excerpt(m.group(0), 40)}")
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
                    reasons.append(f"{d.kind}: {excerpt(frag, 40)}")
                    break
        if "sends credentials" not in allow:
            reasons += _sends_credentials(v, index)
    return dedup(reasons)


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
                            f"{excerpt(normalized[min(s.start(), t.start()):max(s.end(), t.end())], 50)}"]
    return []


def dedup(reasons: list[str]) -> list[str]:
    return list(dict.fromkeys(reasons))


def untrusted_hosts(readings: list[str], sessions: Sequence[Session],
                    extra_sources: Iterable[str] = ()) -> list[str]:
    """A reason for each host or address in the readings that is neither loopback nor
    trusted (:func:`trusted_hosts`, or named by the body a MERGE keeps)."""
    trusted = trusted_hosts(sessions) | {h for x in extra_sources for h in hosts_in(x)}
    return [f"host or address not from the user or the agent's own input: {host}"
            for host in sorted({h for v in readings for h in hosts_in(v)})
            if host not in LOOPBACK and host not in trusted]


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


def copies_agent_addressed_output(readings: list[str], index: SourceIndex) -> str | None:
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
