"""Secret redaction: find and mask credentials in free text before it leaves the machine.

Guarantee: :func:`redact` returns the text with every finding of :func:`find_secrets`
replaced by ``[REDACTED:<kind>]`` and the number of replacements. For ``KEY=value``,
URL passwords, CLI password flags and auth headers only the value is masked, so the
context stays readable. A finding always runs to the end of the token it sits in, so no
length limit of a rule lets a secret's tail through; a private key whose END line never
comes is masked to the end of the text. It is pure and deterministic, never raises on
any ``str``, and is idempotent (redacting redacted text changes nothing).

The one detector: the Claude Code hook, the SDK (:mod:`producers.sdk`) and the
codifier's secrets guard (:mod:`streams.codifier.guards`) all call this module.

Rule set (maintained, not invented here)
----------------------------------------
1. **gitleaks' rules**: :mod:`producers.secret_rules` is *generated* from gitleaks'
   published ``config/gitleaks.toml`` (MIT; version, commit and SHA-256 recorded in
   ``secret_rules.UPSTREAM``) by ``python -m producers.gitleaks_sync`` (``make
   secret-rules``), which translates RE2 to Python ``re`` and lists every upstream rule it
   leaves out, and why, in ``secret_rules.SKIPPED``. To update: regenerate from a newer
   tag, run ``make test`` and ``python -m bench.eval_secrets``, commit both files.
2. **Our rules** (:data:`LOCAL_RULES`): private keys (also cut-off ones), JWTs, URL
   passwords, auth headers, ``NAME=value`` / ``"name": "value"`` assignments judged by
   the name (:func:`is_secret_name`) and the value, passwords on command lines (``az
   login -p``, ``mysql -p<pw>``, ``sshpass -p``, ``--password x``, ``pass:x``...), SQL,
   netrc and pgpass lines, Azure SAS signatures, and newer provider prefixes gitleaks
   does not have yet.
3. **Entropy** over every long token, with look-alike allowances: hex digests, git SHAs,
   UUIDs and trace ids (hex), ULIDs, go.sum / SRI / ``sha256:`` digests, SSH public keys
   and fingerprints, X.509 certificates (PEM blocks and DER), nix store paths, Stripe
   object ids (``evt_``, ``ch_``, ``cus_``... and publishable ``pk_`` keys), LLM API ids
   (``msg_``, ``toolu_``, ``chatcmpl-``...), IPFS CIDs, age public keys, data: URIs,
   PKCE challenges, CSP nonces, placeholders (``sk-...``, ``EXAMPLE``, ``xxxx``).
4. **Base64 wraps**: a base64 token (or a block of wrapped base64 lines) that decodes to
   text is judged by what it decodes to: it is masked whole if the text holds a
   secret (a service-account JSON, a kubeconfig key, ``user:password``), kept if not.

Speed: the hook runs this on every tool call (budget: the whole hook within 2x the
start-up of ``python -c pass`` at p50). One pass of a keyword trie over the lower-cased
text finds where rules can match (gitleaks' keyword pre-filter); a rule whose matches
start with a keyword is tried only at those positions (``lead``), others only in a window
around them. Nothing is compiled at import: patterns compile on first use with :mod:`re`,
or load pre-compiled from :meth:`Redactor.compiled_blob` (the hook's cache), where each
rule's ``_sre`` code is built only when its keyword occurs.
"""

from __future__ import annotations

from producers.secret_rules import GLOBAL_ALLOW_REGEXES, GLOBAL_STOPWORDS, UPSTREAM
from producers.secret_rules import RULES as GITLEAKS_RULES

__all__ = ["UPSTREAM", "Finding", "Redactor", "default_redactor", "find_secrets",
           "is_secret_assignment", "is_secret_name", "looks_random", "prints_secret", "redact",
           "redact_tree",
           "shannon_entropy"]

# --------------------------------------------------------------------------- our rules
# (kind, regex, secret group (-1: first non-empty), keywords (lower case), min entropy,
#  lead (every match starts at a keyword), max width (-1: unbounded), allowlists, check,
#  folded (runs on the ASCII-lower-cased text, so it is case-insensitive at no cost)).
# ``check`` names the value test in _accept. tests/unit/producers/test_secret_rules.py
# verifies ``lead`` and ``width`` against the patterns themselves.
_SEP = r"[_.\-]"
_NAMES = (  # secret words an assignment's name is found by (is_secret_name decides)
    r"(?:passw(?:or)?d|passphrase|pass|pwd|secret|token|key|auth|credentials?|creds|dsn"
    r"|cookie)"
)
_ASSIGN_HEAD = _NAMES + r"[a-z0-9_.\-]{0,41}+"  # possessive: no backtracking into the name
_OPEN = r"""(?:\\?["'])?[ \t]{0,3}(?::|=|:=|=>)[ \t]{0,3}"""
_VALUE_UNQUOTED = r"""([^\s"'`,;&|<>(){}\[\]\\]+)"""
_PROGRAMS_P = (  # programs whose short -p/-P/-a flag takes a password as its next word
    "sshpass", "az login", "az ad", "docker login", "podman login", "nerdctl login",
    "helm registry login", "mongo", "twine", "sqlcmd", "bcp", "redis-cli", "zip",
    "oc login", "cf login", "ldapsearch", "ldapmodify", "ldapadd", "rabbitmqadmin",
)
_FLAG_NAMES = (  # --<name> <value> (the --name=value form is an assignment)
    "password", "passwd", "pass", "pwd", "secret", "token", "api-key", "apikey", "api_key",
    "auth-token", "access-token", "client-secret", "passphrase", "http-password",
    "ftp-password", "proxy-password", "db-password", "admin-password", "root-password",
    "master-password", "secret-key", "access-key", "account-key", "sas-token",
    "private-key", "with-token", "auth",
)
# Commands whose output is a secret (kubectl ... | base64 -d, vault kv get -field=...).
_SECRET_READERS = ("kubectl get secret", "secretsmanager get-secret-value", "keyvault secret show",
                   "vault kv get -field", "vault read -field", "op read", "pass show",
                   "find-generic-password", "gh auth token", "auth:token", "print-access-token",
                   "secrets versions access", "doppler secrets get", "cat ~/.git-credentials")
_SINGLE_DASH_FLAGS = ("storepass", "keypass", "srcstorepass", "deststorepass", "srckeypass",
                      "destkeypass", "passin", "passout")

LOCAL_RULES: tuple[tuple, ...] = (
    ("private_key",
     r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
     r"(?:-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----|\Z)",
     0, ("-----begin",), 0.0, True, -1, (), "", False),
    # `openssl rsa|ec|dsa -text`: the private numbers as indented hex lines
    ("private_key",
     r"(?:priv|privateexponent|prime1|prime2|exponent1|exponent2|coefficient|private-key)"
     r":[ \t]*\r?\n((?:[ \t]+[0-9a-f]{2}(?::[0-9a-f]{2})*:?[ \t]*(?:\r?\n|\Z))+)", 1,
     ("priv", "prime1", "prime2", "exponent1", "exponent2", "coefficient"), 0.0, True, -1,
     (), "", True),
    ("anthropic_key", r"sk-ant-[A-Za-z0-9_\-]{20,}", 0, ("sk-ant-",), 0.0, True, -1, (),
     "token_start", False),
    ("openai_key", r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", 0, ("sk-",),
     3.0, True, -1, (), "token_start", False),
    ("stripe_key", r"(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/=]{24,}",
     0, ("sk_", "rk_", "whsec_"), 3.0, True, -1, (), "token_start", False),
    ("github_token", r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}", 0,
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), 3.0, True, -1, (),
     "token_start", False),
    ("slack_token", r"xox[abposre]\.?-[A-Za-z0-9\-]{10,}|xapp-\d-[A-Za-z0-9\-]{20,}", 0,
     ("xoxa", "xoxb", "xoxp", "xoxo", "xoxs", "xoxr", "xoxe", "xapp-"), 2.5, True, -1, (),
     "token_start", False),
    ("slack_webhook",
     r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,}", 0,
     ("https://hooks.slack.com/",), 0.0, True, -1, (), "", False),
    ("google_api_key", r"AIza[0-9A-Za-z_\-]{35}", 0, ("aiza",), 3.0, True, 39, (),
     "token_start", False),
    ("google_oauth",
     r"GOCSPX-[A-Za-z0-9_\-]{24,}|ya29\.[A-Za-z0-9_\-]{30,}|1//0[A-Za-z0-9_\-]{40,}", 0,
     ("gocspx-", "ya29.", "1//0"), 3.0, True, -1, (), "token_start", False),
    # Prefixed tokens, ours and gitleaks' (theirs may need an end delimiter or a name).
    ("api_token",
     r"(?:glpat-|gldt-|glrt-|glft-|glsoat-|glptt-|glimt-|glcbt-|npm_|pypi-|hf_|api_org_"
     r"|dop_v1_|doo_v1_|dor_v1_|shp(?:at|ss|ca|pa)_|dapi|gsk_|r8_|dckr_pat_|sbp_|pcsk_"
     r"|bkua_|figd_|napi_|nfp_|pnu_|sgp_|pplx-|lin_api_|ntn_|sntry[su]_|glsa_|glc_"
     r"|hv[sb]\.|dp\.pt\.|fo1_|ops_eyJ|pscale_(?:tkn|pw|oauth)_|shippo_(?:live|test)_"
     r"|rubygems_|CCIPAT_|ATBB|EZAK|AKCp|NRAK-|NRII-|NRJS-|PMAK-|dt0c01\.|tskey-"
     r"|pat-(?:na|eu|ap)\d-|fw_|re_[A-Za-z0-9]{6,}_|ATATT3|ATCTT3)[A-Za-z0-9_\-.=]{16,}"
     r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}|sk_[a-f0-9]{48}|key-[a-f0-9]{32}"
     r"|pat[A-Za-z0-9]{14}\.[a-f0-9]{64}",
     0, ("glpat-", "gldt-", "glrt-", "glft-", "glsoat-", "glptt-", "glimt-", "glcbt-",
         "npm_", "pypi-", "hf_", "api_org_", "dop_v1_", "doo_v1_", "dor_v1_", "shpat_",
         "shpss_", "shpca_", "shppa_", "dapi", "gsk_", "r8_", "dckr_pat_", "sbp_", "pcsk_",
         "bkua_", "figd_", "napi_", "nfp_", "pnu_", "sgp_", "pplx-", "lin_api_", "ntn_",
         "sntrys_", "sntryu_", "glsa_", "glc_", "hvs.", "hvb.", "dp.pt.", "fo1_", "ops_eyj",
         "pscale_", "shippo_", "rubygems_", "ccipat_", "atbb", "ezak", "akcp", "nrak-",
         "nrii-", "nrjs-", "pmak-", "dt0c01.", "tskey-", "pat", "fw_", "re_", "sg.", "sk_",
         "atatt3", "atctt3", "key-"),
     3.0, True, -1, (), "token_start", False),
    ("api_token", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-]{40,128}", 0, (".atlasv1.",),
     3.0, False, 151, (), "token_start", False),
    ("aws_access_key", r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}(?![A-Za-z0-9])",
     0, ("akia", "asia", "abia", "acca", "aroa", "aida", "a3t"), 2.5, True, 20, (),
     "token_start", False),
    ("aws_secret_key",
     r"(?:aws.{0,20}?(?:secret|private).{0,20}?|secret[_\-]?access[_\-]?key.{0,5}?)"
     r"[\"'\\]{0,2}\s{0,3}(?:[:=]|=>|\s)\s{0,3}[\"'\\]{0,2}([a-z0-9/+]{40})(?![a-z0-9/+=])",
     1, ("aws", "secret"), 0.0, True, 120, (), "", True),
    # The lookbehind after the literal rejects "eyJ" inside a longer token at once.
    ("jwt", r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
     0, ("eyj",), 0.0, True, -1, (), "", False),
    # scheme://user:password@host (the password may itself hold '@': up to the last one)
    ("url_password", r"://[^\s:/?#@\"'<>]{0,128}:([^\s/\"'<>]{1,1024})@", 1, ("://",), 0.0, True,
     -1, (), "value", False),
    ("bearer_token",
     r"(?:bearer|token)[ \t]+([a-z0-9\-._~+/]{12,}=*)(?![a-z0-9\-._~+/=])", 1,
     ("bearer", "token"), 0.0, True, -1, (), "bearer", True),
    ("basic_auth", r"basic[ \t]+([a-z0-9+/]{12,}={0,2})(?![a-z0-9+/=])", 1, ("basic",), 0.0,
     True, -1, (), "basic", True),
    # "password": "x y z" (JSON/YAML/Python, quoted: the value may hold spaces).
    ("secret_assignment",
     _ASSIGN_HEAD + r"""(\\?["']?)[ \t]{0,3}(?::|=|:=|=>)[ \t]{0,3}(\\?["'])((?:(?!\2).){1,4096}?)\2""",
     3, ("pass", "pwd", "secret", "token", "key", "auth", "credential", "creds", "dsn",
         "cookie"), 0.0, True, -1, (), "assignment", True),
    # PASSWORD=x, --password=x, password: x, \"password\": \"x\" (the value ends at white
    # space, a quote or a separator).
    ("secret_assignment", _ASSIGN_HEAD + _OPEN + r"(?:\\?[\"'])?" + _VALUE_UNQUOTED, 1,
     ("pass", "pwd", "secret", "token", "key", "auth", "credential", "creds", "dsn",
      "cookie"), 0.0, True, -1, (), "assignment", True),
    # curl -u user:pass, --user user:pass, wget --user=x --password=y
    ("cli_password",
     r"(?:-u[ \t]{1,3}|--user[= ])[\"']?[^\s:\"']{1,64}:([^\s@\"']{3,})", 1,
     ("-u", "--user"), 0.0, True, -1, (), "value", False),
    # --password x, --token x (flags taking a secret as their next word)
    ("cli_password",
     r"--(?:" + "|".join(f.replace("-", r"\-") for f in _FLAG_NAMES) + r")"
     r"[ \t]+([\"']?)([^\s\"'-][^\s\"']*)\1", 2, tuple(sorted("--" + f for f in _FLAG_NAMES)),
     0.0, True, -1, (), "flag", True),
    # -storepass x, -passout x (Java keytool, openssl)
    ("cli_password",
     r"-(?:" + "|".join(_SINGLE_DASH_FLAGS) + r")[ \t]+([\"']?)([^\s\"'-][^\s\"']*)\1", 2,
     tuple(sorted("-" + f for f in _SINGLE_DASH_FLAGS)), 0.0, True, -1, (), "flag", True),
    # openssl -passin pass:x, -passout pass:x
    ("cli_password", r"(?<![a-z])pass:([^\s\"']{3,})", 1, ("pass:",), 0.0, True, -1, (),
     "flag", True),
    # sshpass -p x, az login ... -p x, docker login -p x, redis-cli -a x, sqlcmd -P x
    ("cli_password",
     r"(?<![A-Za-z0-9_\-])(?:" + "|".join(_PROGRAMS_P)
     + r")\b[^\n|;&]{0,300}?"
     r"[ \t](?:-p|-P|-a|-w)[ \t]+([\"']?)([^\s\"'-][^\s\"']*)\1", 2,
     tuple(sorted(_PROGRAMS_P)), 0.0, True, -1, (), "flag", False),
    # mysql -pSECRET (attached; "-p dbname" is the database), 7z -pSECRET
    ("cli_password",
     r"(?<![A-Za-z0-9_\-])(?:mysql|mysqldump|mysqladmin|mysqlimport|mariadb|mariadb-dump|7z"
     r"|7za|unrar|rar)\b"
     r"[^\n|;&]{0,300}?[ \t]-p([\"']?)([^\s\"']{3,})\1", 2,
     ("mysql", "mariadb", "7z", "unrar", "rar"), 0.0, True, -1, (), "flag", False),
    # smbclient -U 'DOMAIN\user%password'
    ("cli_password", r"smbclient\b[^\n|;&]{0,300}?-U[ \t]+[\"']?[^\s%\"']+%([^\s\"']+)", 1,
     ("smbclient",), 0.0, True, -1, (), "flag", False),
    # htpasswd -b [-c] file user password
    ("cli_password",
     r"htpasswd[ \t]+(?:-[A-Za-z]+[ \t]+)*-[A-Za-z]*b[A-Za-z]*[ \t]+(?:-[A-Za-z]+[ \t]+)*"
     r"\S+[ \t]+\S+[ \t]+([\"']?)([^\s\"']+)\1", 2, ("htpasswd",), 0.0, True, -1, (), "flag",
     False),
    # .netrc: machine host login user password secret
    ("netrc_password",
     r"machine[ \t]+\S+(?:[ \t]+login[ \t]+\S+)?[ \t]+password[ \t]+(\S+)", 1, ("machine",),
     0.0, True, -1, (), "flag", True),
    # .pgpass: host:port:database:user:password
    ("pgpass_password",
     r"(?<!\S)[^\s:#]{1,253}:(?:\d{2,5}|\*):[^\s:]{1,63}:[^\s:]{1,63}:(\S{1,256})(?!\S)", 1,
     (":5432:", ":*:", ":5433:", ":6432:"), 0.0, False, 645, (), "value", False),
    # SQL: CREATE USER u IDENTIFIED BY 'x', ALTER ROLE r WITH PASSWORD 'x',
    # SET PASSWORD FOR u = PASSWORD('x')
    ("sql_password",
     r"(?:user|role|login|set password)\b[^\n;]{0,120}?(?:identified[ \t]+(?:with[ \t]+\w+"
     r"[ \t]+)?by|password)[ \t]*(?:=[ \t]*)?(?:password[ \t]*)?\(?[ \t]*'([^'\r\n]{3,})'", 1,
     ("user", "role", "login", "set password"), 0.0, True, -1, (), "value", True),
    # Azure SAS tokens: ...&sig=<url-encoded base64>
    ("azure_sas", r"(?<=[?&])sig=([A-Za-z0-9%+/=]{20,})", 1, ("sig=",), 0.0, True, -1, (), "",
     False),
    # A table row of a secret manager's output: "password    s3cr3t" (two or more spaces)
    ("secret_assignment",
     _NAMES + r"[a-z0-9_.\-]{0,41}+[ \t]{2,}([^\s]{3,})[ \t]*(?:\r?\n|\Z)", 1,
     ("pass", "pwd", "secret", "token", "key", "auth", "credential", "creds", "dsn", "cookie"),
     0.0, True, -1, (), "table", True),
    # <password>s3cr3t</password>, <add key="ApiKey" value="..."/>
    ("secret_assignment",
     r"(?<=<)([a-z0-9_:.\-]{0,40}(?:pass|pwd|secret|token|key|auth|credential)[a-z0-9_:.\-]{0,40})"
     r">([^<\s]{3,256})</", 2, ("pass", "pwd", "secret", "token", "key", "auth", "credential"),
     0.0, False, 360, (), "named", True),
    ("secret_assignment",
     r"key[ \t]*=[ \t]*[\"']([A-Za-z0-9_.\-]{2,80})[\"'][ \t]+value[ \t]*=[ \t]*[\"']"
     r"([^\"'\r\n]{3,})[\"']", 2, ("key",), 0.0, True, -1, (), "named", True),
    # requests auth=("user", "pw"), HTTPBasicAuth("user", "pw"), aiohttp BasicAuth("u", "pw")
    ("cli_password",
     r"(?:auth[ \t]*=[ \t]*\(?|basicauth\()[ \t]*[\"'][^\"'\r\n]{1,64}[\"'][ \t]*,[ \t]*"
     r"[\"']([^\"'\r\n]{3,})[\"']", 1, ("auth", "basicauth("), 0.0, True, -1, (), "value", True),
    # redis: AUTH [user] password (the CLI prompt or a MULTI block)
    ("cli_password",
     r"auth[ \t]+(?:[^\s]+[ \t]+)?([^\s]{3,})[ \t]*(?:\r?\n|\Z)", 1, ("auth",), 0.0, True,
     -1, (), "redis", True),
    # the output line of a command that prints a secret (a terminal transcript)
    ("secret_output",
     r"(?:" + "|".join(c.replace(".", r"\.") for c in _SECRET_READERS)
     + r")[^\n]{0,300}\n[ \t]*([^\n]{3,})", 1,
     _SECRET_READERS, 0.0, True, -1, (), "", True),
    # Kubernetes env lists and ECS/SSM-style JSON: the name is one key, the value the next.
    ("secret_assignment",
     r"name:[ \t]*[\"']?([A-Za-z0-9_.\-]{2,80})[\"']?[ \t]*\r?\n[ \t]*value:[ \t]*"
     r"([\"']?)([^\s\"']+)\2", 3, ("name:",), 0.0, True, -1, (), "named", False),
    ("secret_assignment",
     r"(?i)[\"']name[\"'][ \t]*:[ \t]*[\"']([A-Za-z0-9_.\-]{2,80})[\"'][ \t]*,[ \t]*"
     r"[\"']value[\"'][ \t]*:[ \t]*[\"']([^\"'\r\n]+)[\"']", 2, ('"name', "'name"), 0.0,
     True, -1, (), "named", False),
    ("webhook_url",
     r"webhook\.office\.com/webhookb2/([^\s\"'<>`]+)", 1, ("webhook.office.com",), 0.0, True,
     -1, (), "", True),
    ("discord_webhook",
     r"discord(?:app)?\.com/api/webhooks/\d+/([A-Za-z0-9_\-]{30,})", 1, ("discord",), 0.0,
     True, -1, (), "", True),
)

# Rules in priority order (overlapping findings merge; the earlier kind names them).
# (_NAMED_RULES, below: those that find a secret by the name it is assigned to.)
_RULES: tuple[tuple, ...] = (
    LOCAL_RULES[:1]
    + tuple((*r, "", False) for r in GITLEAKS_RULES)
    + LOCAL_RULES[1:]
)

# Runs of token characters the entropy pass judges (after the rules in the pattern list).
_NAMED_RULES = frozenset(
    i for i, r in enumerate(_RULES)
    if r[8] in ("assignment", "named", "table") or r"(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)" in r[1])
_RUN_PATTERN = r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{20,}={0,2}(?![A-Za-z0-9+/_\-=])"

# --------------------------------------------------------------------------- look-alikes
_MARK = "[REDACTED:"
_BENIGN_VALUES = frozenset({
    "true", "false", "null", "none", "nil", "undefined", "yes", "no", "on", "off",
    "required", "optional", "string", "str", "bytes", "int", "bool", "include", "omit",
    "same-origin", "redacted", "masked", "hidden", "<redacted>", "stdin", "prompt",
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
# Names that say what the key is for when the only secret word is "key".
_KEY_QUALIFIERS = ("api", "app", "application", "secret", "private", "access", "signing",
                   "sign", "encryption", "encrypt", "master", "account", "license", "licence",
                   "client", "service", "admin", "write", "auth", "session", "storage",
                   "shared", "sharedaccess", "subscription", "consumer", "crypto", "hmac",
                   "webhook", "cipher", "aes", "secret_access", "ssh", "deploy", "dd",
                   "datadog", "sendgrid", "stripe", "openai", "anthropic", "mailgun", "x-api",
                   "cloudflare", "algolia", "segment", "gcp", "google", "azure", "aws",
                   "mistral", "cohere", "groq", "vercel", "pagerduty", "elevenlabs")
_BENIGN_KEY_WORDS = ("primary", "foreign", "public", "sort", "partition", "cache", "idempotency",
                     "dedup", "hash", "lookup", "i18n", "translation", "unique", "composite",
                     "index", "row", "range", "routing", "message", "shard", "group", "dict",
                     "map", "object", "s3", "blob", "bucket", "registry", "pubkey")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_EXTEND = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_EXTEND_B64 = _EXTEND | frozenset("+/=")
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
_ALLOW_BEFORE = (
    "h1:", "sha1-", "sha256-", "sha384-", "sha512-", "sha256:", "sha512:", "sha1:", "md5:",
    "nonce-", "base64,", "/nix/store/", "/ipfs/", "ipfs://", "code_challenge=",
    '"n": "', '"n":"', '"x": "', '"x":"', '"y": "', '"y":"', "/d/", "x-amz-id-2: ",
    "x-amz-cf-id: ", "ssh-rsa ", "ssh-ed25519 ", "ssh-dss ", "ecdsa-sha2-nistp256 ",
    "ecdsa-sha2-nistp384 ", "ecdsa-sha2-nistp521 ", "sk-ssh-ed25519@openssh.com ",
    "integrity ", "checksum ", "digest ", "pk.",
)
# Names whose value is an id, a digest or public by design, never a credential.
_ID_NAME_WORDS = frozenset(("id", "ids", "uid", "uuid", "guid", "ulid", "ksuid", "etag", "hash",
                            "digest", "checksum", "sha", "nonce", "cursor", "ref", "version",
                            "order", "commit", "revision", "fingerprint", "thumbprint", "oid",
                            "sitekey", "tag", "node"))
_PUBLIC_NAME_WORDS = frozenset(("public", "publishable", "search", "site", "sitekey", "pub",
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
_DIGIT = frozenset("0123456789")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")
_B64_STD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_NIX32 = frozenset("0123456789abcdfghijklmnpqrsvwxyz")
_CROCKFORD = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz")
_PRINTABLE = bytes(range(32, 127)) + b"\t\n\r"
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
        _static.append("|".join(f"(?i:{rx[4:]})" if rx.startswith("(?i)") else f"(?:{rx})"
                                for rx in GLOBAL_ALLOW_REGEXES) or "(?!)")
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
        (self._lead_for, self._window_for, self._allow_index, self._i_global_allow,
         self._i_keywords, self._i_token) = index or _build_index()

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
            if key != _blob_key(sys, _sre) or len(packed[1]) != len(_RULES) + _n_allow() + 4:
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
        if group < 0:  # gitleaks: the first non-empty group, else the match
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
        elif check and not _value_ok(check, m, start, end, value, text):
            return
        if rule[4] and shannon_entropy(value) < rule[4]:
            return
        if _is_placeholder(value):
            return
        if ri in _NAMED_RULES and _name_words_before(text, start) & _PUBLIC_NAME_WORDS:
            return  # ALGOLIA_SEARCH_KEY, STRIPE_PUBLISHABLE_KEY: public by design
        if rule[7] and self._allowed_by_rule(ri, m, value, text):
            return
        if self._globally_allowed(value):
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

    def _globally_allowed(self, value: str) -> bool:
        if GLOBAL_STOPWORDS:
            lowered = value.lower()
            if any(w in lowered for w in GLOBAL_STOPWORDS):
                return True
        return self._pattern(self._i_global_allow).search(value) is not None

    def _entropy(self, text: str, low: str, found: list, depth: int) -> None:
        """Random-looking tokens (and wrapped base64 blocks), minus the look-alikes."""
        tokens = [(m.start(), m.end()) for m in self._pattern(self._i_token).finditer(text)]
        if not tokens:
            return
        public = _public_blocks(low) if "-----begin" in low else ()
        covered = _Spans(found)
        for start, end, joined in _blocks(text, tokens):
            if covered.covers(start, end) or _inside_marker(text, start):
                continue
            if public and any(a <= start < b for a, b in public):
                continue
            if low.endswith(_ALLOW_BEFORE, max(0, start - 28), start):
                continue
            if end - start < _BARE_MIN and not any(c in joined for c in "+/="):
                continue  # short ids (nano ids, KSUIDs) look random too: a name must tell
            words = _name_words_before(text, start)
            if words & _ID_NAME_WORDS or words & _PUBLIC_NAME_WORDS:
                continue  # "id": "...", data-sitekey="...", PUBLIC_KEY=...
            if _is_address(low, start, joined):
                continue
            if "/" in joined and _is_path(text, start, joined):
                # a path or URL: judge each segment on its own, with its own context
                at = start
                for segment in joined.split("/"):
                    if len(segment) >= 20 and not low.endswith(_ALLOW_BEFORE, max(0, at - 28), at):
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
        decoded = _decode_text(token) if len(token) >= 24 and depth < _MAX_DEPTH else None
        if decoded is not None:
            if isinstance(decoded, bytes):  # binary: public material or key material?
                if _is_public_binary(decoded):
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


def _name_words_before(text: str, start: int) -> set[str]:
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


def _is_address(low: str, start: int, token: str) -> bool:
    """A bech32 address (``cosmos1...``, ``bc1...``) or a base58 one after a word that
    says so ("wallet ...", "address: ..."): public, not key material."""
    sep = token.rfind("1")
    if token.islower() and 0 < sep <= 20 and len(token) - sep > 30 and set(token[sep + 1:]) <= _BECH32:
        return True
    return 32 <= len(token) <= 44 and set(token) <= _B58 and any(
        w in low[max(0, start - 24):start] for w in _ADDRESS_WORDS)


def _is_path(text: str, start: int, token: str) -> bool:
    """A token with ``/`` that is a path or URL rather than base64 key material (which
    may hold '/' anywhere, even first): a path has a lower-case word as a segment."""
    if "+" in token or token.endswith("="):
        return False
    shortest = 3 if token.startswith("/") or (start and text[start - 1] in ".:~") else 4
    return any(len(seg) >= shortest and seg.isalpha() and seg.islower()
               for seg in token.split("/"))


def _build_index() -> tuple:
    """``(rules for each keyword, allowlist pattern positions per rule, position of the
    global allowlist, of the keyword trie, of the token pattern)`` in the pattern list."""
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
    return lead_for, window_for, allow_index, i, i + 1, i + 2


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
        if j > i and not all(c in _B64_CHARS for p in parts for c in p):
            # not base64 lines after all: judge them one by one
            for s, e in tokens[i:j + 1]:
                out.append((s, e, text[s:e]))
        else:
            out.append((start, end, "".join(parts)))
        i = j + 1
    return out


def _decode_text(token: str) -> str | bytes | None:
    """``token`` base64-decoded: ``str`` if it decodes to text, ``bytes`` if to binary,
    ``None`` if it is no base64 (odd length, invalid characters)."""
    t = token.rstrip("=")
    if len(t) % 4 == 1 or not all(c in _B64_CHARS for c in t):
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


def _is_public_binary(raw: bytes) -> bool:
    """An SSH public key blob, an X.509 certificate (DER) or media (an image, a font, a
    PDF: what screenshot and file tools return as bare base64), not key material."""
    if raw.startswith(_MEDIA_MAGIC):
        return True
    if raw[:4] in (b"\x00\x00\x00\x07", b"\x00\x00\x00\x0b", b"\x00\x00\x00\x13",
                   b"\x00\x00\x00\x0e", b"\x00\x00\x00\x1a", b"\x00\x00\x00\x22"):
        return raw[4:].startswith(_SSH_KEY_TYPES)
    # Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version INTEGER 2 ...
    return raw[:1] == b"\x30" and b"\xa0\x03\x02\x01\x02" in raw[:16]


def _public_blocks(low: str) -> list[tuple[int, int]]:
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
        if "private" not in label:
            out.append((at, stop))
        at = low.find("-----begin", stop if end >= 0 else label_end)
    return out


def _fold(text: str) -> str:
    """ASCII lower case with the same length (offsets stay valid)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A few non-ASCII letters lower to two code points (U+0130): fold ASCII only.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


_ENGINE_VERSION = 2  # bump when _keyword_regex changes (cached blobs are then refused)


def _blob_key(sys_module, sre_module) -> tuple:
    """What the cached index depends on: interpreter, ``_sre``, upstream rules, and each
    rule's keywords and shape (lead, width, folded)."""
    shapes = tuple((r[3], r[5], r[6], r[9]) for r in _RULES)
    return (sys_module.version, sre_module.MAGIC, sre_module.CODESIZE, UPSTREAM.get("sha256", ""),
            _ENGINE_VERSION, shapes)


def _value_ok(check: str, m, start: int, end: int, value: str, text: str) -> bool:
    if check == "value":
        return _is_secret_value(value)
    if check == "flag":
        v = value.strip()
        if len(v) < 3 or v.lower() in _BENIGN_VALUES or _is_placeholder(v) or v.isdigit() or \
                v.startswith(("$", "%", "<", "{", "/", "~/", "./", "@", "file:", "env:")):
            return False
        # a password has a digit or a symbol, or is long and mixed-case (not "basic")
        return any(c in _DIGIT or not c.isalnum() for c in v) or (
            len(v) >= 12 and not v.islower() and not v.isupper())
    if check == "bearer":
        return any(c in _DIGIT for c in value) or looks_random(value)
    if check == "basic":
        decoded = _decode_text(value)
        return (isinstance(decoded, str) and ":" in decoded) or looks_random(value) or \
            any(c in _DIGIT for c in value)
    if check == "table":
        line_start = text.rfind("\n", 0, m.start()) + 1
        name = _assigned_name(text, m.start(), start)
        return text[line_start:_name_start(text, m.start())].strip() == "" and \
            is_secret_name(name) and _is_secret_value(value) and not value.isalpha()
    if check == "redis":
        line_start = text.rfind("\n", 0, m.start()) + 1
        prompt = text[line_start:m.start()].rstrip()
        return (prompt == "" or prompt.endswith(">")) and text[m.start():m.start() + 4] in (
            "AUTH", "auth") and _value_ok("flag", m, start, end, value, text)
    if check == "named":
        return is_secret_name(m.group(1)) and _is_secret_value(value)
    if check == "assignment":
        name = _assigned_name(text, m.start(), start)
        if not is_secret_name(name):
            return False
        rest = text[end:end + 4].lstrip(" \t")
        if rest[:1] == "=" and rest[1:2] != "=":
            return False  # password: Secret = Secret("") is a type annotation
        if end < len(text) and text[end] in "([" and m.re.groups == 1:
            return False  # password = read_password(...), token = cfg[...]
        return _is_secret_value(value)
    return True


def _name_start(text: str, keyword_at: int) -> int:
    s = keyword_at
    while s > 0 and keyword_at - s < 64 and text[s - 1] in _NAME_CHARS:
        s -= 1
    return s


def _assigned_name(text: str, keyword_at: int, value_at: int) -> str:
    """The whole name a value is assigned to: from the start of the identifier holding
    the keyword (``DD_APP_KEY``) to the operator."""
    s = _name_start(text, keyword_at)
    e = keyword_at
    while e < value_at and text[e] in _NAME_CHARS:
        e += 1
    return text[s:e].strip(".-")


def _inside_marker(text: str, start: int) -> bool:
    open_at = text.rfind(_MARK, max(0, start - 64), start + len(_MARK))
    return open_at >= 0 and text.find("]", open_at) >= start


def _is_placeholder(value: str) -> bool:
    """``sk-...``, ``AKIA...EXAMPLE``, ``ghp_xxxx``, ``<your-token>``: documentation."""
    v = value.lower()
    if any(w in v for w in _PLACEHOLDER_WORDS):
        return True
    return len(v) >= 8 and any(c * 8 in v for c in set(v))  # xxxxxxxx, 00000000


def _is_secret_value(value: str) -> bool:
    """An assigned value that may be a secret, not a placeholder, number, path or code."""
    v = value.strip()
    if len(v) < 3 or v.lower() in _BENIGN_VALUES or _is_placeholder(v):
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
    if v.startswith(_PUBLIC_VALUE_PREFIXES):
        return False  # publishable keys (Stripe pk_, Mapbox pk.), public keys
    scheme = v.find("://")
    if 0 < scheme < 12 and ":" not in v[scheme + 3:v.find("@", scheme) if "@" in v else scheme + 3]:
        return False  # a URL with no password (a Sentry DSN): url_password judges the rest
    # self.token, settings.api_key: attribute access in code, not a literal
    parts = v.split(".")
    return not (len(parts) >= 2 and all(p.isidentifier() and p.islower() and
                                        not any(c in _DIGIT for c in p) for p in parts))


_SECRET_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "api-key",
    "accesskey", "access_key", "access-key", "privatekey", "private_key", "private-key",
    "credential", "authorization", "auth", "dsn", "pwd", "signing_key", "session_key",
    "encryption_key", "accountkey", "account_key", "masterkey", "master_key", "cookie",
    "creds",
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
    for word in _SECRET_WORDS:
        at = n.find(word)
        while at >= 0:
            before = n[at - 1] if at else ""
            after = n[at + len(word):]
            starts = not before or before in "_-."
            ends = after in ("", "s") or after[0] in "_-." or (after[0] == "s" and after[1] in "_-.")
            if ends and (starts or word not in ("auth", "sig", "dsn", "pwd", "token")):
                return True
            at = n.find(word, at + 1)
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
    if any(reader in low for reader in _SECRET_READERS):
        return True
    from itertools import pairwise  # built in: free to import

    words = command.replace(";", " ").replace("|", " ").replace("&", " ").split()
    for verb, arg in pairwise(words):
        if verb in ("echo", "printf", "printenv") or (verb == "-n" and arg.startswith("$")):
            name = arg.strip("\"'").lstrip("$").strip("{}")
            if (arg.lstrip("\"'").startswith("$") or verb == "printenv") and is_secret_name(name):
                return True
    return False


def is_secret_assignment(name: str, value: object) -> bool:
    """Is ``value`` a secret because of the name it is assigned to (JSON keys, kwargs)?"""
    return isinstance(value, str) and is_secret_name(name) and _is_secret_value(value)


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
    if t.startswith(_ID_PREFIXES) or _is_placeholder(t):
        return False
    if n == 26 and chars <= _CROCKFORD and t[0] in "01234567":
        return False  # ULID (48-bit time first, so it starts with 0-7)
    if n >= 32 and t[32:33] in ("-", "") and set(t[:32]) <= _NIX32:
        return False  # nix store hash
    has_digit = bool(chars & _DIGIT)
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
