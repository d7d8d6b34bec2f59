"""Secret redaction: find and mask credentials in free text before it leaves the machine.

Guarantee: :func:`redact` returns the text with every finding of :func:`find_secrets`
replaced by ``[REDACTED:<kind>]`` and the number of replacements. For ``KEY=value``,
URL passwords, CLI password flags and auth headers only the value is masked, so the
context stays readable. A finding always runs to the end of the token it sits in, so no
length limit of a rule lets a secret's tail through; a private key whose END line never
comes is masked to the end of the text. It is pure and deterministic, never raises on
any ``str``, and is idempotent (redacting redacted text changes nothing).

The one detector: the Claude Code hook, the SDK (:mod:`hivemind_kafka.producers.sdk`) and the
codifier's secrets guard (:mod:`hivemind_kafka.streams.codifier.guards`) all call this module.

Rule set (written here; nothing generated or copied from an outside rule set)
------------------------------------------------------------------------------
1. **Structure** (:mod:`hivemind_kafka.producers.secrets.rules`): private keys (PEM and SSH2
   armour, also cut off before their END line; PuTTY ``Private-Lines``; .NET XML
   ``<D>``/``<P>``...; ``openssl -text`` dumps), JWTs, URL passwords (authority and
   query string), auth headers, netrc and pgpass lines, Azure SAS signatures.
2. **Names and context**: ``NAME=value`` / ``"name": "value"`` / table rows / XML judged
   by the name (:func:`is_secret_name`) and the value, passwords on command lines
   (``az login -p``, ``mysql -p<pw>``, ``sshpass -p``, ``--password x``, ``pass:x``...),
   in prose ("the password is X", git's credential prompt), SQL, the line a
   secret-reading command prints.
3. **Provider formats**: a table of documented token prefixes with each body's alphabet
   and shortest length, and fixed shapes (AWS ``AKIA``/``ASIA`` + 16, Tencent ``AKID`` +
   32, Twilio ``SK`` + 32 hex, Asana ``2/<id>/<id>:<32 hex>``...).
4. **Entropy** over every long token, with look-alike allowances
   (:mod:`hivemind_kafka.producers.secrets.values`): hex digests, git SHAs, UUIDs and trace ids (hex),
   ULIDs, go.sum / SRI / ``sha256:`` digests, SSH public keys and fingerprints, X.509
   certificates (PEM blocks and DER), nix store paths, Stripe object ids (``evt_``,
   ``ch_``... and publishable ``pk_`` keys), LLM API ids (``msg_``, ``toolu_``,
   ``chatcmpl-``...), IPFS CIDs, addresses, images, data: URIs, PKCE challenges, CSP
   nonces, values named as ids or public keys, placeholders (``sk-...``, ``EXAMPLE``),
   and bare tokens under 28 characters (only a name or a prefix can tell those).
5. **Base64 wraps**: a base64 token (or a block of wrapped base64 lines) that decodes to
   text is judged by what it decodes to: it is masked whole if the text holds a
   secret (a service-account JSON, a kubeconfig key, ``user:password``), kept if not.

Speed: the hook runs this on every tool call (budget: the whole hook within 2x the
start-up of ``python -c pass`` at p50). One pass of a keyword trie over the lower-cased
text finds where rules can match (a keyword pre-filter); a rule whose matches
start with a keyword is tried only at those positions (``lead``), others only in a window
around them. Nothing is compiled at import: patterns compile on first use with :mod:`re`,
or load pre-compiled from :meth:`Redactor.compiled_blob` (the hook's cache), where each
rule's ``_sre`` code is built only when its keyword occurs.
"""

from __future__ import annotations

from hivemind_kafka.producers.secrets.rules import LOCAL_RULES, STDIN_PASSWORD_READERS
from hivemind_kafka.producers.secrets.values import (
    ALLOW_BEFORE,
    B64_CHARS,
    BENIGN_VALUES,
    DIGIT,
    ID_NAME_WORDS,
    PUBLIC_NAME_WORDS,
    assigned_name,
    decode_base64,
    is_address,
    is_identifier,
    is_path,
    is_placeholder,
    is_public_binary,
    is_secret_assignment,
    is_secret_name,
    is_secret_value,
    looks_random,
    name_start,
    name_words_before,
    prints_secret,
    public_pem_blocks,
    shannon_entropy,
)

__all__ = ["LOCAL_RULES", "Finding", "Redactor", "default_redactor",
           "find_secrets", "is_secret_assignment", "is_secret_name", "looks_random",
           "prints_secret", "redact", "redact_tree", "shannon_entropy"]

# Rules in priority order (overlapping findings merge; the earlier kind names them).
_RULES: tuple[tuple, ...] = LOCAL_RULES
# Those that find a secret by the name it is assigned to (public names exempt them).
_NAMED_RULES = frozenset(
    i for i, r in enumerate(_RULES)
    if r[8] in ("assignment", "named", "table"))
# Runs of token characters the entropy pass judges (after the rules in the pattern list).
_RUN_PATTERN = r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{20,}={0,2}(?![A-Za-z0-9+/_\-=])"
_MARK = "[REDACTED:"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_EXTEND = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_EXTEND_B64 = _EXTEND | frozenset("+/=")
_B64_STD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
# Words that make base64-wrapped text a credential file even where its secret is cut off.
_CREDENTIAL_FILE_WORDS = ("service_account", "private_key", "client_secret", "refresh_token",
                          "secret_access_key", "private key", "password", "passwd")
_BARE_MIN = 28  # a token with no name, prefix or base64 padding must be this long to judge
_MAX_DEPTH = 2  # base64 inside base64 inside text


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


def _sources() -> list[str]:
    """Every pattern the redactor compiles: rules, allowlist regexes, engine patterns."""
    return [*_static_sources(), _keyword_regex(sorted({k for r in _RULES for k in r[3]})),
            _RUN_PATTERN]


_static: list[str] = []


def _static_sources() -> list[str]:
    """The rules' and allowlists' patterns (all but the keyword trie and the run pattern)."""
    if not _static:
        _static.extend(r[1] for r in _RULES)
        _static.extend(rx for r in _RULES for _, regexes, _ in r[7] for rx in regexes)
    return _static


def _keyword_regex(keywords: list[str]) -> str:
    """One pattern finding, at every position of the lower-cased text, the longest
    keyword starting there (a trie in a look-ahead, so hits may overlap and each
    position costs a few comparisons)."""
    trie: dict = {}
    for word in keywords:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = [_escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            return "(?:" + body + ")?" if len(alts) == 1 else body + "?"
        return body

    return "(?=(" + emit(trie) + "))"


def _escape(ch: str) -> str:
    return "\\" + ch if ch in ".^$*+?{}[]\\|()-#&~ \t\n" else ch


class Redactor:
    """The compiled rule set. Build with :meth:`compile` (imports ``re``) or
    :meth:`from_compiled` (no ``re``); both behave identically."""

    def __init__(self, *, sources: list[str] | None = None, code: list | None = None,
                 index: tuple | None = None) -> None:
        # sources: compiled with re on first use; code: _sre arguments per pattern (the
        # cache); index: _build_index() (the cache carries it: building it costs ~1 ms)
        self._sources = sources
        self._code = code
        count = len(sources) if sources is not None else len(code[1]) - 1 if code else 0
        self._compiled: list = [None] * count
        (self._lead_for, self._window_for, self._allow_index, self._i_keywords,
         self._i_token) = index or _build_index()

    @classmethod
    def compile(cls) -> Redactor:
        """A redactor compiling each pattern with :mod:`re` the first time it is used."""
        return cls(sources=_sources())

    def _pattern(self, i: int):
        p = self._compiled[i]
        if p is None:
            if self._code is None:
                import re

                p = re.compile(self._sources[i])  # type: ignore[index]
            else:
                p = self._load(i)
            self._compiled[i] = p
        return p

    def _load(self, i: int):
        """Pattern ``i`` from the cache's ``_sre`` code, or compiled from its source if
        the cached entry is damaged or was built from another source."""
        import marshal

        expected = None if i == self._i_keywords else _static_sources()[i] \
            if i < self._i_keywords else _RUN_PATTERN
        try:
            import _sre

            src, flags, code, groups, groupindex, indexgroup = marshal.loads(self._entry(i))  # noqa: S302
            if expected is None or src == expected:
                return _sre.compile(src, flags, memoryview(code).cast("I").tolist(), groups,
                                    groupindex, indexgroup)
        except Exception:  # noqa: S110 - a damaged entry: compile the source instead
            pass
        import re

        return re.compile(expected if expected is not None else _sources()[i])

    def _entry(self, i: int) -> memoryview:
        data, offsets = self._code  # type: ignore[misc]
        return memoryview(data)[offsets[i]:offsets[i + 1]]

    @staticmethod
    def compiled_blob() -> bytes:
        """The patterns compiled to ``_sre`` code, for :meth:`from_compiled`.

        Uses CPython's private ``re._parser``/``re._compiler`` (what ``re.compile``
        does); the blob records the interpreter version, the ``_sre`` magic, the rules'
        keywords and shapes, and each pattern's source, so a blob from another
        interpreter or rule set is refused (or a changed pattern recompiled). Each
        pattern is marshalled on its own: loading the cache unpacks only the patterns a
        text's keywords call for.
        """
        import _sre
        import marshal
        import sys
        from array import array
        from re import _compiler, _parser  # type: ignore[attr-defined]

        packed = []
        for src in _sources():
            parsed = _parser.parse(src, 0)
            code = _compiler._code(parsed, 0)
            groupindex = dict(parsed.state.groupdict)
            indexgroup = [None] * parsed.state.groups
            for name, index in groupindex.items():
                indexgroup[index] = name
            packed.append(marshal.dumps((src, int(parsed.state.flags), array("I", code).tobytes(),
                                         parsed.state.groups - 1, groupindex,
                                         tuple(indexgroup))))
        offsets = [0]
        for entry in packed:
            offsets.append(offsets[-1] + len(entry))
        # one bytes object for all patterns (one allocation at load, sliced on first use)
        return marshal.dumps((_blob_key(sys, _sre), (b"".join(packed), offsets), _build_index()))

    @classmethod
    def from_compiled(cls, blob: bytes) -> Redactor | None:
        """A redactor from :meth:`compiled_blob` output, or ``None`` if the blob does not
        match this interpreter and rule set (the caller then uses :meth:`compile`).
        ``_sre`` validates the code itself, so a damaged blob is refused, not run (the
        patterns every text needs are checked here; a rule's pattern, built the first
        time its keyword occurs, falls back to its source if damaged)."""
        import _sre
        import marshal
        import sys

        try:
            key, packed, index = marshal.loads(blob)  # noqa: S302 - our own cache file
            if key != _blob_key(sys, _sre) or len(packed[1]) != len(_RULES) + _n_allow() + 3:
                return None
            redactor = cls(code=packed, index=index)
            for i in (redactor._i_keywords, redactor._i_token):  # refuse damaged code
                src, flags, code, groups, groupindex, indexgroup = marshal.loads(redactor._entry(i))  # noqa: S302
                if i == redactor._i_token and src != _RUN_PATTERN:
                    return None
                redactor._compiled[i] = _sre.compile(
                    src, flags, memoryview(code).cast("I").tolist(), groups, groupindex,
                    indexgroup)
            return redactor
        except Exception:  # any damage means: recompile
            return None

    # ----------------------------------------------------------------------- detection

    def find_secrets(self, text: str) -> list[Finding]:
        """Non-overlapping findings in text order (overlapping ones merged)."""
        return self._find(text, 0) if text else []

    def _find(self, text: str, depth: int) -> list[Finding]:
        n = len(text)
        low = _fold(text)
        found: list[tuple[int, int, int]] = []  # (start, end, rule index)
        windows: dict[int, list[int]] = {}  # rule tried in windows -> keyword positions
        matched_to: dict[int, int] = {}  # rule -> end of its last match (no overlaps)
        lead_for, window_for = self._lead_for, self._window_for
        compiled = self._compiled
        for m in self._pattern(self._i_keywords).finditer(low):
            kw = m.group(1)
            p = m.start()
            for ri in window_for.get(kw, ()):
                if ri in windows:
                    windows[ri].append(p)
                else:
                    windows[ri] = [p]
            for ri, folded, width in lead_for.get(kw, ()):
                if p < matched_to.get(ri, 0):
                    continue
                pattern = compiled[ri] or self._pattern(ri)
                hit = pattern.match(low if folded else text, p,
                                    n if width < 0 else min(n, p + width + 2))
                if hit is not None:
                    matched_to[ri] = hit.end()
                    self._consider(ri, hit, text, low, found)
        for ri, positions in windows.items():
            rule = _RULES[ri]
            pattern = self._pattern(ri)
            subject = low if rule[9] else text
            for lo, hi in _windows(positions, rule[6], n):
                for hit in pattern.finditer(subject, lo, hi):
                    self._consider(ri, hit, text, low, found)
        self._entropy(text, low, found, depth)
        return _merged(found, text)

    def _consider(self, ri: int, m, text: str, low: str, found: list) -> None:
        rule = _RULES[ri]
        group = rule[2]
        if group < 0:  # the first non-empty group, else the match
            group = next((g for g in range(1, (m.re.groups or 0) + 1) if m.group(g)), 0)
            if group and len(m.group(group)) < 12:
                group = 0  # a repeated sub-group (uuid parts), not the secret: mask it all
        start, end = m.span(group)
        while end > start and text[end - 1] in " \t\r\n":
            end -= 1
        if start < 0 or end <= start:
            return
        if _inside_marker(text, start):
            return
        value = text[start:end]
        check = rule[8]
        if check == "token_start":
            if m.start() > 0 and text[m.start() - 1] in _TOKEN_CHARS:
                return
            if is_identifier(value):
                return  # npm_package_dependencies_typescript: words, not a token
        elif check and not _value_ok(check, m, start, end, value, text):
            return
        if rule[4] and shannon_entropy(value) < rule[4]:
            return
        if is_placeholder(value):
            return
        if ri in _NAMED_RULES and name_words_before(text, start) & PUBLIC_NAME_WORDS:
            return  # ALGOLIA_SEARCH_KEY, STRIPE_PUBLISHABLE_KEY: public by design
        if rule[7] and self._allowed_by_rule(ri, m, value, text):
            return
        found.append((start, end, ri))

    def _allowed_by_rule(self, ri: int, m, value: str, text: str) -> bool:
        lowered = value.lower()
        for (target, first, stopwords), (_, regexes, _) in zip(self._allow_index[ri],
                                                              _RULES[ri][7], strict=True):
            if stopwords and any(w in lowered for w in stopwords):
                return True
            if target == "match":
                subject = m.group(0)
            elif target == "line":
                line_start = text.rfind("\n", 0, m.start()) + 1
                line_end = text.find("\n", m.end())
                subject = text[line_start:line_end if line_end >= 0 else len(text)]
            else:
                subject = value
            for k in range(len(regexes)):
                if self._pattern(first + k).search(subject):
                    return True
        return False

    def _entropy(self, text: str, low: str, found: list, depth: int) -> None:
        """Random-looking tokens (and wrapped base64 blocks), minus the look-alikes."""
        tokens = [(m.start(), m.end()) for m in self._pattern(self._i_token).finditer(text)]
        if not tokens:
            return
        public = public_pem_blocks(low) if "-----begin" in low else ()
        covered = _Spans(found)
        for start, end, joined in _blocks(text, tokens):
            if covered.covers(start, end) or _inside_marker(text, start):
                continue
            if public and any(a <= start < b for a, b in public):
                continue
            if low.endswith(ALLOW_BEFORE, max(0, start - 28), start):
                continue
            if end - start < _BARE_MIN and not any(c in joined for c in "+/="):
                continue  # short ids (nano ids, KSUIDs) look random too: a name must tell
            words = name_words_before(text, start)
            if words & ID_NAME_WORDS or words & PUBLIC_NAME_WORDS:
                continue  # "id": "...", data-sitekey="...", PUBLIC_KEY=...
            if is_address(low, start, joined):
                continue
            if "/" in joined and is_path(text, start, joined):
                # a path or URL: judge each segment on its own, with its own context
                at = start
                for segment in joined.split("/"):
                    if len(segment) >= 20 and not low.endswith(ALLOW_BEFORE, max(0, at - 28), at):
                        verdict = self._judge(segment, depth)
                        if verdict:
                            found.append((at, at + len(segment), _ENTROPY_KINDS[verdict]))
                    at += len(segment) + 1
                continue
            verdict = self._judge(joined, depth)
            if verdict:
                found.append((start, end, _ENTROPY_KINDS[verdict]))

    def _judge(self, token: str, depth: int) -> str | None:
        """``"high_entropy"``, ``"base64_wrapped"`` (decodes to text holding a secret) or
        ``None`` for a token of the entropy pass."""
        decoded = decode_base64(token) if len(token) >= 24 and depth < _MAX_DEPTH else None
        if decoded is not None:
            if isinstance(decoded, bytes):  # binary: public material or key material?
                if is_public_binary(decoded):
                    return None
            elif self._find(decoded, depth + 1) or any(
                    w in decoded.lower() for w in _CREDENTIAL_FILE_WORDS):
                return "base64_wrapped"
            else:
                return None  # base64 of ordinary text
        return "high_entropy" if looks_random(token) else None

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


_ENTROPY_KINDS = {"high_entropy": -1, "base64_wrapped": -2}








def _build_index() -> tuple:
    """``(rules for each keyword, allowlist pattern positions per rule, position of the
    keyword trie, of the token pattern)`` in the pattern list."""
    allow_index: list[list[tuple[str, int, tuple]]] = []
    i = len(_RULES)
    for rule in _RULES:
        entries = []
        for target, regexes, stopwords in rule[7]:
            entries.append((target, i, stopwords))
            i += len(regexes)
        allow_index.append(entries)
    by_keyword: dict[str, list[int]] = {}
    for ri, rule in enumerate(_RULES):
        for kw in rule[3]:
            by_keyword.setdefault(kw, []).append(ri)
    # a hit is the longest keyword at a position: every shorter keyword there is a
    # prefix of it, so its rules run too
    lead_for: dict[str, tuple[tuple[int, bool, int], ...]] = {}
    window_for: dict[str, tuple[int, ...]] = {}
    for kw in by_keyword:
        rules: set[int] = set()
        for k in range(1, len(kw) + 1):
            rules.update(by_keyword.get(kw[:k], ()))
        lead = tuple((ri, _RULES[ri][9], _RULES[ri][6]) for ri in sorted(rules) if _RULES[ri][5])
        window = tuple(ri for ri in sorted(rules) if not _RULES[ri][5])
        if lead:
            lead_for[kw] = lead
        if window:
            window_for[kw] = window
    return lead_for, window_for, allow_index, i, i + 1


def _n_allow() -> int:
    return sum(len(regexes) for r in _RULES for _, regexes, _ in r[7])


def _windows(positions: list[int], width: int, n: int) -> list[tuple[int, int]]:
    """Windows ``[p - width, p + 2*width + 16)`` around keyword positions, merged: a
    match holding the keyword at ``p`` lies inside, and none can end at a window's
    artificial end (it would be longer than ``width``). Unbounded rules: the text."""
    if width < 0:
        return [(0, n)]
    out: list[list[int]] = []
    for p in positions:  # in text order
        lo, hi = max(0, p - width), min(n, p + 2 * width + 16)
        if out and lo <= out[-1][1]:
            out[-1][1] = hi
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


class _Spans:
    """Disjoint sorted spans of findings, for "is this token inside one?" in log time."""

    def __init__(self, found: list) -> None:
        merged: list[list[int]] = []
        for s, e, _ in sorted(found):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [s for s, _ in merged]
        self.ends = [e for _, e in merged]

    def covers(self, start: int, end: int) -> bool:
        if not self.starts:
            return False
        from bisect import bisect_right

        i = bisect_right(self.starts, start) - 1
        return i >= 0 and end <= self.ends[i]


def _merged(found: list, text: str) -> list[Finding]:
    """Union of overlapping findings (the highest-priority rule names it), each
    extended to the end of the token it ends in."""
    if not found:
        return []
    n = len(text)
    spans = []
    for start, end, ri in found:
        span = text[start:end]
        extend = _EXTEND_B64 if "+" in span or "/" in span else _EXTEND
        # a dotted token (Discord's id.time.hmac, JWT-like): the parts before the finding
        dots = 0
        while dots < 3 and start >= 6 and text[start - 1] == "." and text[start - 2] in _EXTEND:
            s = start - 1
            while s > 0 and text[s - 1] in _EXTEND:
                s -= 1
            if start - 1 - s < 5 or (s > 0 and text[s - 1] in "./:@"):
                break  # a short word or a domain label, not a token part
            start, dots = s, dots + 1
        if text[end - 1] in extend:
            while end < n and text[end] in extend:
                end += 1
            # a dotted token (JWT-like, "dp.pt.x"): a '.' or '~' followed by more of it
            while end + 1 < n and text[end] in ".~" and text[end + 1] in extend and \
                    text[start:end].count(".") < 4:
                end += 1
                while end < n and text[end] in extend:
                    end += 1
        spans.append((start, end, ri))
    spans.sort()
    out: list[list] = []
    for start, end, ri in spans:
        if out and start < out[-1][1]:
            last = out[-1]
            last[1] = max(last[1], end)
            if _priority(ri) < _priority(last[2]):
                last[2] = ri
        else:
            out.append([start, end, ri])
    return [Finding(_kind(ri), (s, e)) for s, e, ri in out]


def _priority(ri: int) -> int:
    return ri if ri >= 0 else len(_RULES) - ri


def _kind(ri: int) -> str:
    if ri == -1:
        return "high_entropy"
    if ri == -2:
        return "base64_wrapped"
    return _RULES[ri][0]


def _blocks(text: str, tokens: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Tokens of the entropy pass, with wrapped base64 (consecutive lines of it, raw or
    JSON-escaped ``\\n``) joined into one ``(start, end, joined)`` block."""
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        start, end = tokens[i]
        parts = [text[start:end]]
        j = i
        while j + 1 < len(tokens) and end - tokens[j][0] >= 40:
            nxt_start, nxt_end = tokens[j + 1]
            gap = text[end:nxt_start]
            piece = text[nxt_start:nxt_end]
            if gap.strip(" \t\r\n") == "" and "\n" in gap:
                parts.append(piece)
            elif (gap == "\\" and piece.startswith("n")) or (gap.strip(" \t") == "\\" and piece.startswith("n")):  # JSON-escaped newline
                parts.append(piece[1:])
            else:
                break
            end = nxt_end
            j += 1
        if j > i:  # the last line of a wrapped block is short (and may end in '=')
            k = end + (2 if text.startswith("\\n", end) else 1 if text[end:end + 1] == "\n" else 0)
            if k > end:
                while k < len(text) and text[k] in " \t":
                    k += 1
                e = k
                while e < len(text) and text[e] in _B64_STD and e - k < 24:
                    e += 1
                if e > k and (e == len(text) or text[e] in " \t\r\n\"'\\,"):
                    parts.append(text[k:e])
                    end = e
        if j > i and not all(c in B64_CHARS for p in parts for c in p):
            # not base64 lines after all: judge them one by one
            for s, e in tokens[i:j + 1]:
                out.append((s, e, text[s:e]))
        else:
            out.append((start, end, "".join(parts)))
        i = j + 1
    return out








def _fold(text: str) -> str:
    """ASCII lower case with the same length (offsets stay valid)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A few non-ASCII letters lower to two code points (U+0130): fold ASCII only.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


_ENGINE_VERSION = 3  # bump when _keyword_regex changes (cached blobs are then refused)


def _blob_key(sys_module, sre_module) -> tuple:
    """What the cached index depends on: interpreter, ``_sre``, the engine, and each
    rule's keywords and shape (lead, width, folded); patterns are checked by source."""
    shapes = tuple((r[3], r[5], r[6], r[9]) for r in _RULES)
    return (sys_module.version, sre_module.MAGIC, sre_module.CODESIZE,
            _ENGINE_VERSION, shapes)


def _value_ok(check: str, m, start: int, end: int, value: str, text: str) -> bool:
    if check == "value":
        return is_secret_value(value)
    if check == "flag":
        v = value.strip()
        if len(v) < 3 or v.lower() in BENIGN_VALUES or is_placeholder(v) or v.isdigit() or \
                v.startswith(("$", "%", "<", "{", "/", "~/", "./", "@", "file:", "env:")):
            return False
        # a password has a digit or a symbol, or is long and mixed-case (not "basic")
        return any(c in DIGIT or not c.isalnum() for c in v) or (
            len(v) >= 12 and not v.islower() and not v.isupper())
    if check == "url":  # "host:8443/path@x" is a port and a path, not user:password
        return is_secret_value(value) and not ("/" in value and
                                               value.split("/", 1)[0].isdigit())
    if check == "prose":  # "the password is X": X reads like a password, not a word
        v = value.rstrip(".,;:!?)")
        if v.replace("_", "").replace("-", "").isalpha() and v.islower():
            return False  # "password is required_field", "password: see-below"
        return _value_ok("flag", m, start, end, v, text) and is_secret_value(v)
    if check == "config_named":  # npm config set //host/:_authToken x: the last part names it
        name = text[m.start(1):m.end(1)]  # the original case (a folded rule sees lower case)
        for sep in "/:.":
            name = name.rsplit(sep, 1)[-1]
        return is_secret_name(name) and is_secret_value(value)
    if check == "snmp":  # the flag on an snmp* command line
        line_start = text.rfind("\n", 0, m.start()) + 1
        return "snmp" in text[line_start:m.start()].lower() and \
            _value_ok("flag", m, start, end, value, text)
    if check == "stdin_password":  # the same line holds a command reading it from stdin
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        line = text[line_start:line_end if line_end >= 0 else len(text)].lower()
        return any(r in line for r in STDIN_PASSWORD_READERS) and \
            _value_ok("flag", m, start, end, value, text)
    if check == "directive":  # the directive starts its line
        line_start = text.rfind("\n", 0, m.start()) + 1
        return text[line_start:m.start()].strip() == "" and \
            _value_ok("prose", m, start, end, value, text)
    if check == "xml_key":  # <D>, <P>... only inside an RSA key (<P> is also HTML)
        around = text[max(0, start - 4096):end + 4096].lower()
        return "rsakeyvalue" in around or "<modulus>" in around
    if check == "bearer":
        return any(c in DIGIT for c in value) or looks_random(value)
    if check == "basic":
        decoded = decode_base64(value)
        return (isinstance(decoded, str) and ":" in decoded) or looks_random(value) or \
            any(c in DIGIT for c in value)
    if check == "table":
        line_start = text.rfind("\n", 0, m.start()) + 1
        name = assigned_name(text, m.start(), start)
        return text[line_start:name_start(text, m.start())].strip() == "" and \
            is_secret_name(name) and is_secret_value(value) and not value.isalpha()
    if check == "redis":  # after the redis-cli prompt ("127.0.0.1:6379> AUTH pw")
        line_start = text.rfind("\n", 0, m.start()) + 1
        prompt = text[line_start:m.start()].rstrip()
        return prompt.endswith(">") and ":" in prompt and _value_ok("flag", m, start, end, value, text)
    if check == "command_line":  # a command typed at a prompt, not one named in prose
        line_start = text.rfind("\n", 0, m.start()) + 1
        prompt = text[line_start:m.start()].strip()
        return prompt in ("", "$", "#", ">", "%", "PS>") or prompt.endswith(("$", "#", ">"))
    if check == "named":
        return is_secret_name(text[m.start(1):m.end(1)]) and is_secret_value(value)
    if check == "assignment":
        at = name_start(text, m.start())
        if text[max(0, at - 2):at].endswith(("${", "$")):
            return False  # ${DB_PASSWORD:?missing}, $SECRET: a shell reference
        name = assigned_name(text, m.start(), start)
        if not is_secret_name(name):
            return False
        if name.lower().endswith("psk") and len(value) < 8:
            return False  # a WPA pre-shared key has 8 to 63 characters
        rest = text[end:end + 4].lstrip(" \t")
        if rest[:1] == "=" and rest[1:2] != "=":
            return False  # password: Secret = Secret("") is a type annotation
        if end < len(text) and text[end] in "([" and m.re.groups == 1:
            return False  # password = read_password(...), token = cfg[...]
        if m.re.groups == 1 and value.isalpha() and value.islower() and \
                text[m.start():start].rstrip(" \t\"'").endswith(":"):
            return False  # prose: "a secret: each ...", "private_key: also masks ..."
        return is_secret_value(value)
    return True






def _inside_marker(text: str, start: int) -> bool:
    open_at = text.rfind(_MARK, max(0, start - 64), start + len(_MARK))
    return open_at >= 0 and text.find("]", open_at) >= start
















def redact_tree(value: object, redact_text, _depth: int = 0) -> tuple[object, int]:
    """``(value, redactions)``: every string of a JSON-like ``value`` (dict keys too)
    passed through ``redact_text(str) -> (str, count)``, and the whole string value of a
    secret-named key (``{"password": "x"}``) masked. Nesting past 32 levels is replaced
    by a marker rather than walked."""
    if isinstance(value, str):
        return redact_text(value) if len(value) > 7 else (value, 0)
    if _depth > 32:
        return "[hivemind: nesting too deep]", 0
    total = 0
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            key = str(k)
            if len(key) > 7:
                key, n = redact_text(key)
                total += n
            if is_secret_assignment(key, v):
                total += 1
                out[key] = "[REDACTED:secret_assignment]"
            else:
                out[key], n = redact_tree(v, redact_text, _depth + 1)
                total += n
        return out, total
    if isinstance(value, (list, tuple)):
        items = []
        for v in value:
            item, n = redact_tree(v, redact_text, _depth + 1)
            items.append(item)
            total += n
        return items, total
    return value, 0












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
