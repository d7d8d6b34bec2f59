"""The secret rules :mod:`hivemind_kafka.producers.secrets.redact` runs, written here from first principles:
the structure of key material (PEM and SSH2 armour, PuTTY files, XML and JSON keys,
JWTs), where credentials sit (URL authorities and query strings, ``NAME=value`` judged by
the name, CLI flags, netrc/pgpass lines, prose that announces a password), and providers'
documented token formats (a fixed prefix, or a fixed shape such as ``AKID`` + 32).
No rule is copied or generated from an outside rule set.
tests/unit/producers/test_secret_rules.py checks each rule's shape,
test_secret_formats.py the classes and their look-alikes.

A rule is ``(kind, regex, secret group (-1: first non-empty), keywords (lower case), min
entropy, lead (every match starts at a keyword), max width (-1: unbounded), allowlists,
check, folded)``: ``check`` names the value test in ``redact._value_ok``; a ``folded`` rule
runs on the ASCII-lower-cased text (case-insensitive at no cost); ``lead`` and ``width``
let the detector try the rule only at (or near) its keywords.

Stdlib-free constants only: imported on every tool call by the hook.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- our rules
# (kind, regex, secret group (-1: first non-empty), keywords (lower case), min entropy,
#  lead (every match starts at a keyword), max width (-1: unbounded), allowlists, check,
#  folded (runs on the ASCII-lower-cased text, so it is case-insensitive at no cost)).
# ``check`` names the value test in _accept. tests/unit/producers/test_secret_rules.py
# verifies ``lead`` and ``width`` against the patterns themselves.
_NAMES = (  # secret words an assignment's name is found by (is_secret_name decides)
    r"(?:passw(?:or)?d|passphrase|pass|pwd|pw|psk|secret|token|key|auth|credentials?|creds"
    r"|dsn|cookie)"
)
# Where the rules judged by the name are tried (every word of _NAMES starts with one).
_NAME_KEYWORDS = ("pass", "pw", "psk", "secret", "token", "key", "auth", "credential", "creds",
                  "dsn", "cookie")

_ASSIGN_HEAD = _NAMES + r"[a-z0-9_.\-]{0,41}+"  # possessive: no backtracking into the name

# the operator after a name: quotes escaped up to twice (JSON in JSON in JSON), ENV['X'] =
_OPEN = r"""(?:\\{0,3}["'])?\]?[ \t]{0,3}(?::|=|:=|=>)[ \t]{0,3}"""

_VALUE_UNQUOTED = r"""([^\s"'`,;&|<>(){}\[\]\\]+)"""

_PROGRAMS_P = (  # programs whose short -p/-P/-a flag takes a password as its next word
    "sshpass", "az login", "az ad", "docker login", "podman login", "nerdctl login",
    "helm registry login", "mongo", "twine", "sqlcmd", "bcp", "redis-cli", "zip",
    "oc login", "cf login", "ldapsearch", "ldapmodify", "ldapadd", "rabbitmqadmin",
    "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport", "unzip",
)

_FLAG_NAMES = (  # --<name> <value> (the --name=value form is an assignment)
    "password", "passwd", "pass", "pwd", "secret", "token", "api-key", "apikey", "api_key",
    "auth-token", "access-token", "client-secret", "passphrase", "http-password",
    "ftp-password", "proxy-password", "db-password", "admin-password", "root-password",
    "master-password", "secret-key", "access-key", "account-key", "sas-token",
    "private-key", "with-token", "auth", "secret-string", "oauth2-bearer",
)

# Commands whose output is a secret (kubectl ... | base64 -d, vault kv get -field=...).
SECRET_READERS = ("kubectl get secret", "secretsmanager get-secret-value", "keyvault secret show",
                   "vault kv get -field", "vault read -field", "op read", "pass show",
                   "find-generic-password", "gh auth token", "auth:token", "print-access-token",
                   "secrets versions access", "doppler secrets get", "cat ~/.git-credentials")

# What reads a password from stdin (the value piped or fed to it is one).
STDIN_PASSWORD_READERS = ("--password-stdin", "sudo -s", "passwd --stdin", "-passin stdin",
                          "--passphrase-fd 0", "chpasswd", "--stdin-password")

# Query-string parameters whose value is a credential.
_QUERY_NAMES = ("password", "passwd", "pwd", "pass", "secret", "token", "access_token",
                "api_key", "apikey")

_SINGLE_DASH_FLAGS = ("storepass", "keypass", "srcstorepass", "deststorepass", "srckeypass",
                      "destkeypass", "passin", "passout", "password", "passwd")

_TOK = "A-Za-z0-9_\\-"  # base62 plus '-' and '_'
_DOTTED = "A-Za-z0-9_\\-.="  # tokens whose body holds '.' (macaroons, versions) or padding
_HEX = "a-f0-9"

# (prefix, body characters, shortest body) from each provider's documented token format.
_PROVIDER_TOKENS: tuple[tuple[str, str, int], ...] = (
    # code hosting, CI and package registries
    *((p, _DOTTED, 20) for p in ("glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-",
                                 "glimt-", "glagent-", "glsoat-", "gloas-", "glffct-")),
    ("npm_", _TOK, 30), ("pypi-", _DOTTED, 50), ("rubygems_", _HEX, 40),
    ("CCIPAT_", _TOK, 30), ("CCIRT_", _TOK, 30), ("ATBB", _TOK, 28), ("bkua_", _HEX, 40),
    ("dckr_pat_", _TOK, 20), ("AKCp", _TOK, 60), ("CLOJARS_", _TOK, 40),
    # clouds, hosting, databases
    ("dop_v1_", _HEX, 64), ("doo_v1_", _HEX, 64), ("dor_v1_", _HEX, 64),
    ("dapi", _HEX, 32), ("sbp_", _TOK, 40), ("pcsk_", _TOK, 40), ("napi_", _TOK, 40),
    ("nfp_", _TOK, 30), ("fo1_", _TOK, 30), ("FlyV1 fm", _DOTTED, 40), ("HRKU-", _TOK, 30),
    ("pul-", _HEX, 40), ("pscale_tkn_", _TOK, 32), ("pscale_pw_", _TOK, 32),
    ("pscale_oauth_", _TOK, 32), ("tskey-", _TOK, 20), ("dt0c01.", _DOTTED, 40),
    # secret managers and identity
    ("hvs.", _TOK, 24), ("hvb.", _TOK, 24), ("hvr.", _TOK, 24),
    *((f"dp.{k}.", _TOK, 30) for k in ("pt", "st", "ct", "sa", "scim", "audit")),
    ("ops_eyJ", _DOTTED, 40), ("AGE-SECRET-KEY-1", "A-Z0-9", 50),
    # AI and data APIs
    ("hf_", _TOK, 30), ("api_org_", _TOK, 30), ("gsk_", _TOK, 40), ("r8_", _TOK, 30),
    ("pplx-", _TOK, 40), ("fw_", _TOK, 20), ("sgp_", _TOK, 30),
    # SaaS
    ("shpat_", _HEX, 32), ("shpca_", _HEX, 32), ("shppa_", _HEX, 32), ("shpss_", _HEX, 32),
    ("figd_", _TOK, 30), ("pnu_", _TOK, 30), ("lin_api_", _TOK, 30), ("ntn_", _TOK, 30),
    ("sntrys_", _DOTTED, 40), ("sntryu_", _HEX, 40), ("glsa_", _TOK, 32), ("glc_", _DOTTED, 32),
    ("shippo_live_", _HEX, 40), ("shippo_test_", _HEX, 40), ("EZAK", _TOK, 32),
    ("EZTK", _TOK, 32), ("NRAK-", _TOK, 27), ("NRII-", _TOK, 27), ("NRJS-", _TOK, 19),
    ("NRAA-", _TOK, 27), ("PMAK-", _TOK, 40), ("pat-na1-", _TOK, 30), ("pat-eu1-", _TOK, 30),
    ("pat-ap1-", _TOK, 30), ("ATATT3", _DOTTED, 40), ("ATCTT3", _DOTTED, 40),
    ("xkeysib-", _TOK, 60), ("CFPAT-", _TOK, 40), ("sq0atp-", _TOK, 22),
    ("sq0csp-", _TOK, 40), ("EAAA", _TOK, 60), ("sk.eyJ", _DOTTED, 40), ("tfp_", _TOK, 40),
    ("rdme_", _TOK, 40), ("duffel_live_", _TOK, 40), ("duffel_test_", _TOK, 40),
    ("FLWSECK-", _TOK, 30), ("aio_", _TOK, 28),
)


def _provider_regex() -> str:
    """One alternation per (body characters, shortest body): ``(?:p1|p2)[chars]{n,}``."""
    groups: dict[tuple[str, int], list[str]] = {}
    for prefix, chars, shortest in _PROVIDER_TOKENS:
        groups.setdefault((chars, shortest), []).append(
            "".join("\\" + c if c in ".-" else c for c in prefix))
    return "|".join(f"(?:{'|'.join(prefixes)})[{chars}]{{{shortest},}}"
                    for (chars, shortest), prefixes in groups.items())


# Private key armour: PEM (5 dashes), ssh.com's SSH2 (4 dashes and spaces), PGP's "SECRET
# KEY BLOCK", and hand-mangled dashes; up to the END line, or to the end of the text.
_ARMOUR = r"-{2,5}[ \t]?%s[a-z0-9 _\-]{0,40} (?:private|secret) key(?: block)?[ \t]?-{2,5}"

LOCAL_RULES: tuple[tuple, ...] = (
    ("private_key", _ARMOUR % "begin" + r"[\s\S]*?(?:" + _ARMOUR % "end" + r"|\Z)", 0,
     ("private key", "secret key"), 0.0, False, -1, (), "", True),
    # PuTTY .ppk: the base64 lines after "Private-Lines: N" (and the MAC line after them)
    ("private_key",
     r"private-lines:[ \t]*\d+[ \t]*\r?\n((?:[ \t]*[a-z0-9+/]+={0,2}[ \t]*(?:\r?\n|\Z))+)",
     1, ("private-lines:",), 0.0, True, -1, (), "", True),
    # .NET's RSA XML key: the private parameters (Modulus and Exponent are public)
    ("private_key",
     r"<(d|p|q|dp|dq|inverseq)>[ \t\r\n]*([a-z0-9+/]{16,}={0,2})[ \t\r\n]*</\1>", 2,
     ("<d>", "<p>", "<q>", "<dp>", "<dq>", "<inverseq>"), 0.0, True, -1, (), "xml_key", True),
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
    # Providers' token formats: a documented prefix and a random body (_PROVIDER_TOKENS).
    ("api_token", _provider_regex(), 0, tuple(sorted({p.lower() for p, _, _ in _PROVIDER_TOKENS})),
     3.0, True, -1, (), "token_start", False),
    # Fixed shapes: Twilio API key SIDs (SK + 32 hex), Tencent Cloud SecretIds (AKID + 32),
    # Alibaba Cloud AccessKey ids (LTAI + 12..30), AWS access key ids (AKIA long-term,
    # ASIA temporary; 16 more upper-case letters/digits), SendGrid (SG.<id>.<secret>),
    # Mailgun (key- + 32 hex), ElevenLabs (sk_ + 48 hex), Airtable PATs (pat<14>.<64 hex>),
    # Resend (re_<8>_<24>; Stripe's refund ids re_<24> have no second '_').
    ("api_token",
     r"SK[0-9a-f]{32}(?![A-Za-z0-9])|AKID[A-Za-z0-9]{32}(?![A-Za-z0-9])"
     r"|LTAI[A-Za-z0-9]{12,30}(?![A-Za-z0-9])"
     r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}|key-[a-f0-9]{32}(?![A-Za-z0-9])"
     r"|sk_[a-f0-9]{48}|pat[A-Za-z0-9]{14}\.[a-f0-9]{64}|re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}",
     0, ("sk", "akid", "ltai", "sg.", "key-", "sk_", "pat", "re_"), 0.0, True, -1, (),
     "token_start", False),
    ("aws_access_key", r"A(?:KI|SI)A[A-Z0-9]{16}(?![A-Za-z0-9])", 0, ("akia", "asia"), 2.5,
     True, 20, (), "token_start", False),
    # Mailchimp API keys: <32 hex>-<datacenter> (us1..us21); the hex alone is a digest
    ("api_token", r"(?<![A-Za-z0-9_\-])[0-9a-f]{32}-us\d{1,2}(?![A-Za-z0-9_\-])", 0, ("-us",),
     0.0, False, 48, (), "", False),
    # Asana personal access tokens: <version>/<user id>[/<app id>]:<32 hex>
    ("api_token", r"[12]/\d{6,20}(?:/\d{6,20})?:[0-9a-f]{32}(?![A-Za-z0-9])", 0, ("1/", "2/"),
     0.0, True, 80, (), "token_start", False),
    # Telegram bot tokens: <bot id>:AA<33>
    ("api_token", r"(?<![A-Za-z0-9])\d{8,10}:AA[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])", 0,
     (":aa",), 0.0, False, 50, (), "", False),
    # Terraform Cloud / HCP: <14>.atlasv1.<rest>
    ("api_token", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-]{40,128}", 0, (".atlasv1.",),
     3.0, False, 151, (), "token_start", False),
    # The lookbehind after the literal rejects "eyJ" inside a longer token at once.
    ("jwt", r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
     0, ("eyj",), 0.0, True, -1, (), "", False),
    # scheme://user:password@host (the password may itself hold '@' or '/': up to the last
    # '@' before a host; "host:8443/path@x" is a port and a path, see _value_ok "url")
    ("url_password",
     r"://[^\s:/?#@\"'<>]{0,128}:([^\s/\"'<>]{1,1024}|[^\s/@\"'<>]{1,256}/[^\s@\"'<>]{0,256})"
     r"@(?=[A-Za-z0-9\[])", 1,
     ("://",), 0.0, True, -1, (), "url", False),
    # ...?user=x&password=y (JDBC, libpq URLs, ODBC-ish query strings)
    ("url_password",
     r"[?&;](?:" + "|".join(_QUERY_NAMES) + r")=([^&;#\s\"'<>]{3,})", 1,
     tuple(c + n + "=" for c in "?&;" for n in _QUERY_NAMES), 0.0, True, -1, (), "flag", True),
    ("bearer_token",
     r"(?:bearer|token)[ \t]+([a-z0-9\-._~+/]{12,}=*)(?![a-z0-9\-._~+/=])", 1,
     ("bearer", "token"), 0.0, True, -1, (), "bearer", True),
    ("basic_auth", r"basic[ \t]+([a-z0-9+/]{12,}={0,2})(?![a-z0-9+/=])", 1, ("basic",), 0.0,
     True, -1, (), "basic", True),
    # "password": "x y z" (JSON/YAML/Python, quoted: the value may hold spaces).
    ("secret_assignment",
     _ASSIGN_HEAD + r"""(\\{0,3}["']?)\]?[ \t]{0,3}(?::|=|:=|=>)[ \t]{0,3}(\\{0,3}["'])((?:(?!\2).){1,4096}?)\2""",
     3, _NAME_KEYWORDS, 0.0, True, -1, (), "assignment", True),
    # PASSWORD=x, --password=x, password: x, \"password\": \"x\" (the value ends at white
    # space, a quote or a separator).
    ("secret_assignment", _ASSIGN_HEAD + _OPEN + r"(?:\\{0,3}[\"'])?" + _VALUE_UNQUOTED, 1,
     _NAME_KEYWORDS, 0.0, True, -1, (), "assignment", True),
    # curl -u user:pass, --user user:pass, wget --user=x --password=y
    ("cli_password",
     r"(?:-u[ \t]{1,3}|--user[= ])[\"']?[^\s:\"']{1,64}:([^\s@\"']{3,})", 1,
     ("-u", "--user"), 0.0, True, -1, (), "value", False),
    # --password x, --token x (flags taking a secret as their next word)
    ("cli_password",
     r"--(?:" + "|".join(f.replace("-", r"\-") for f in _FLAG_NAMES) + r")"
     r"[ \t]+([\"']?)([^\s\"'`-][^\s\"'`]*)\1", 2, tuple(sorted("--" + f for f in _FLAG_NAMES)),
     0.0, True, -1, (), "flag", True),
    # --password "a quoted value with spaces"
    ("cli_password",
     r"--(?:" + "|".join(f.replace("-", r"\-") for f in _FLAG_NAMES) + r")"
     r"[ \t]+([\"'])([^\"'\r\n$`]{3,256})\1", 2, tuple(sorted("--" + f for f in _FLAG_NAMES)),
     0.0, True, -1, (), "value", True),
    # a password piped or fed to a command reading it from stdin:
    # echo 'pw' | docker login --password-stdin, printf '%s\n' 'pw' | sudo -S ...
    ("cli_password",
     r"(?:echo|printf)(?:[ \t]+-[a-z]{1,3})*(?:[ \t]+'%s(?:\\n)?'|[ \t]+\"%s(?:\\n)?\")?[ \t]+"
     r"([\"']?)([^\s\"'|;&$`][^\s\"'|;&`]*)\1[ \t]*\|", 2, ("echo", "printf"), 0.0, True, -1,
     (), "stdin_password", True),
    # sudo -S ... <<< 'pw', docker login --password-stdin <<< "pw"
    ("cli_password", r"<<<[ \t]*([\"']?)([^\s\"'$`][^\s\"']*)\1", 2, ("<<<",), 0.0, True, -1,
     (), "stdin_password", False),
    # -storepass x, -passout x (Java keytool, openssl)
    ("cli_password",
     r"-(?:" + "|".join(_SINGLE_DASH_FLAGS) + r")[ \t]+([\"']?)([^\s\"'`-][^\s\"'`]*)\1", 2,
     tuple(sorted("-" + f for f in _SINGLE_DASH_FLAGS)), 0.0, True, -1, (), "flag", True),
    # openssl -passin pass:x, -passout pass:x
    ("cli_password", r"(?<![a-z])pass:([^\s\"'`]{3,})", 1, ("pass:",), 0.0, True, -1, (),
     "flag", True),
    # sshpass -p x, az login ... -p x, docker login -p x, redis-cli -a x, sqlcmd -P x
    ("cli_password",
     r"(?<![A-Za-z0-9_\-])(?:" + "|".join(_PROGRAMS_P)
     + r")\b[^\n|;&]{0,300}?"
     r"[ \t](?:-p|-P|-a|-w)[ \t]+([\"']?)([^\s\"'`-][^\s\"'`]*)\1", 2,
     tuple(sorted(_PROGRAMS_P)), 0.0, True, -1, (), "flag", False),
    # mysql -pSECRET (attached; "-p dbname" is the database), 7z -pSECRET
    ("cli_password",
     r"(?<![A-Za-z0-9_\-])(?:mysql|mysqldump|mysqladmin|mysqlimport|mariadb|mariadb-dump|7z"
     r"|7za|unrar|rar)\b"
     r"[^\n|;&]{0,300}?[ \t]-p([\"']?)([^\s\"'`]{3,})\1", 2,
     ("mysql", "mariadb", "7z", "unrar", "rar"), 0.0, True, -1, (), "flag", False),
    # smbclient -U 'DOMAIN\user%password'
    ("cli_password", r"smbclient\b[^\n|;&]{0,300}?-U[ \t]+[\"']?[^\s%\"']+%([^\s\"']+)", 1,
     ("smbclient",), 0.0, True, -1, (), "flag", False),
    # htpasswd -b [-c] file user password
    ("cli_password",
     r"htpasswd[ \t]+(?:-[A-Za-z]+[ \t]+)*-[A-Za-z]*b[A-Za-z]*[ \t]+(?:-[A-Za-z]+[ \t]+)*"
     r"\S+[ \t]+\S+[ \t]+([\"']?)([^\s\"']+)\1", 2, ("htpasswd",), 0.0, True, -1, (), "flag",
     False),
    # prose and prompts: "the password is X", "pw: X", "set the password to 'X'",
    # "Password for 'https://user@host': X" (git's prompt, echoed in a transcript)
    ("prose_password",
     r"(?<![a-z0-9])(?:passw(?:or)?d|passphrase|pwd?)(?:[ \t]+(?:is|was|to|now|remains)|[ \t]*:)"
     r"[ \t]+([\"'`]?)([^\s\"'`]{4,})\1", 2,
     ("passw", "passphrase", "pw"), 0.0, True, -1, (), "prose", True),
    ("prose_password", r"password for '[^'\r\n]{1,200}':[ \t]*(\S{3,})", 1,
     ("password for '",), 0.0, True, -1, (), "flag", True),
    # "the api key is X", "my token was X": only a long value with letters and digits
    ("prose_password",
     r"(?<![a-z0-9])(?:api[ _\-]?key|access[ _\-]?key|secret[ _\-]?key|(?:auth|access|bearer)"
     r"[ _\-]?token|token|secret)[ \t]+(?:is|was|=)[ \t]+([\"'`]?)([^\s\"'`]{16,})\1", 2,
     ("api", "access", "secret", "auth", "bearer", "token"), 0.0, True, -1, (), "prose", True),
    # a config file's "directive value" line (redis, OpenLDAP, keepalived, ...)
    ("config_password",
     r"(?<!\S)(?:requirepass|masterauth|rootpw|bindpw|auth_pass|password|passwd)[ \t]+"
     r"([\"']?)([^\s\"']{3,})\1[ \t]*(?:\r?\n|\Z)", 2,
     ("requirepass", "masterauth", "rootpw", "bindpw", "auth_pass", "passw"), 0.0, True, -1,
     (), "directive", True),
    # Windows and PowerShell: net user <name> <password>, ConvertTo-SecureString "x"
    ("cli_password", r"net user[ \t]+\S+[ \t]+([\"']?)([^\s\"'/*][^\s\"']*)\1", 2,
     ("net user",), 0.0, True, -1, (), "flag", True),
    ("cli_password",
     r"convertto-securestring[ \t]+(?:-string[ \t]+)?([\"'])([^\"'\r\n]{3,})\1", 2,
     ("convertto-securestring",), 0.0, True, -1, (), "value", True),
    # echo 'user:password' | chpasswd
    ("cli_password",
     r"[\"']?[a-z_][a-z0-9_.\-]{0,31}:([^\s:\"']{3,128})[\"']?[ \t]{0,8}\|[ \t]{0,8}(?:sudo[ \t]{1,8})?"
     r"chpasswd", 1, ("chpasswd",), 0.0, False, 200, (), "value", True),
    # IMAP: <tag> LOGIN <user@host> <password>
    ("cli_password",
     r"login[ \t]+(\"?)[^\s\"@]+@[^\s\"]+\1[ \t]+(\"?)([^\s\"]{3,})\2[ \t]*(?:\r?\n|\Z)", 3,
     ("login",), 0.0, True, -1, (), "flag", True),
    # shells without '=': fish "set -gx NAME value", csh "setenv NAME value"
    ("secret_assignment",
     r"(?:setenv|set[ \t]+-[gxuUl]{1,4})[ \t]+([A-Za-z_][A-Za-z0-9_]{1,80})[ \t]+([\"']?)"
     r"([^\s\"']+)\2", 3, ("set",), 0.0, True, -1, (), "named", False),
    # tools' "config set NAME VALUE" (aws configure set, npm/yarn/pnpm config set, heroku
    # config:set NAME VALUE, gh secret set NAME): judged by the name's last part
    ("secret_assignment",
     r"(?:configure|config)(?:[ \t]+set|:set)?(?:[ \t]+--?[a-z\-]+)*[ \t]+([^\s=\"']{2,160})"
     r"[ \t]+([\"']?)([^\s\"'-][^\s\"']*)\2", 3, ("config",), 0.0, True, -1, (),
     "config_named", True),
    # gh secret set NAME --body <value> (--body is prose anywhere else)
    ("cli_password",
     r"secret[ \t]+set[ \t]+\S+(?:[ \t]+--?[a-z\-]+(?:[ \t]+\S+)?)*?[ \t]+(?:--body|-b)[ \t]+"
     r"([\"']?)([^\s\"']+)\1", 2, ("secret",), 0.0, True, -1, (), "value", True),
    # poetry/composer "config http-basic.<repo> <user> <password>"
    ("cli_password",
     r"http-basic\.\S+[ \t]+[\"']?[^\s\"']+[\"']?[ \t]+([\"']?)([^\s\"']{3,})\1", 2,
     ("http-basic.",), 0.0, True, -1, (), "flag", True),
    # Oracle: sqlplus user/password@db (also expdp, impdp, rman target, sqlldr, dgmgrl)
    ("cli_password",
     r"(?:sqlplus|sqlldr|expdp|impdp|rman|dgmgrl)\b[^\n|;&]{0,60}?[ \t][\"']?[a-z0-9_$#]{1,30}"
     r"/([^\s@/\"']{3,})(?=@|[\"']?(?:\s|\Z))", 1,
     ("sqlplus", "sqlldr", "expdp", "impdp", "rman", "dgmgrl"), 0.0, True, -1, (), "flag", True),
    # ssh-keygen -N/-P <passphrase>
    ("cli_password",
     r"ssh-keygen\b[^\n|;&]{0,300}?[ \t]-[NP][ \t]+([\"']?)([^\s\"']+)\1", 2, ("ssh-keygen",),
     0.0, True, -1, (), "flag", False),
    # Windows-style /p:<password> (xfreerdp, cmdkey, net use; msbuild's /p:Name=value is a
    # property, not a password)
    ("cli_password", r"(?<![^\s])/(?:p|pwd|pass|password):([^\s\"'=]{3,})(?![^\s\"'])", 1,
     ("/p:", "/pwd:", "/pass:", "/password:"), 0.0, True, -1, (), "flag", True),
    # SNMP: -c <community>, v3 -A <auth pass> -X <priv pass> on an snmp* command line
    ("cli_password", r"-[AXc][ \t]+([\"']?)([^\s\"'-][^\s\"']*)\1", 2, ("-a", "-x", "-c"),
     0.0, True, -1, (), "snmp", False),
    # a wallet's recovery phrase: 12 to 24 short lower-case words after its name
    ("secret_assignment",
     r"(?:mnemonic|seed[ _\-]?phrase|recovery[ _\-]?phrase|seed[ _\-]?words)[\"']?[ \t]*[:=]"
     r"[ \t]*[\"']?((?:[a-z]{3,8}[ \t]+){11,23}[a-z]{3,8})(?=[\"'\r\n]|\Z)", 1,
     ("mnemonic", "seed", "recovery"), 0.0, True, -1, (), "", True),
    # .netrc: machine host login user password secret
    ("netrc_password",
     r"machine[ \t]+\S+(?:\s+login\s+\S+)?(?:\s+account\s+\S+)?\s+password[ \t]+(\S+)", 1,
     ("machine",),
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
     _NAME_KEYWORDS, 0.0, True, -1, (), "table", True),
    # <password>s3cr3t</password>, <add key="ApiKey" value="..."/>
    ("secret_assignment",
     r"(?<=<)([a-z0-9_:.\-]{0,40}(?:pass|pwd|secret|token|key|auth|credential)[a-z0-9_:.\-]{0,40})"
     r">([^<\s]{3,256})</", 2, ("pass", "pwd", "secret", "token", "key", "auth", "credential"),
     0.0, False, 360, (), "named", True),
    ("secret_assignment",
     r"(?:key|name)[ \t]*=[ \t]*[\"']([A-Za-z0-9_.\-]{2,80})[\"'][ \t]+value[ \t]*=[ \t]*[\"']"
     r"([^\"'\r\n]{3,})[\"']", 2, ("key", "name"), 0.0, True, -1, (), "named", True),
    # <entry key="db.password">x</entry>, <property name="password">x</property>
    ("secret_assignment",
     r"(?:key|name)[ \t]*=[ \t]*[\"']([A-Za-z0-9_.\-]{2,80})[\"'][^<>\r\n]{0,80}>[ \t]*"
     r"([^<\s]{3,256})[ \t]*</", 2, ("key", "name"), 0.0, True, -1, (), "named", True),
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
     r"(?:" + "|".join(c.replace(".", r"\.") for c in SECRET_READERS)
     + r")[^\n]{0,300}\n[ \t]*([^\n]{3,})", 1,
     SECRET_READERS, 0.0, True, -1, (), "command_line", True),
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
