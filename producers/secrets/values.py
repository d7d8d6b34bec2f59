"""How a name, a value and a token are judged: a secret, or a look-alike of one.

* names: :func:`is_secret_name` (``DB_PASSWORD``, ``clientSecret``, ``DD_APP_KEY`` yes;
  ``token_url``, ``primary_key``, ``max_tokens`` no), :func:`name_words_before`;
* values: :func:`is_secret_value` (not a placeholder, reference, path, number, public key or
  URL without a password), :func:`is_placeholder`;
* tokens: :func:`looks_random` (entropy, minus hex digests, ULIDs, nix hashes, ids with a
  known prefix...), :data:`ALLOW_BEFORE` (digests, fingerprints, public material by what
  precedes them), :func:`is_address`, :func:`is_path`, :func:`decode_base64`,
  :func:`is_public_binary` (SSH public keys, X.509 DER, media), :func:`public_pem_blocks`;
* commands: :func:`prints_secret` (``kubectl get secret``, ``echo $DB_PASSWORD``).

Pure, no imports at import time (the hook path); used by :mod:`hivemind_kafka.producers.secrets.redact`.
"""

from __future__ import annotations

from hivemind_kafka.producers.secrets.rules import SECRET_READERS

BENIGN_VALUES = frozenset({
    "true", "false", "null", "none", "nil", "undefined", "yes", "no", "on", "off",
    "required", "optional", "string", "str", "bytes", "int", "bool", "include", "omit",
    "same-origin", "redacted", "masked", "hidden", "<redacted>", "stdin", "prompt",
    # HTTP auth schemes ("Authorization: Bearer <token>": the bearer rule judges the token)
    "bearer", "basic", "digest", "negotiate", "ntlm",
    # placeholders and well-known defaults in docs and examples, not anybody's secret
    "password", "passwd", "pass", "pwd", "secret", "token", "user", "username", "...",
    "admin", "root", "guest", "test", "changeme", "changeit", "example", "dummy", "foo",
    "bar", "xxx", "mypassword", "yourpassword", "your_password", "your-password",
    # English: "secret: its ...", "token: the ..." in prose and comments
    "the", "its", "is", "are", "was", "to", "be", "not", "and", "or", "for", "in", "of",
    "with", "this", "that", "it", "you", "your", "we", "our", "if", "as", "by",
    "from", "at", "when", "will", "can", "must", "should", "has", "have", "one", "see",
    "expired", "invalid", "missing", "revoked", "rotated", "provided",
})

_PLACEHOLDER_WORDS = ("example", "xxxxx", "your_", "your-", "yourkey", "here", "replace",
                      "placeholder", "changeme", "dummy", "redacted", "*****", "<", "...",
                      "\u2026", "{{", "${", "insert", "fixme", "todo")

# Names ending like these hold settings about a secret, not the secret (AUTH_TYPE=oauth).
_BENIGN_NAME_SUFFIXES = frozenset((
    "type", "mode", "method", "url", "uri", "host", "port", "file", "path", "dir", "name",
    "length", "len", "count", "limit", "endpoint", "provider", "enabled", "expiry", "ttl",
    "timeout", "header", "scheme", "id", "ids", "env", "var", "format", "policy", "version",
    "size", "field", "prefix", "suffix", "class", "label", "store", "storage_class", "ref",
    "hash", "algorithm", "alg", "kind", "source", "location", "arn", "duration", "interval",
    "issuer", "audience", "scope", "scopes", "user", "username", "email", "hint", "ring",
    "board", "code", "frame", "press", "pressed", "stroke", "word", "up", "down", "left",
    "right", "event", "events", "map", "vault", "manager", "secretname", "min", "max",
))

# Words before "token" that make it a pagination or cancellation cursor, not a credential.
_CURSOR_WORDS = frozenset(("next", "page", "continuation", "sync", "cancellation", "resume",
                           "pagination", "prev", "previous", "start", "end", "cursor"))

# Names that say what the key is for when the only secret word is "key".
_KEY_QUALIFIERS = ("api", "app", "application", "secret", "private", "access", "signing",
                   "sign", "encryption", "encrypt", "master", "account", "license", "licence",
                   "client", "service", "admin", "write", "auth", "session", "storage",
                   "shared", "sharedaccess", "subscription", "consumer", "crypto", "hmac",
                   "webhook", "cipher", "aes", "secret_access", "ssh", "deploy", "dd",
                   "datadog", "sendgrid", "stripe", "openai", "anthropic", "mailgun", "x-api",
                   "cloudflare", "algolia", "segment", "gcp", "google", "azure", "aws",
                   "mistral", "cohere", "groq", "vercel", "pagerduty", "elevenlabs")

# What glued before "token" or "key" makes the name a credential's.
_GLUED_QUALIFIERS = frozenset(("access", "refresh", "api", "auth", "bot", "id", "identity",
                               "private", "session", "personal", "secret", "app", "license",
                               "licence", "signing", "encryption", "registry", "bearer", "oauth",
                               "service", "client", "deploy", "user", "master", "account",
                               "webhook", "sas", "csrf"))

_BENIGN_KEY_WORDS = ("primary", "foreign", "public", "sort", "partition", "cache", "idempotency",
                     "dedup", "hash", "lookup", "i18n", "translation", "unique", "composite",
                     "index", "row", "range", "routing", "message", "shard", "group", "dict",
                     "map", "object", "s3", "blob", "bucket", "registry", "pubkey")

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")

# Object ids, not credentials (Stripe objects and publishable keys, LLM API ids...).
_ID_PREFIXES = (
    "toolu_", "srvtoolu_", "msg_", "req_", "sha1-", "sha256-", "sha384-", "sha512-", "sha256_",
    "file_", "file-", "batch_", "call_", "run_", "thread_", "asst_", "resp_", "fc_", "chatcmpl-",
    "evt_", "ch_", "cus_", "pi_", "pm_", "in_", "ii_", "il_", "sub_", "si_", "price_", "prod_",
    "txn_", "re_", "acct_", "seti_", "src_", "po_", "tr_", "py_", "we_", "cs_live_", "cs_test_",
    "pk_live_", "pk_test_", "plink_", "prmt_", "promo_", "card_", "ba_", "dp_", "du_", "ipi_",
    "age1", "npub1", "bafy", "bafk", "nonce-",
)

# Text right before a token that says it is a digest, an id or public material.
ALLOW_BEFORE = (
    "h1:", "sha1-", "sha256-", "sha384-", "sha512-", "sha256:", "sha512:", "sha1:", "md5:",
    "nonce-", "base64,", "/nix/store/", "/ipfs/", "ipfs://", "code_challenge=",
    '"n": "', '"n":"', '"x": "', '"x":"', '"y": "', '"y":"', "/d/", "x-amz-id-2: ",
    "x-amz-cf-id: ", "ssh-rsa ", "ssh-ed25519 ", "ssh-dss ", "ecdsa-sha2-nistp256 ",
    "ecdsa-sha2-nistp384 ", "ecdsa-sha2-nistp521 ", "sk-ssh-ed25519@openssh.com ",
    "integrity ", "checksum ", "digest ", "pk.",
)

# Names whose value is an id, a digest or public by design, never a credential.
ID_NAME_WORDS = frozenset(("id", "ids", "uid", "uuid", "guid", "ulid", "ksuid", "etag", "hash",
                            "digest", "checksum", "sha", "nonce", "cursor", "ref", "version",
                            "order", "commit", "revision", "fingerprint", "thumbprint", "oid",
                            "sitekey", "tag", "node"))

PUBLIC_NAME_WORDS = frozenset(("public", "publishable", "search", "site", "sitekey", "pub",
                                "anon", "pubkey"))

_PUBLIC_VALUE_PREFIXES = ("pk.", "pk_live_", "pk_test_", "npub1", "age1")

_BECH32 = frozenset("qpzry9x8gf2tvdw0s3jn54khce6mua7l")

_B58 = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")

_ADDRESS_WORDS = ("wallet", "address", "addr", "pubkey", "public key", "account", "recipient")

_MEDIA_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"wOFF", b"wOF2", b"\x00\x00\x01\x00",
                b"RIFF", b"<svg", b"\x00\x00\x00\x1cftyp", b"\x00\x00\x00\x18ftyp",
                b"\x00\x00\x00\x20ftyp", b"ID3", b"OggS")

_SSH_KEY_TYPES = (b"ssh-rsa", b"ssh-ed25519", b"ssh-dss", b"ecdsa-sha2-", b"sk-ssh-",
                  b"sk-ecdsa-", b"rsa-sha2-")

_HEX_DASH = frozenset("0123456789abcdefABCDEF-")

_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")

DIGIT = frozenset("0123456789")

B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")

_NIX32 = frozenset("0123456789abcdfghijklmnpqrsvwxyz")

_CROCKFORD = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz")

_PRINTABLE = bytes(range(32, 127)) + b"\t\n\r"

def name_words_before(text: str, start: int) -> set[str]:
    """Words of the name a value at ``start`` is assigned to (``"order_id": "x"``,
    ``data-sitekey="x"``, ``key=x``), or nothing when no name precedes it."""
    i = start
    while i > 0 and start - i < 6 and text[i - 1] in " \t\"'`\\":
        i -= 1
    if i == 0 or text[i - 1] not in ":=>":
        return set()
    i -= 1
    while i > 0 and start - i < 12 and text[i - 1] in " \t\"'\\:=":
        i -= 1
    e = i
    while i > 0 and e - i < 64 and text[i - 1] in _NAME_CHARS:
        i -= 1
    return set(_snake(text[i:e]).replace("-", "_").replace(".", "_").split("_")) - {""}

def is_address(low: str, start: int, token: str) -> bool:
    """A bech32 address (``cosmos1...``, ``bc1...``) or a base58 one after a word that
    says so ("wallet ...", "address: ..."): public, not key material."""
    sep = token.rfind("1")
    if token.islower() and 0 < sep <= 20 and len(token) - sep > 30 and set(token[sep + 1:]) <= _BECH32:
        return True
    return 32 <= len(token) <= 44 and set(token) <= _B58 and any(
        w in low[max(0, start - 24):start] for w in _ADDRESS_WORDS)

def is_path(text: str, start: int, token: str) -> bool:
    """A token with ``/`` that is a path or URL rather than base64 key material (which
    may hold '/' anywhere, even first): a path has a lower-case word as a segment."""
    if "+" in token or token.endswith("="):
        return False
    shortest = 3 if token.startswith("/") or (start and text[start - 1] in ".:~") else 4
    return any(len(seg) >= shortest and seg.isalpha() and seg.islower()
               for seg in token.split("/"))

def decode_base64(token: str) -> str | bytes | None:
    """``token`` base64-decoded: ``str`` if it decodes to text, ``bytes`` if to binary,
    ``None`` if it is no base64 (odd length, invalid characters)."""
    t = token.rstrip("=")
    if len(t) % 4 == 1 or not all(c in B64_CHARS for c in t):
        return None
    if "-" in t or "_" in t:
        if "+" in t or "/" in t:
            return None
        t = t.replace("-", "+").replace("_", "/")
    import binascii

    try:
        raw = binascii.a2b_base64(t + "=" * (-len(t) % 4))
    except (binascii.Error, ValueError):
        return None
    if not raw:
        return None
    if len(raw.translate(None, _PRINTABLE)) * 50 <= len(raw):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw
    return raw

def is_public_binary(raw: bytes) -> bool:
    """An SSH public key blob, an X.509 certificate (DER) or media (an image, a font, a
    PDF: what screenshot and file tools return as bare base64), not key material."""
    if raw.startswith(_MEDIA_MAGIC):
        return True
    if raw[:4] in (b"\x00\x00\x00\x07", b"\x00\x00\x00\x0b", b"\x00\x00\x00\x13",
                   b"\x00\x00\x00\x0e", b"\x00\x00\x00\x1a", b"\x00\x00\x00\x22"):
        return raw[4:].startswith(_SSH_KEY_TYPES)
    # Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version INTEGER 2 ...
    return raw[:1] == b"\x30" and b"\xa0\x03\x02\x01\x02" in raw[:16]

def public_pem_blocks(low: str) -> list[tuple[int, int]]:
    """Spans of PEM blocks that hold public material (certificates, public keys)."""
    out = []
    at = low.find("-----begin")
    while at >= 0:
        label_end = low.find("-----", at + 10)
        if label_end < 0:
            break
        label = low[at + 10:label_end]
        end = low.find("-----end", label_end)
        stop = len(low) if end < 0 else end
        if "private" not in label and "secret" not in label:
            out.append((at, stop))
        at = low.find("-----begin", stop if end >= 0 else label_end)
    return out

def name_start(text: str, keyword_at: int) -> int:
    s = keyword_at
    while s > 0 and keyword_at - s < 64 and text[s - 1] in _NAME_CHARS:
        s -= 1
    return s

def assigned_name(text: str, keyword_at: int, value_at: int) -> str:
    """The whole name a value is assigned to: from the start of the identifier holding
    the keyword (``DD_APP_KEY``) to the operator."""
    s = name_start(text, keyword_at)
    e = keyword_at
    while e < value_at and text[e] in _NAME_CHARS:
        e += 1
    return text[s:e].strip(".-")

def is_placeholder(value: str) -> bool:
    """``sk-...``, ``AKIA...EXAMPLE``, ``ghp_xxxx``, ``<your-token>``: documentation."""
    v = value.lower()
    if any(w in v for w in _PLACEHOLDER_WORDS):
        return True
    return len(v) >= 8 and any(c * 8 in v for c in set(v))  # xxxxxxxx, 00000000

def is_secret_value(value: str) -> bool:
    """An assigned value that may be a secret, not a placeholder, number, path or code."""
    v = value.strip()
    if len(v) < 3 or v.lower() in BENIGN_VALUES or is_placeholder(v):
        return False
    if v[0] in "$%<{*." or v.startswith(("os.environ", "env.", "process.env", "file:", "env:",
                                         "vault:", "secret:", "ref+", "arn:aws:secretsmanager",
                                         "projects/")):
        return False  # a reference to a secret, not the secret itself
    if v.startswith(("/", "~/")) and "+" not in v and not v.endswith("=") and \
            any(len(seg) >= 3 and seg.isalpha() for seg in v.split("/")):
        return False  # a path to a secret file
    if v.replace(".", "").replace("_", "").replace("-", "").replace(":", "").isdigit():
        return False  # max_tokens=1024, token_ttl=3600, -u 1000:1000
    if all(c == v[0] for c in v):
        return False  # xxxxxxxx
    if v.endswith(":") or len(v.split()) >= 7 or (
            v.count(" ") >= 3 and any(p in v for p in (", ", ": ", "(", ". "))):
        return False  # a label or a sentence, not a passphrase
    if v.startswith(_PUBLIC_VALUE_PREFIXES):
        return False  # publishable keys (Stripe pk_, Mapbox pk.), public keys
    scheme = v.find("://")
    if 0 < scheme < 12 and ":" not in v[scheme + 3:v.find("@", scheme) if "@" in v else scheme + 3]:
        return False  # a URL with no password (a Sentry DSN): url_password judges the rest
    # self.token, settings.api_key: attribute access in code, not a literal
    parts = v.split(".")
    return not (len(parts) >= 2 and all(p.isidentifier() and p.islower() and
                                        not any(c in DIGIT for c in p) for p in parts))

_SECRET_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "api-key",
    "accesskey", "access_key", "access-key", "privatekey", "private_key", "private-key",
    "credential", "authorization", "auth", "dsn", "pwd", "signing_key", "session_key",
    "encryption_key", "accountkey", "account_key", "masterkey", "master_key", "cookie",
    "creds", "pw", "psk",
)

def is_secret_name(name: str) -> bool:
    """Does a field/variable name announce a secret (``DB_PASSWORD``, ``x-api-key``,
    ``clientSecret``, ``DD_APP_KEY``), rather than a setting about one (``token_url``,
    ``auth_type``) or a key that is no credential (``primary_key``, ``cache_key``)?"""
    n = _snake(name)
    words = [w for w in n.replace("-", "_").replace(".", "_").split("_") if w]
    if not words or words[-1] in _BENIGN_NAME_SUFFIXES or words[-1] in ("tokens", "secrets"):
        return False
    if n == "pass" or n.endswith(("_pass", "-pass", ".pass")):
        return True
    if words[-1] == "token" and len(words) >= 2 and words[-2] in _CURSOR_WORDS:
        return False  # nextPageToken, continuation_token: a pagination cursor
    for word in _SECRET_WORDS:
        at = n.find(word)
        while at >= 0:
            before = n[at - 1] if at else ""
            after = n[at + len(word):]
            starts = not before or before in "_-."
            ends = after in ("", "s") or after[0] in "_-." or (after[0] == "s" and after[1] in "_-.")
            if ends and (starts or word not in ("auth", "sig", "dsn", "pwd", "pw", "psk", "token")) and \
                    (word != "auth" or after in ("", "s")):  # AUTH_ANONYMOUS_ROLE: a setting
                return True
            at = n.find(word, at + 1)
    # glued: accesstoken, refreshtoken, secretkey, licensekey (not monkey, hotkey, sortkey)
    for tail in ("token", "key"):
        head = words[-1][:-len(tail)]
        if words[-1].endswith(tail) and head in _GLUED_QUALIFIERS:
            return True
    # "...key" names: a credential only when qualified (api, app, secret, signing...)
    if words[-1] in ("key", "keys"):
        qualifiers = words[:-1]
        if any(w in _BENIGN_KEY_WORDS for w in qualifiers):
            return False
        return any(w in _KEY_QUALIFIERS for w in qualifiers) or \
            "_".join(qualifiers[-2:]) in _KEY_QUALIFIERS
    return False


def _snake(name: str) -> str:
    """``clientSecret`` -> ``client_secret``, ``DD_APP_KEY`` -> ``dd_app_key``."""
    out = []
    prev = ""
    for c in name.strip().strip("\"'\\"):
        if c.isupper() and prev and (prev.islower() or prev.isdigit()):
            out.append("_")
        out.append(c.lower())
        prev = c
    return "".join(out)

def prints_secret(command: str) -> bool:
    """Does a shell command print a secret by itself (``kubectl get secret``, ``op read``,
    ``gh auth token``, ``echo $GITHUB_TOKEN``, ``printenv DB_PASSWORD``)? Its output is
    then a bare value that no pattern can recognise."""
    low = command.lower()
    if any(reader in low for reader in SECRET_READERS):
        return True
    from itertools import pairwise  # built in: free to import

    words = command.replace(";", " ").replace("|", " ").replace("&", " ").split()
    for verb, arg in pairwise(words):
        if verb in ("echo", "printf", "printenv") or (verb == "-n" and arg.startswith("$")):
            name = arg.strip("\"'").lstrip("$").strip("{}")
            if (arg.lstrip("\"'").startswith("$") or verb == "printenv") and is_secret_name(name):
                return True
    return False

def is_identifier(token: str) -> bool:
    """Words joined by ``_``, ``-`` or ``.`` (``npm_package_dependencies_typescript``,
    ``hf_hub_download``): at least three word-like pieces (lower-case words, short
    numbers or versions) and at most one other piece (a token's prefix). A random token
    body gives several pieces that are no words."""
    pieces = [p for p in token.replace("-", "_").replace(".", "_").split("_") if p]
    words = sum(1 for p in pieces if (p.isalpha() and p.islower() and len(p) >= 2) or (
        len(p) <= 4 and p.isalnum() and (p.islower() or p.isdigit())))
    return words >= 3 and len(pieces) - words <= 1


def is_secret_assignment(name: str, value: object) -> bool:
    """Is ``value`` a secret because of the name it is assigned to (JSON keys, kwargs)?"""
    return isinstance(value, str) and is_secret_name(name) and is_secret_value(value)

def shannon_entropy(token: str) -> float:
    """Bits per character of ``token``'s character distribution."""
    from math import log2

    counts: dict[str, int] = {}
    for c in token:
        counts[c] = counts.get(c, 0) + 1
    n = len(token)
    return -sum(k / n * log2(k / n) for k in counts.values()) if n else 0.0

def looks_random(token: str) -> bool:
    """A long token that looks like key material rather than a word, id or digest.

    Pure hex (git SHAs, digests, trace ids) and UUIDs are never random-looking here;
    ULIDs, nix store hashes, known id prefixes (``toolu_``, ``evt_``, ``sha512-``...) and
    path-like tokens are skipped. Otherwise: at least 20 characters, digits and letters
    mixed, and a Shannon entropy close to what a random string of that length reaches.
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
        return False  # hex digests, git SHAs, UUIDs, trace ids
    if t.startswith(_ID_PREFIXES) or is_placeholder(t):
        return False
    if n == 26 and chars <= _CROCKFORD and t[0] in "01234567":
        return False  # ULID (48-bit time first, so it starts with 0-7)
    if n >= 32 and t[32:33] in ("-", "") and set(t[:32]) <= _NIX32:
        return False  # nix store hash
    has_digit = bool(chars & DIGIT)
    has_upper = bool(chars & _UPPER)
    has_lower = bool(chars & _LOWER)
    if not has_digit or not (has_upper or has_lower):
        return False
    if "/" in t and not (n == 40 and has_upper and has_lower and "_" not in t and "-" not in t):
        # A path (40 chars of base64 is the AWS secret key shape): random only if one of
        # its segments is random by itself.
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
