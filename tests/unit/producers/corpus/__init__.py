"""Seeded secret and benign corpora for the redaction tests.

Secrets are generated from a fixed seed at import time (never stored literally, so no
push-protection scanner mistakes them for leaked credentials) and embedded in realistic
tool outputs, env dumps, curl commands, config files and JSON. Each case is
``(kind, secret, text)``: ``secret`` must not survive redaction of ``text``.
"""

from __future__ import annotations

import base64
import json
import random
import string

_rng = random.Random(20261126)
B62 = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
B64 = B62 + "+/"
URLSAFE = B62 + "-_"


def _r(n: int, alphabet: str = B62) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _jwt() -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps({"sub": _r(12), "iat": 1732600000, "role": "admin"}).encode())
    return f"{header}.{body}.{_r(43, URLSAFE)}"


def _pem(kind: str) -> str:
    lines = [_r(64, B64) for _ in range(12)] + [_r(20, B64) + "=="]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


def _password() -> str:
    return _r(6) + "!" + _r(5) + "#" + _r(3)


def secret_cases() -> list[tuple[str, str, str]]:
    """At least 40 (kind, secret, text) cases across every kind the redactor knows."""
    c: list[tuple[str, str, str]] = []

    def add(kind: str, secret: str, template: str) -> None:
        c.append((kind, secret, template.replace("{S}", secret)))

    ant = f"sk-ant-api03-{_r(93, URLSAFE)}AA"
    add("anthropic_key", ant, "$ env | sort\nANTHROPIC_API_KEY={S}\nHOME=/home/dev\nLANG=C.UTF-8\n")
    add("anthropic_key", f"sk-ant-admin01-{_r(80, URLSAFE)}",
        'client = anthropic.Anthropic(api_key="{S}")')
    add("openai_key", f"sk-proj-{_r(120, URLSAFE)}",
        'curl https://api.openai.com/v1/models -H "Authorization: Bearer {S}"')
    add("openai_key", f"sk-{_r(48)}", "OPENAI_API_KEY={S} python train.py --epochs 3")
    add("openai_key", f"sk-svcacct-{_r(64, URLSAFE)}", '{"openai": {"key": "{S}"}}')
    add("aws_access_key", "AKIA" + _r(16, UPPER_DIGITS),
        "[default]\naws_access_key_id = {S}\nregion = eu-west-1\n")
    add("aws_access_key", "ASIA" + _r(16, UPPER_DIGITS),
        '{"Credentials": {"AccessKeyId": "{S}", "Expiration": "2026-11-26T08:00:00Z"}}')
    add("aws_secret_key", _r(40, B64),
        "[default]\naws_secret_access_key = {S}\n")
    add("aws_secret_key", _r(40, B64),
        '{"Credentials": {"SecretAccessKey": "{S}", "SessionToken": "x"}}')
    add("aws_secret_key", _r(40, B64),
        "docker run -e AWS_SECRET_ACCESS_KEY={S} -e AWS_REGION=us-east-1 app:latest")
    add("github_token", "ghp_" + _r(36),
        "git clone https://{S}@github.com/acme/private-repo.git\nCloning into 'private-repo'...")
    add("github_token", "gho_" + _r(36), "  oauth_token: {S}\n  user: dev\n")
    add("github_token", "ghs_" + _r(36), "::add-mask::{S}\nRun actions/checkout@v4")
    add("github_token", f"github_pat_{_r(22)}_{_r(59)}",
        "export GH_TOKEN={S}\ngh pr list --state open")
    add("slack_token", f"xoxb-{_r(12, string.digits)}-{_r(13, string.digits)}-{_r(24)}",
        'slack_sdk.WebClient(token="{S}")')
    add("slack_token", f"xoxp-{_r(12, string.digits)}-{_r(12, string.digits)}-{_r(32, B62)}",
        "SLACK_USER_TOKEN={S}")
    add("slack_webhook",
        f"https://hooks.slack.com/services/T{_r(8, UPPER_DIGITS)}/B{_r(10, UPPER_DIGITS)}/{_r(24)}",
        "curl -X POST -d '{\"text\":\"deploy done\"}' {S}")
    add("stripe_key", "sk_live_" + _r(24), 'stripe.api_key = "{S}"')
    add("stripe_key", "rk_live_" + _r(24), "STRIPE_RESTRICTED_KEY={S}\n")
    add("stripe_key", "sk_test_" + _r(24), "Stripe::setApiKey('{S}');")
    add("google_api_key", "AIza" + _r(35, URLSAFE),
        "https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={S}")
    add("google_api_key", "AIza" + _r(35, URLSAFE), '<meta name="google-api" content="{S}">')
    add("api_token", "glpat-" + _r(20, URLSAFE),
        "git remote add origin https://oauth2:{S}@gitlab.acme.io/team/app.git")
    add("api_token", "npm_" + _r(36), "//registry.npmjs.org/:_authToken={S}\n")
    add("api_token", "pypi-AgEIcHlwaS5vcmc" + _r(60, URLSAFE), "twine upload -p {S} dist/*")
    add("api_token", "hf_" + _r(34), "huggingface-cli login --token {S}")
    add("api_token", f"SG.{_r(22, URLSAFE)}.{_r(43, URLSAFE)}", "SENDGRID_KEY {S}")
    add("secret_assignment", base64.b64encode(bytes(_rng.randrange(256) for _ in range(64))).decode(),
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={S};EndpointSuffix=core.windows.net")
    add("bearer_token", _r(48, B62 + "-._~"),
        "> GET /v2/orders HTTP/1.1\n> Host: api.acme.io\n> Authorization: Bearer {S}\n")
    add("bearer_token", _r(40), "curl -H 'Authorization: token {S}' https://git.acme.io/api")
    add("basic_auth", base64.b64encode(f"deploy:{_password()}".encode()).decode(),
        "> Authorization: Basic {S}\n< HTTP/1.1 200 OK")
    add("private_key", _pem("RSA PRIVATE KEY"), "$ cat ~/.ssh/id_rsa\n{S}\n$ ")
    add("private_key", _pem("OPENSSH PRIVATE KEY"), '{"key": "{S}"}')
    add("private_key", _pem("EC PRIVATE KEY"), "tls:\n  key: |\n{S}\n")
    add("private_key", _pem("PRIVATE KEY"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n{S}")
    add("jwt", _jwt(), "Set-Cookie: session={S}; HttpOnly; Secure")
    add("jwt", _jwt(), '{"access_token": "{S}", "token_type": "bearer", "expires_in": 3600}')
    add("url_password", _password(), "DATABASE_URL=postgres://app:{S}@db.internal:5432/orders")
    add("url_password", _password(), "redis://:{S}@cache.internal:6379/0")
    add("url_password", _password(),
        "pip install --index-url https://ci:{S}@pypi.acme.io/simple/ acme-lib")
    add("url_password", _r(6) + "@" + _r(6), "mongodb://admin:{S}@mongo-0.mongo:27017/?authSource=admin")
    add("secret_assignment", _password(), "DB_PASSWORD={S}\nDB_HOST=localhost\n")
    add("secret_assignment", _password(), 'export API_TOKEN="{S}"')
    add("secret_assignment", _password(), "spring:\n  datasource:\n    password: {S}\n")
    add("secret_assignment", "correct horse battery " + _r(6),
        '{"username": "svc", "password": "{S}"}')
    add("secret_assignment", _password(), "mysql --user=root --password={S} orders < dump.sql")
    add("secret_assignment", _password(), "curl -u admin:{S} https://jenkins.acme.io/api/json")
    add("secret_assignment", _password(), "settings.py:12: SECRET_KEY = '{S}'")
    add("secret_assignment", _password(), "client_secret: {S}")
    add("secret_assignment", _password(), "dbPassword={S};Server=sql01;Database=orders")
    add("secret_assignment", _r(32, string.hexdigits.lower()),
        "webhook_secret = {S}  # hex, only its name tells")
    add("secret_assignment", base64.b64encode(_password().encode()).decode(),
        "apiVersion: v1\nkind: Secret\ndata:\n  password: {S}\n")
    add("high_entropy", _r(44, B64) + "=",
        "X-Signature: {S}\nContent-Type: application/json")
    add("high_entropy", _r(32), "Your one-time recovery code is {S}. Keep it safe.")
    add("high_entropy", _r(64, URLSAFE), "session cookie sid={S} expires in 1h")
    return c


def benign_cases() -> list[str]:
    """Strings that look technical but hold no secret."""
    b: list[str] = []
    for _ in range(10):
        b.append(_r(40, "0123456789abcdef"))  # git SHAs
        b.append(f"commit {_r(40, '0123456789abcdef')}\nAuthor: Dev <dev@acme.io>")
        b.append(_r(64, "0123456789abcdef"))  # sha256 digests
    for _ in range(10):
        h = _r(32, "0123456789abcdef")
        b.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")  # UUIDs
    for word in ["hello", "world", "test", "admin", "config", "README", "main", "ok", "hivemind"]:
        b.append(base64.b64encode(word.encode()).decode())
    b += [
        "/usr/lib/python3.11/site-packages/setuptools/_distutils/command/build_ext.py",
        "/home/dev/.claude/projects/-work-app/00893aaf-19fa-41d2-8238-13269b9b3ca0.jsonl",
        "/Users/jane/src/acme-platform/services/orders/internal/handlers/create_order_test.go",
        "node_modules/@typescript-eslint/eslint-plugin/dist/rules/no-unused-vars.js",
        "C:\\Users\\dev\\AppData\\Local\\Programs\\Python\\Python311\\python.exe",
        "src/components/UserProfileSettingsPanel/UserProfileSettingsPanel.test.tsx",
        "docker pull ghcr.io/acme/api@sha256:" + _r(64, "0123456789abcdef"),
        "integrity sha512-" + _r(86, B64) + "==",
        "toolu_01A09q90qw90lq917835lq9X",
        "msg_01XFDUDYJgAACzvnptvVoYEL",
        "req_011CSHoEeqs5C35K2UUqR7Fy",
        "max_tokens: 1024",
        '{"input_tokens": 5120, "output_tokens": 312, "cache_read_input_tokens": 4096}',
        "password_min_length = 12",
        "token = self.token",
        "password = getpass.getpass()",
        "api_key = os.environ['ANTHROPIC_API_KEY']",
        'secret = settings.secret_key',
        "AUTH_TYPE=oauth2",
        "TOKEN_URL=https://auth.acme.io/oauth/token",
        "auth: true",
        "credentials: include",
        "password: ${DB_PASSWORD}",
        'client_secret = "<your-client-secret>"',
        "PASSWORD=********",
        "https://github.com/acme/api/pull/1234/files#diff-" + _r(64, "0123456789abcdef"),
        "https://docs.python.org/3/library/re.html#re.compile",
        "postgres://localhost:5432/orders",
        "ssh git@github.com:acme/api.git",
        "test_concurrent_appenders_produce_no_torn_or_interleaved_records",
        "--experimental-strip-types-and-transform-imports",
        "ThisIsAVeryLongCamelCaseFunctionNameForTesting",
        "2026-11-26T06:40:28.123456Z INFO request_id=7f3a9c2e latency_ms=12",
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "ERROR: Could not find a version that satisfies the requirement torch==2.9.0+cu124",
        "k8s-prod-eu-west-1-node-pool-7b9f8c6d5-x2x4q",
        "FAILED tests/unit/test_api.py::test_create_order_returns_201 - AssertionError",
        "v1.2.3-rc.4+build.20261126",
        "Bearer",
        "Authorization: Bearer $TOKEN",
        "i-0abcd1234ef567890",
        "arn:aws:iam::123456789012:role/service-role/LambdaExecutionRole",
        "AKIAIOSFODNN7EXAMPLE is the AWS documentation example",  # redacting it is fine too
    ]
    return b[:-1]  # the AWS doc example *should* be redacted: keep it out of the count
