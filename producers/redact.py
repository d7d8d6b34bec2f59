"""Secret redaction: find and mask credentials in free text before it leaves the machine.

Guarantee: :func:`redact` returns the text with every finding of :func:`find_secrets`
replaced by ``[REDACTED:<kind>]`` (for ``KEY=value``, URL passwords and bearer headers
only the value is masked, so the context stays readable) and the number of replacements.
It is pure and deterministic, never raises on any ``str``, and is idempotent (redacting
redacted text changes nothing). It is a best-effort filter, tuned to miss no secret of
the kinds below while leaving git SHAs, UUIDs, paths and ordinary identifiers alone;
the codifier's secret guard calls :func:`find_secrets` as its second line of defence.

Kinds: ``anthropic_key``, ``openai_key``, ``aws_access_key``, ``aws_secret_key``,
``github_token``, ``slack_token``, ``slack_webhook``, ``stripe_key``, ``google_api_key``,
``api_token`` (GitLab, npm, PyPI, Hugging Face, SendGrid... prefixed tokens),
``bearer_token``, ``basic_auth``, ``private_key``, ``jwt``, ``url_password``,
``secret_assignment`` and ``high_entropy`` (long random-looking tokens).

Speed: the Claude Code hook runs this on every tool call, so the module imports nothing
at import time. Patterns compile with :mod:`re` on first use; the hook instead loads them
pre-compiled with :meth:`Redactor.from_compiled` (see that method) and skips importing
``re`` and ``enum`` altogether.
"""

from __future__ import annotations

# (kind, pattern, group holding the secret, folded). Order is priority: on overlapping
# findings the earlier kind wins. ``folded`` patterns run on the ASCII-lowercased text
# (same offsets), so they are case-insensitive yet start with a literal: ``_sre`` then
# jumps between candidate positions instead of trying every one (10x faster than (?i)).
# The "starts a token" check is done in Python for the kinds in _TOKEN_START, for the
# same reason. No pattern nests unbounded repeats (no catastrophic backtracking).
_E = r"(?![A-Za-z0-9_\-])"  # token end
_NAME = (  # secret-looking names, lower case; a suffix must start at a separator
    r"(?:passw(?:or)?d|passphrase|p(?<![a-z]p)ass(?![a-z])|pwd|secret|token|api[_\-]?key"
    r"|apikey|access[_\-]?key|auth(?:[_\-]?(?:key|token))?|private[_\-]?key|client[_\-]?secret"
    r"|credentials?|(?:session|signing|encryption|account|master)[_\-]?key|dsn)s?"
    r"(?:[_.\-][a-z0-9_.\-]{0,40})?"
)
PATTERNS: tuple[tuple[str, str, int, bool], ...] = (
    ("private_key",
     r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
     r"(?:-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----|\Z)", 0, False),
    ("anthropic_key", r"sk-ant-[A-Za-z0-9_\-]{20,}", 0, False),
    ("openai_key", r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", 0, False),
    ("stripe_key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", 0, False),
    ("github_token", r"g(?:h[pousr]_[A-Za-z0-9]{30,255}|ithub_pat_[A-Za-z0-9_]{22,255})", 0,
     False),
    ("slack_token", r"xox[abposr]-[A-Za-z0-9\-]{10,}", 0, False),
    ("slack_webhook",
     r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/\-]{20,}", 0, False),
    ("google_api_key", r"AIza[0-9A-Za-z_\-]{35}" + _E, 0, False),
    # Other providers' prefixed tokens: GitLab, npm, PyPI, Hugging Face, DigitalOcean,
    # Shopify, Slack app-level, SendGrid, Databricks.
    ("api_token",
     r"(?:glpat-|npm_|pypi-|hf_|dop_v1_|shp(?:at|ss|ca|pa)_|xapp-|dapi)[A-Za-z0-9_\-]{20,}"
     r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}", 0, False),
    ("aws_access_key", r"A(?:KIA|SIA|BIA|CCA|IDA|ROA)[0-9A-Z]{16}(?![A-Za-z0-9])", 0, False),
    ("aws_secret_key",
     r"(?:aws.{0,20}?(?:secret|private).{0,20}?|secret[_\-]?access[_\-]?key.{0,5}?)"
     r"[\"']?\s*(?:[:=]|=>|\s)\s*[\"']?([a-z0-9/+]{40})(?![a-z0-9/+=])", 1, True),
    # The lookbehind after the literal keeps the literal search fast and rejects "eyJ"
    # inside a longer token at once (else eyJeyJeyJ... rescans the run per occurrence).
    ("jwt", r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
     0, False),
    # scheme://user:password@host (the password may itself hold '@': up to the last one)
    ("url_password", r"://[^\s:/?#@\"'<>]{0,128}:([^\s/\"'<>]{1,256})@", 1, False),
    ("bearer_token",
     r"(?:bearer|token)[ \t]+([a-z0-9\-._~+/]{12,}=*)(?![a-z0-9\-._~+/=])", 1, True),
    ("basic_auth", r"basic[ \t]+([a-z0-9+/]{12,}={0,2})(?![a-z0-9+/=])", 1, True),
    # "password": "x y z" (JSON/YAML/Python, quoted: the value may hold spaces).
    ("secret_assignment",
     _NAME + r"([\"']?)[ \t]{0,3}(?::|=|:=|=>)[ \t]{0,3}([\"'])([^\"'\r\n]{1,512})\2", 3, True),
    # PASSWORD=x, --password=x, password: x (unquoted: the value ends at white space).
    ("secret_assignment",
     _NAME + r"[ \t]{0,3}(?::|=|:=)[ \t]{0,3}([^\s\"',;&|<>(){}\[\]]{1,512})", 1, True),
    # curl -u user:pass, --user user:pass
    ("secret_assignment",
     r"(?:-u[ \t]{1,3}|--user[= ])[\"']?[^\s:\"']{1,64}:([^\s@\"']{3,256})", 1, False),
    ("high_entropy",
     r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{20,}={0,2}(?![A-Za-z0-9+/_\-=])", 0, False),
)
# Kinds whose match must begin a token (checked in Python: the char before is no letter,
# digit, '_' or '-'); for the folded kinds, whether the keyword begins a word.
_TOKEN_START = frozenset({"anthropic_key", "openai_key", "stripe_key", "github_token", "api_token",
                          "slack_token", "google_api_key", "aws_access_key", "jwt",
                          "bearer_token", "basic_auth"})
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

_MARK = "[REDACTED:"
_BENIGN_VALUES = frozenset({
    "true", "false", "null", "none", "nil", "undefined", "yes", "no", "on", "off",
    "required", "optional", "string", "str", "bytes", "int", "bool", "include", "omit",
    "same-origin", "redacted", "masked", "hidden", "<redacted>",
    # placeholders in docs and examples (user:password@host), not anybody's secret
    "password", "passwd", "pass", "pwd", "secret", "token", "user", "username", "...",
    # English: "secret: its ...", "token: the ..." in prose and comments
    "the", "its", "is", "are", "was", "to", "be", "not", "and", "or", "for", "in", "of",
    "with", "this", "that", "it", "you", "your", "we", "our", "if", "as", "by",
    "from", "at", "when", "will", "can", "must", "should", "has", "have", "one", "see",
})
# Names ending like these hold settings about a secret, not the secret (AUTH_TYPE=oauth).
_BENIGN_NAME_SUFFIXES = (
    "type", "mode", "method", "url", "uri", "host", "port", "file", "path", "dir", "name",
    "length", "len", "count", "limit", "endpoint", "provider", "enabled", "expiry", "ttl",
    "timeout", "header", "scheme", "id", "env", "var", "format", "policy", "version",
)
_ID_PREFIXES = ("toolu_", "msg_", "req_", "srvtoolu_", "sha1-", "sha256-", "sha384-",
                "sha512-", "sha256_", "file_", "batch_", "call_", "run_", "thread_", "asst_")
_HEX_DASH = frozenset("0123456789abcdefABCDEF-")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGIT = frozenset("0123456789")


class Finding:
    """One secret: its ``kind`` and ``span`` = (start, end) in the scanned text."""

    __slots__ = ("kind", "span")

    def __init__(self, kind: str, span: tuple[int, int]) -> None:
        self.kind = kind
        self.span = span

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Finding) and (self.kind, self.span) == (other.kind, other.span)

    def __hash__(self) -> int:
        return hash((self.kind, self.span))

    def __repr__(self) -> str:
        return f"Finding({self.kind!r}, {self.span})"


class Redactor:
    """The compiled pattern set. Build with :meth:`compile` (imports ``re``) or
    :meth:`from_compiled` (no ``re``); both behave identically."""

    def __init__(self, compiled: list) -> None:
        self._compiled = [(kind, pat, group, folded)
                          for (kind, _, group, folded), pat in zip(PATTERNS, compiled, strict=True)]

    @classmethod
    def compile(cls) -> Redactor:
        import re

        return cls([re.compile(src) for _, src, _, _ in PATTERNS])

    @staticmethod
    def compiled_blob() -> bytes:
        """The patterns compiled to ``_sre`` code, for :meth:`from_compiled`.

        Uses CPython's private ``re._parser``/``re._compiler`` (what ``re.compile``
        does); the blob records the interpreter version, the ``_sre`` magic and the
        pattern sources, so a blob from another interpreter or pattern set is refused.
        """
        import _sre
        import marshal
        import sys
        from re import _compiler, _parser  # type: ignore[attr-defined]

        entries = []
        for _, src, _, _ in PATTERNS:
            parsed = _parser.parse(src, 0)
            code = _compiler._code(parsed, 0)
            groupindex = dict(parsed.state.groupdict)
            indexgroup = [None] * parsed.state.groups
            for name, index in groupindex.items():
                indexgroup[index] = name
            entries.append((src, int(parsed.state.flags), [int(c) for c in code],
                            parsed.state.groups - 1, groupindex, tuple(indexgroup)))
        return marshal.dumps((_blob_key(sys, _sre), entries))

    @classmethod
    def from_compiled(cls, blob: bytes) -> Redactor | None:
        """A redactor from :meth:`compiled_blob` output, or ``None`` if the blob does not
        match this interpreter and pattern set (the caller then uses :meth:`compile`).
        ``_sre`` validates the code itself, so a damaged blob is refused, not run."""
        import _sre
        import marshal
        import sys

        try:
            key, entries = marshal.loads(blob)  # noqa: S302 - our own cache file
            if key != _blob_key(sys, _sre) or len(entries) != len(PATTERNS):
                return None
            compiled = []
            for (_, src, _, _), entry in zip(PATTERNS, entries, strict=True):
                if entry[0] != src:
                    return None
                compiled.append(_sre.compile(*entry))
            return cls(compiled)
        except Exception:  # any damage means: recompile
            return None

    def find_secrets(self, text: str) -> list[Finding]:
        """Non-overlapping findings in text order; specific kinds win over high_entropy."""
        if not text:
            return []
        from bisect import bisect_right, insort

        starts: list[int] = []  # accepted spans, sorted and disjoint
        ends: dict[int, int] = {}
        found: list[Finding] = []
        folded = _fold(text)
        for kind, pattern, group, on_folded in self._compiled:
            for m in pattern.finditer(folded if on_folded else text):
                start, end = m.span(group)
                if start < 0 or end <= start:
                    continue
                at = bisect_right(starts, start)
                if (at and ends[starts[at - 1]] > start) or (at < len(starts) and starts[at] < end):
                    continue  # overlaps an earlier (higher-priority) finding
                if not _accept(kind, m, group, text):
                    continue
                insort(starts, start)
                ends[start] = end
                found.append(Finding(kind, (start, end)))
        found.sort(key=lambda f: f.span)
        return found

    def redact(self, text: str) -> tuple[str, int]:
        findings = self.find_secrets(text)
        if not findings:
            return text, 0
        parts = []
        last = 0
        for f in findings:
            parts.append(text[last:f.span[0]])
            parts.append(f"{_MARK}{f.kind}]")
            last = f.span[1]
        parts.append(text[last:])
        return "".join(parts), len(findings)


def _fold(text: str) -> str:
    """ASCII lower case with the same length (offsets stay valid)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A few non-ASCII letters lower to two code points (U+0130): fold ASCII only.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


def _blob_key(sys_module, sre_module) -> tuple:
    return (sys_module.version, sre_module.MAGIC, sre_module.CODESIZE, len(PATTERNS))


def _accept(kind: str, m, group: int, text: str) -> bool:
    start, end = m.span(group)
    if _inside_marker(text, start):
        return False  # already redacted
    if kind in _TOKEN_START:
        first = m.start()
        if first > 0 and text[first - 1] in _TOKEN_CHARS:
            return False
    value = text[start:end]
    if kind == "high_entropy":
        return looks_random(value)
    if kind == "bearer_token":
        return any(c in _DIGIT for c in value) or looks_random(value)
    if kind == "url_password":
        return _is_secret_value(value)
    if kind == "secret_assignment":
        name = text[m.start():start].rstrip("\"' \t:=>").lower()
        if name.endswith(_BENIGN_NAME_SUFFIXES) or name.endswith("tokens"):
            return False  # token_url=..., max_tokens=... (LLM token counts)
        rest = text[end:end + 4].lstrip(" \t")
        if rest[:1] == "=" and rest[1:2] != "=":
            return False  # password: Secret = Secret("") is a type annotation
        if end < len(text) and text[end] in "([" and group == 1:
            return False  # password = read_password(...), token = cfg[...]
        return _is_secret_value(value)
    return True


def _inside_marker(text: str, start: int) -> bool:
    open_at = text.rfind(_MARK, max(0, start - 64), start + len(_MARK))
    return open_at >= 0 and text.find("]", open_at) >= start


def _is_secret_value(value: str) -> bool:
    """An assigned value that may be a secret, not a placeholder, number, path or code."""
    v = value.strip()
    if len(v) < 3 or v.lower() in _BENIGN_VALUES:
        return False
    if v[0] in "$%<{*." or v.startswith(("os.environ", "env.", "process.env", "/", "~/")):
        return False  # a reference to a secret (or a path to one), not the secret itself
    if v.replace(".", "").replace("_", "").replace("-", "").isdigit():
        return False  # max_tokens=1024, token_ttl=3600
    if all(c == v[0] for c in v):
        return False  # xxxxxxxx
    # self.token, settings.api_key: attribute access in code, not a literal
    parts = v.split(".")
    return not (len(parts) >= 2 and all(p.isidentifier() and p.islower() for p in parts))


_SECRET_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "api-key",
    "accesskey", "access_key", "access-key", "privatekey", "private_key", "private-key",
    "credential", "authorization", "auth", "dsn", "pwd", "signing_key", "session_key",
    "encryption_key", "accountkey", "account_key", "masterkey", "master_key", "cookie",
)


def is_secret_name(name: str) -> bool:
    """Does a field/variable name announce a secret (``DB_PASSWORD``, ``x-api-key``,
    ``clientSecret``), rather than a setting about one (``token_url``, ``auth_type``)?"""
    n = name.lower()
    if n.endswith(_BENIGN_NAME_SUFFIXES) or n.endswith("tokens"):
        return False
    if n == "pass" or n.endswith(("_pass", "-pass", ".pass")):
        return True
    for word in _SECRET_WORDS:
        at = n.find(word)
        while at >= 0:
            after = n[at + len(word):]
            if after in ("", "s") or after[0] in "_-." or (after[0] == "s" and after[1] in "_-."):
                return True
            at = n.find(word, at + 1)
    return False


def is_secret_assignment(name: str, value: object) -> bool:
    """Is ``value`` a secret because of the name it is assigned to (JSON keys, kwargs)?"""
    return isinstance(value, str) and is_secret_name(name) and _is_secret_value(value)


def shannon_entropy(token: str) -> float:
    """Bits per character of ``token``'s character distribution."""
    from math import log2

    counts: dict[str, int] = {}
    for c in token:
        counts[c] = counts.get(c, 0) + 1
    n = len(token)
    return -sum(k / n * log2(k / n) for k in counts.values())


def looks_random(token: str) -> bool:
    """A long token that looks like key material rather than a word, id or digest.

    Pure hex (git SHAs, digests) and UUIDs are never random-looking here; known id
    prefixes (``toolu_``, ``msg_``, ``sha512-``...) and path-like tokens are skipped.
    Otherwise: at least 20 characters, digits and letters mixed, and a Shannon entropy
    close to what a random string of that length reaches.
    """
    verdict = _random_cache.get(token)
    if verdict is None:
        if len(_random_cache) > 4096:
            _random_cache.clear()
        verdict = _random_cache[token] = _looks_random(token)
    return verdict


_random_cache: dict[str, bool] = {}  # tool outputs repeat tokens; verdicts are pure


def _looks_random(token: str) -> bool:
    t = token.rstrip("=")
    n = len(t)
    if n < 20:
        return False
    chars = set(t)
    if chars <= _HEX_DASH:
        return False  # hex digests, git SHAs, UUIDs
    if t.startswith(_ID_PREFIXES):
        return False
    has_digit = bool(chars & _DIGIT)
    has_upper = bool(chars & _UPPER)
    has_lower = bool(chars & _LOWER)
    if not has_digit or not (has_upper or has_lower):
        return False
    if "/" in t and not (n == 40 and has_upper and has_lower):  # 40: AWS secret key shape
        # A path: random only if one of its segments is random by itself.
        return any(looks_random(part) for part in t.split("/") if len(part) >= 20)
    if "_" in t or "-" in t:
        # snake/kebab identifiers: many word-like pieces separated by _ or -
        pieces = [p for p in t.replace("-", "_").split("_") if p]
        if len(pieces) >= 3 and max(len(p) for p in pieces) < 12:
            return False
    from itertools import pairwise  # built in: free to import

    if sum(ord(b) - ord(a) == 1 for a, b in pairwise(t)) * 2 > n:
        return False  # alphabets and counters: abcdef...XYZ0123456789
    if not (has_upper and has_lower) and n < 32:
        return False  # base36 lowercase or uppercase words+digits: need length to be sure
    threshold = min(4.3, _log2(n) - 0.7)
    return shannon_entropy(t) >= threshold


def _log2(n: int) -> float:
    from math import log2

    return log2(n)


_default: Redactor | None = None


def default_redactor() -> Redactor:
    """The process-wide redactor (compiled with ``re`` on first use)."""
    global _default
    if _default is None:
        _default = Redactor.compile()
    return _default


def redact(text: str) -> tuple[str, int]:
    """``(text with secrets replaced by [REDACTED:<kind>], number of replacements)``."""
    return default_redactor().redact(text)


def find_secrets(text: str) -> list[Finding]:
    """Every secret found in ``text``, non-overlapping, in text order."""
    return default_redactor().find_secrets(text)
