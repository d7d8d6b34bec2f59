"""The secrets corpus: secret lines across providers, and look-alikes that hold no secret.

Written for this project (by the helper that wrote the detector, before changing it) from
providers' public token formats and the shapes gitleaks' and detect-secrets' rules look
for; it is *not* a held-out corpus. Every secret is generated from a fixed seed at import
time (never stored literally, so no push-protection scanner mistakes the corpus for a
leak) and embedded in the places secrets turn up in agent sessions: env dumps, dotenv and
YAML files, JSON configs (plain and JSON-escaped), curl commands and HTTP traces, CLI
flags, connection strings, log lines, error messages that echo the token, base64 wraps.

* :func:`secret_lines` -> :class:`SecretLine` (provider, secrets, text): none of
  ``secrets`` may survive redaction of ``text``, nor reach a published skill.
* :func:`lookalikes` -> :class:`LookAlike` (family, text): ids, digests, public keys,
  certificates and placeholders; redacting any part of one is a false redaction.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

_rng = random.Random(20261213)
LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
B62 = string.ascii_letters + string.digits
UD = UPPER + DIGITS
LD = LOWER + DIGITS
HEX = "0123456789abcdef"
HEXU = "0123456789ABCDEF"
B64 = B62 + "+/"
URLSAFE = B62 + "-_"
B32 = UPPER + "234567"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True)
class SecretLine:
    provider: str
    secrets: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class LookAlike:
    family: str
    text: str


def _r(n: int, alphabet: str = B62) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _rand_bytes(n: int) -> bytes:
    return bytes(_rng.randrange(256) for _ in range(n))


def _uuid() -> str:
    h = _r(32, HEX)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[_rng.randrange(4)]}{h[17:20]}-{h[20:]}"


def _password() -> str:
    """A human password: words, digits and a symbol, 10-16 characters."""
    words = ["river", "Falcon", "maple", "Orbit", "copper", "Tundra", "velvet", "Quartz",
             "ember", "Willow", "cobalt", "Saffron", "harbor", "Nimbus", "lantern"]
    w = _rng.choice(words) + _rng.choice(words).capitalize()
    return w[:11] + _r(2, DIGITS) + _rng.choice("!#%*+-.?@^_~") + _r(1, UPPER)


def _jwt(claims: dict | None = None) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(claims or {"sub": _r(12), "iat": 1765600000,
                                         "role": "service"}).encode())
    return f"{header}.{body}.{_b64url(_rand_bytes(32))}"


def _pem(label: str, lines: int) -> str:
    body = [_b64(_rand_bytes(48)) for _ in range(lines)] + [_b64(_rand_bytes(_rng.randrange(6, 40)))]
    return f"-----BEGIN {label}-----\n" + "\n".join(body) + f"\n-----END {label}-----"


def _wrap(text: str, width: int = 76) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


# --------------------------------------------------------------------------- contexts

def _named_contexts(name: str, token: str, *, host: str) -> list[str]:
    """Places a token with a name (env var / config key) turns up."""
    low = name.lower()
    return [
        f"$ env | sort\nHOME=/home/dev\n{name}={token}\nLANG=C.UTF-8\n",
        f"export {name}={token}",
        f'{name}="{token}"',
        f"docker run --rm -e {name}={token} -e LOG_LEVEL=debug ghcr.io/acme/worker:1.4",
        json.dumps({low: token, "region": "eu-west-1"}, indent=2),
        f"config:\n  {low}: {token}\n  timeout: 30\n",
        f"2026-12-13T09:12:44.120Z DEBUG init client {low}={token} host={host}",
        json.dumps(json.dumps({"env": {name: token}})),  # JSON-escaped JSON
        f"kubectl create secret generic app --from-literal={low}={token}",
        f"- name: {name}\n  value: \"{token}\"",
        f"{name} = '{token}'  # TODO move to vault",
        f"[default]\n{low} = {token}\n",
    ]


def _bare_contexts(token: str, *, host: str) -> list[str]:
    """Places a self-identifying (prefixed) token turns up without any name."""
    return [
        f'curl -s https://{host}/v1/me -H "Authorization: Bearer {token}"',
        f"Error: 401 Unauthorized: token {token} has been revoked",
        f"client = Client({token!r})",
        f"{token}",
        f"see https://{host}/callback?token={token}&state=ok",
        f"| prod | {token} | rotated 2026-12-01 |",
        f"echo {token} | gh secret set API_TOKEN",
        f"'{token}',",
    ]


def _pick(items: list[str], k: int) -> list[str]:
    return _rng.sample(items, k=min(k, len(items)))


def _provider(lines: list[SecretLine], provider: str, make, *, name: str, host: str,
              named: int = 3, bare: int = 3) -> None:
    """``named`` lines with an env/config name and ``bare`` lines without (prefixed
    tokens only), each with a fresh token from ``make``."""
    for _ in range(named):
        token = make()
        text = _pick(_named_contexts(name, token, host=host), 1)[0]
        lines.append(SecretLine(provider, (token,), text))
    for _ in range(bare):
        token = make()
        lines.append(SecretLine(provider, (token,), _pick(_bare_contexts(token, host=host), 1)[0]))


# --------------------------------------------------------------------------- secrets

def _prefixed_providers(lines: list[SecretLine]) -> None:
    p = _provider
    p(lines, "anthropic", lambda: f"sk-ant-api03-{_r(93, URLSAFE)}AA", name="ANTHROPIC_API_KEY",
      host="api.anthropic.com", named=4, bare=4)
    p(lines, "anthropic", lambda: f"sk-ant-admin01-{_r(93, URLSAFE)}AA",
      name="ANTHROPIC_ADMIN_KEY", host="api.anthropic.com", named=1, bare=1)
    p(lines, "openai", lambda: f"sk-proj-{_r(74, URLSAFE)}T3BlbkFJ{_r(74, URLSAFE)}",
      name="OPENAI_API_KEY", host="api.openai.com", named=3, bare=3)
    p(lines, "openai", lambda: f"sk-{_r(20)}T3BlbkFJ{_r(20)}", name="OPENAI_KEY",
      host="api.openai.com", named=1, bare=1)
    p(lines, "openai", lambda: f"sk-svcacct-{_r(58, URLSAFE)}T3BlbkFJ{_r(58, URLSAFE)}",
      name="OPENAI_SERVICE_KEY", host="api.openai.com", named=1, bare=1)
    p(lines, "github", lambda: "ghp_" + _r(36), name="GITHUB_TOKEN", host="api.github.com",
      named=3, bare=3)
    p(lines, "github", lambda: f"github_pat_11{_r(20, UD)}_{_r(59)}", name="GH_TOKEN",
      host="api.github.com", named=2, bare=2)
    p(lines, "github", lambda: _rng.choice(["gho_", "ghu_", "ghs_", "ghr_"]) + _r(36),
      name="GITHUB_APP_TOKEN", host="api.github.com", named=1, bare=3)
    p(lines, "gitlab", lambda: "glpat-" + _r(20, URLSAFE), name="GITLAB_TOKEN",
      host="gitlab.com", named=2, bare=2)
    p(lines, "gitlab", lambda: _rng.choice(["gldt-", "glrt-", "glft-", "glsoat-"]) + _r(20, URLSAFE),
      name="CI_DEPLOY_TOKEN", host="gitlab.com", named=1, bare=2)
    p(lines, "gitlab", lambda: "GR1348941" + _r(20, URLSAFE), name="RUNNER_TOKEN",
      host="gitlab.com", named=1, bare=1)
    p(lines, "slack", lambda: f"xoxb-{_r(12, DIGITS)}-{_r(13, DIGITS)}-{_r(24)}",
      name="SLACK_BOT_TOKEN", host="slack.com", named=2, bare=2)
    p(lines, "slack", lambda: f"xoxp-{_r(12, DIGITS)}-{_r(12, DIGITS)}-{_r(13, DIGITS)}-{_r(32, HEX)}",
      name="SLACK_USER_TOKEN", host="slack.com", named=1, bare=1)
    p(lines, "slack", lambda: f"xapp-1-A{_r(10, UD)}-{_r(13, DIGITS)}-{_r(64, HEX)}",
      name="SLACK_APP_TOKEN", host="slack.com", named=1, bare=1)
    p(lines, "stripe", lambda: "sk_live_" + _r(99), name="STRIPE_SECRET_KEY",
      host="api.stripe.com", named=2, bare=2)
    p(lines, "stripe", lambda: "rk_live_" + _r(24), name="STRIPE_RESTRICTED_KEY",
      host="api.stripe.com", named=1, bare=1)
    p(lines, "stripe", lambda: "whsec_" + _r(32), name="STRIPE_WEBHOOK_SECRET",
      host="api.stripe.com", named=1, bare=1)
    p(lines, "google", lambda: "AIza" + _r(35, URLSAFE), name="GOOGLE_API_KEY",
      host="maps.googleapis.com", named=2, bare=2)
    p(lines, "google", lambda: "GOCSPX-" + _r(28, URLSAFE), name="GOOGLE_CLIENT_SECRET",
      host="oauth2.googleapis.com", named=1, bare=1)
    p(lines, "google", lambda: "ya29." + _r(150, URLSAFE), name="GCP_ACCESS_TOKEN",
      host="www.googleapis.com", named=1, bare=1)
    p(lines, "google", lambda: "1//0g" + _r(98, URLSAFE), name="GOOGLE_REFRESH_TOKEN",
      host="oauth2.googleapis.com", named=1, bare=0)
    p(lines, "aws", lambda: "AKIA" + _r(16, B32), name="AWS_ACCESS_KEY_ID",
      host="sts.amazonaws.com", named=2, bare=2)
    p(lines, "aws", lambda: "ABSK" + _b64(b"BedrockAPIKey-" + _r(20).encode() + b":" + _rand_bytes(40)),
      name="AWS_BEARER_TOKEN_BEDROCK", host="bedrock-runtime.us-east-1.amazonaws.com",
      named=1, bare=1)
    p(lines, "sendgrid", lambda: f"SG.{_r(22, URLSAFE)}.{_r(43, URLSAFE)}", name="SENDGRID_API_KEY",
      host="api.sendgrid.com", named=2, bare=2)
    p(lines, "npm", lambda: "npm_" + _r(36), name="NPM_TOKEN", host="registry.npmjs.org",
      named=2, bare=2)
    p(lines, "pypi", lambda: "pypi-AgEIcHlwaS5vcmc" + _r(70, URLSAFE), name="TWINE_PASSWORD",
      host="upload.pypi.org", named=2, bare=2)
    p(lines, "huggingface", lambda: "hf_" + _r(34, LOWER + UPPER), name="HF_TOKEN",
      host="huggingface.co", named=2, bare=2)
    p(lines, "digitalocean", lambda: _rng.choice(["dop_v1_", "doo_v1_", "dor_v1_"]) + _r(64, HEX),
      name="DIGITALOCEAN_TOKEN", host="api.digitalocean.com", named=2, bare=2)
    p(lines, "shopify", lambda: _rng.choice(["shpat_", "shpss_", "shpca_", "shppa_"]) + _r(32, HEX),
      name="SHOPIFY_ACCESS_TOKEN", host="acme.myshopify.com", named=2, bare=2)
    p(lines, "databricks", lambda: "dapi" + _r(32, HEX), name="DATABRICKS_TOKEN",
      host="adb-1234567890.12.azuredatabricks.net", named=2, bare=2)
    p(lines, "twilio", lambda: "SK" + _r(32, HEX), name="TWILIO_API_KEY", host="api.twilio.com",
      named=1, bare=2)
    p(lines, "mailgun", lambda: "key-" + _r(32, HEX), name="MAILGUN_API_KEY",
      host="api.mailgun.net", named=2, bare=1)
    p(lines, "atlassian", lambda: "ATATT3xFfGF0" + _r(171, URLSAFE) + "=" + _r(8, HEXU),
      name="JIRA_API_TOKEN", host="acme.atlassian.net", named=2, bare=2)
    p(lines, "postman", lambda: f"PMAK-{_r(24, HEX)}-{_r(34, HEX)}", name="POSTMAN_API_KEY",
      host="api.getpostman.com", named=1, bare=2)
    p(lines, "pulumi", lambda: "pul-" + _r(40, HEX), name="PULUMI_ACCESS_TOKEN",
      host="api.pulumi.com", named=1, bare=2)
    p(lines, "doppler", lambda: "dp.pt." + _r(43), name="DOPPLER_TOKEN", host="api.doppler.com",
      named=1, bare=2)
    p(lines, "vault", lambda: "hvs." + _r(24), name="VAULT_TOKEN", host="vault.acme.internal",
      named=2, bare=1)
    p(lines, "vault", lambda: "hvs.CAESI" + _r(150, URLSAFE), name="VAULT_TOKEN",
      host="vault.acme.internal", named=1, bare=1)
    p(lines, "terraform-cloud", lambda: f"{_r(14)}.atlasv1.{_r(67, URLSAFE)}", name="TFE_TOKEN",
      host="app.terraform.io", named=2, bare=1)
    p(lines, "linear", lambda: "lin_api_" + _r(40), name="LINEAR_API_KEY",
      host="api.linear.app", named=1, bare=2)
    p(lines, "notion", lambda: "ntn_" + _r(11, DIGITS) + _r(35), name="NOTION_TOKEN",
      host="api.notion.com", named=1, bare=1)
    p(lines, "notion", lambda: "secret_" + _r(43), name="NOTION_API_KEY",
      host="api.notion.com", named=1, bare=1)
    p(lines, "sentry", lambda: "sntryu_" + _r(64, HEX), name="SENTRY_AUTH_TOKEN",
      host="sentry.io", named=1, bare=2)
    p(lines, "grafana", lambda: f"glsa_{_r(32)}_{_r(8, HEX)}", name="GRAFANA_SERVICE_ACCOUNT_TOKEN",
      host="acme.grafana.net", named=1, bare=2)
    p(lines, "grafana", lambda: "glc_" + _b64(json.dumps(
        {"o": _r(6, DIGITS), "n": "stack-" + _r(6, DIGITS) + "-hm-read", "k": _r(24),
         "m": {"r": "prod-eu-west-2"}}).encode()), name="GRAFANA_CLOUD_TOKEN",
      host="grafana.com", named=1, bare=1)
    p(lines, "newrelic", lambda: "NRAK-" + _r(27, UD), name="NEW_RELIC_API_KEY",
      host="api.newrelic.com", named=1, bare=2)
    p(lines, "dynatrace", lambda: f"dt0c01.{_r(24, UD)}.{_r(64, UD)}", name="DT_API_TOKEN",
      host="abc12345.live.dynatrace.com", named=1, bare=2)
    p(lines, "jfrog", lambda: "AKCp" + _r(69), name="ARTIFACTORY_API_KEY",
      host="acme.jfrog.io", named=1, bare=1)
    p(lines, "flyio", lambda: "fo1_" + _r(43, URLSAFE), name="FLY_API_TOKEN", host="api.fly.io",
      named=1, bare=1)
    p(lines, "age", lambda: "AGE-SECRET-KEY-1" + _r(58, BECH32), name="SOPS_AGE_KEY",
      host="localhost", named=1, bare=2)
    p(lines, "1password", lambda: "ops_eyJ" + _r(250, URLSAFE), name="OP_SERVICE_ACCOUNT_TOKEN",
      host="my.1password.com", named=1, bare=1)
    p(lines, "sourcegraph", lambda: "sgp_" + _r(40, HEX), name="SRC_ACCESS_TOKEN",
      host="sourcegraph.com", named=1, bare=1)
    p(lines, "perplexity", lambda: "pplx-" + _r(48), name="PERPLEXITY_API_KEY",
      host="api.perplexity.ai", named=1, bare=1)
    p(lines, "groq", lambda: "gsk_" + _r(52), name="GROQ_API_KEY", host="api.groq.com",
      named=1, bare=2)
    p(lines, "replicate", lambda: "r8_" + _r(37), name="REPLICATE_API_TOKEN",
      host="api.replicate.com", named=1, bare=2)
    p(lines, "mapbox", lambda: "sk.eyJ1Ijoi" + _r(40, URLSAFE) + "." + _r(22, URLSAFE),
      name="MAPBOX_SECRET_TOKEN", host="api.mapbox.com", named=1, bare=1)
    p(lines, "shippo", lambda: "shippo_live_" + _r(40, HEX), name="SHIPPO_API_TOKEN",
      host="api.goshippo.com", named=1, bare=1)
    p(lines, "easypost", lambda: "EZAK" + _r(54), name="EASYPOST_API_KEY",
      host="api.easypost.com", named=1, bare=1)
    p(lines, "airtable", lambda: f"pat{_r(14)}.{_r(64, HEX)}", name="AIRTABLE_TOKEN",
      host="api.airtable.com", named=1, bare=1)
    p(lines, "planetscale", lambda: "pscale_tkn_" + _r(43, URLSAFE), name="PLANETSCALE_TOKEN",
      host="api.planetscale.com", named=1, bare=1)
    p(lines, "planetscale", lambda: "pscale_pw_" + _r(43, URLSAFE), name="DATABASE_PASSWORD",
      host="aws.connect.psdb.cloud", named=1, bare=1)
    p(lines, "square", lambda: "EAAA" + _r(60, URLSAFE), name="SQUARE_ACCESS_TOKEN",
      host="connect.squareup.com", named=1, bare=1)
    p(lines, "telegram", lambda: f"{_rng.randrange(10**8, 10**10)}:AA{_r(33, URLSAFE)}",
      name="TELEGRAM_BOT_TOKEN", host="api.telegram.org", named=2, bare=1)
    p(lines, "discord", lambda: f"{_b64url(str(_rng.randrange(10**17, 10**18)).encode())}."
      f"{_r(6, URLSAFE)}.{_r(38, URLSAFE)}", name="DISCORD_BOT_TOKEN", host="discord.com",
      named=2, bare=0)
    p(lines, "prefect", lambda: "pnu_" + _r(36), name="PREFECT_API_KEY", host="api.prefect.cloud",
      named=1, bare=1)
    p(lines, "rubygems", lambda: "rubygems_" + _r(48, HEX), name="GEM_HOST_API_KEY",
      host="rubygems.org", named=1, bare=1)
    p(lines, "docker-hub", lambda: "dckr_pat_" + _r(27, URLSAFE), name="DOCKERHUB_TOKEN",
      host="hub.docker.com", named=1, bare=2)
    p(lines, "tailscale", lambda: f"tskey-auth-{_r(12)}CNTRL-{_r(33)}", name="TS_AUTHKEY",
      host="login.tailscale.com", named=1, bare=2)
    p(lines, "supabase", lambda: "sbp_" + _r(40, HEX), name="SUPABASE_ACCESS_TOKEN",
      host="api.supabase.com", named=1, bare=1)
    p(lines, "pinecone", lambda: f"pcsk_{_r(6)}_{_r(63)}", name="PINECONE_API_KEY",
      host="api.pinecone.io", named=1, bare=1)
    p(lines, "buildkite", lambda: "bkua_" + _r(40, HEX), name="BUILDKITE_API_TOKEN",
      host="api.buildkite.com", named=1, bare=1)
    p(lines, "figma", lambda: f"figd_{_r(40, URLSAFE)}", name="FIGMA_TOKEN",
      host="api.figma.com", named=1, bare=1)
    p(lines, "hubspot", lambda: f"pat-na1-{_uuid()}", name="HUBSPOT_ACCESS_TOKEN",
      host="api.hubapi.com", named=1, bare=1)
    p(lines, "neon", lambda: "napi_" + _r(64, LD), name="NEON_API_KEY",
      host="console.neon.tech", named=1, bare=1)
    p(lines, "bitbucket", lambda: "ATBB" + _r(32) + _r(8, HEXU), name="BITBUCKET_APP_PASSWORD",
      host="api.bitbucket.org", named=1, bare=1)
    p(lines, "alibaba", lambda: "LTAI" + _r(20), name="ALIBABA_CLOUD_ACCESS_KEY_ID",
      host="ecs.aliyuncs.com", named=1, bare=1)
    p(lines, "elevenlabs", lambda: "sk_" + _r(48, HEX), name="ELEVENLABS_API_KEY",
      host="api.elevenlabs.io", named=1, bare=1)
    p(lines, "resend", lambda: f"re_{_r(8)}_{_r(24)}", name="RESEND_API_KEY",
      host="api.resend.com", named=1, bare=1)
    p(lines, "circleci", lambda: f"CCIPAT_{_r(22)}_{_r(40, HEX)}", name="CIRCLE_TOKEN",
      host="circleci.com", named=1, bare=1)
    p(lines, "netlify", lambda: "nfp_" + _r(36), name="NETLIFY_AUTH_TOKEN",
      host="api.netlify.com", named=1, bare=1)


def _context_only_providers(lines: list[SecretLine]) -> None:
    """Tokens with no prefix: only the name (or the header) around them tells."""
    def add(provider: str, name: str, make, n: int = 2) -> None:
        for _ in range(n):
            token = make()
            ctx = _named_contexts(name, token, host="api.example.net")
            lines.append(SecretLine(provider, (token,), _pick(ctx, 1)[0]))

    add("datadog", "DD_API_KEY", lambda: _r(32, HEX), 3)
    add("datadog", "DD_APP_KEY", lambda: _r(40, HEX), 3)
    add("datadog", "DATADOG_APP_KEY", lambda: _r(40, HEX), 1)
    add("twilio", "TWILIO_AUTH_TOKEN", lambda: _r(32, HEX), 2)
    add("mailchimp", "MAILCHIMP_API_KEY", lambda: _r(32, HEX) + "-us21", 2)
    add("heroku", "HEROKU_API_KEY", _uuid, 2)
    add("okta", "OKTA_API_TOKEN", lambda: "00" + _r(40, URLSAFE), 2)
    add("cloudflare", "CLOUDFLARE_API_TOKEN", lambda: _r(40, URLSAFE), 2)
    add("cloudflare", "CF_API_KEY", lambda: _r(37, HEX), 1)
    add("algolia", "ALGOLIA_ADMIN_API_KEY", lambda: _r(32, HEX), 2)
    add("snyk", "SNYK_TOKEN", _uuid, 2)
    add("cohere", "COHERE_API_KEY", lambda: _r(40), 2)
    add("mistral", "MISTRAL_API_KEY", lambda: _r(32), 2)
    add("confluent", "CONFLUENT_CLOUD_API_SECRET", lambda: _r(64, B62 + "+/"), 2)
    add("segment", "SEGMENT_WRITE_KEY", lambda: _r(32), 1)
    add("pagerduty", "PAGERDUTY_API_KEY", lambda: "u+" + _r(18, URLSAFE), 1)
    add("vercel", "VERCEL_TOKEN", lambda: _r(24), 2)
    add("azure", "AZURE_CLIENT_SECRET", lambda: f"{_r(3)}{_r(1, DIGITS)}Q~{_r(34, URLSAFE + '.~')}", 2)
    add("azure", "AZURE_STORAGE_KEY", lambda: _b64(_rand_bytes(64)), 2)
    add("aws", "AWS_SECRET_ACCESS_KEY", lambda: _r(40, B64), 3)
    add("aws", "AWS_SESSION_TOKEN", lambda: "IQoJb3JpZ2luX2VjE" + _r(300, B64), 1)
    add("generic", "SESSION_SECRET", lambda: _r(64, HEX), 2)
    add("generic", "JWT_SIGNING_KEY", lambda: _b64(_rand_bytes(32)), 2)
    add("generic", "ENCRYPTION_KEY", lambda: _b64(_rand_bytes(32)), 1)
    add("generic", "WEBHOOK_SECRET", lambda: _r(32, HEX), 1)


def _passwords(lines: list[SecretLine]) -> None:
    def add(provider: str, template: str, n: int = 1) -> None:
        for _ in range(n):
            pw = _password()
            lines.append(SecretLine(provider, (pw,), template.replace("{P}", pw)))

    add("azure-cli", "az login --service-principal -u 4f1c2d3e-0000-4000-8000-00000000a1b2 "
        "-p {P} --tenant acme.onmicrosoft.com", 2)
    add("azure-cli", "az login -u admin@acme.onmicrosoft.com -p {P}")
    add("azure-cli", "az login --service-principal --username app-id --password {P} --tenant t1")
    add("mysql", "mysql -h db.internal -uroot -p{P} orders < dump.sql", 2)
    add("mysql", "mysqldump --user=backup --password={P} --all-databases > all.sql")
    add("mysql", "mysqladmin -u root -p'{P}' status")
    add("sshpass", "sshpass -p '{P}' ssh -o StrictHostKeyChecking=no deploy@10.0.4.12")
    add("sshpass", "sshpass -p {P} scp build.tar.gz ops@bastion:/srv/")
    add("docker", "docker login -u ci-bot -p {P} registry.acme.io")
    add("docker", "docker login registry.acme.io --username ci --password {P}")
    add("psql", "PGPASSWORD={P} psql -h db.internal -U app orders -c 'select 1'")
    add("psql", 'psql "host=db.internal user=app password={P} dbname=orders sslmode=require"')
    add("redis", "redis-cli -h cache.internal -a {P} --no-auth-warning ping")
    add("mongodb", "mongosh --host mongo-0 -u admin -p {P} --authenticationDatabase admin")
    add("sqlserver", "sqlcmd -S sql01.acme.local -U sa -P '{P}' -Q 'SELECT 1'")
    add("openssl", "openssl pkcs12 -export -in cert.pem -inkey key.pem -out bundle.p12 "
        "-passout pass:{P}")
    add("keytool", "keytool -importkeystore -srckeystore a.jks -srcstorepass {P} "
        "-destkeystore b.p12")
    add("zip", "zip -P {P} -r backup.zip ./exports")
    add("wget", "wget --user=ci --password={P} https://artifacts.acme.io/build.tgz")
    add("curl", "curl -u admin:{P} https://jenkins.acme.io/api/json", 2)
    add("git", "git clone https://deploy:{P}@git.acme.io/platform/api.git")
    add("helm", "helm repo add acme https://charts.acme.io --username ci --password {P}")
    add("htpasswd", "htpasswd -b -c /etc/nginx/.htpasswd admin {P}")
    add("smb", "smbclient //files/share -U 'ACME\\\\svc%{P}'")
    add("netrc", "machine api.acme.io login ci password {P}")
    add("pgpass", "db.internal:5432:orders:app:{P}")
    add("sql", "ALTER USER app WITH PASSWORD '{P}';")
    add("sql", "CREATE USER 'report'@'%' IDENTIFIED BY '{P}';")
    add("mongodb", 'db.createUser({user: "svc", pwd: "{P}", roles: ["readWrite"]})')
    add("dotenv", "DB_PASSWORD={P}", 2)
    add("dotenv", 'SMTP_PASS="{P}"')
    add("yaml", "spring:\n  datasource:\n    username: app\n    password: {P}\n")
    add("json", '{"username": "svc-report", "password": "{P}", "host": "db"}')
    add("ini", "[client]\nuser = backup\npassword = {P}\n")
    add("python", "conn = psycopg2.connect(host='db', user='app', password='{P}')")
    add("terraform", 'administrator_login_password = "{P}"')
    add("ansible", "ansible_become_pass: {P}")
    add("jdbc", "jdbc:sqlserver://sql01:1433;databaseName=orders;user=app;password={P};")
    add("adonet", "Server=tcp:acme.database.windows.net,1433;User ID=app;Password={P};Encrypt=True")


def _connection_strings(lines: list[SecretLine]) -> None:
    def add(provider: str, template: str) -> None:
        pw = _r(20, URLSAFE) if _rng.random() < 0.5 else _password()
        lines.append(SecretLine(provider, (pw,), template.replace("{P}", pw)))

    add("postgres", "DATABASE_URL=postgres://app:{P}@db.internal:5432/orders")
    add("postgres", "postgresql+asyncpg://svc:{P}@10.0.3.7/analytics?ssl=require")
    add("mysql", "mysql://root:{P}@127.0.0.1:3306/shop")
    add("mongodb", "mongodb+srv://admin:{P}@cluster0.ab1cd.mongodb.net/?retryWrites=true")
    add("redis", "REDIS_URL=redis://:{P}@cache.internal:6379/0")
    add("redis", "rediss://default:{P}@eu1-fancy-owl-31337.upstash.io:31337")
    add("amqp", "amqp://guest:{P}@rabbit:5672/%2f")
    add("smtp", "smtp://mailer:{P}@smtp.mailgun.org:587")
    add("ftp", "ftp://upload:{P}@files.acme.io/incoming/")
    add("pip", "pip install --index-url https://ci:{P}@pypi.acme.io/simple/ acme-lib")
    add("kafka", 'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule '
        'required username="svc" password="{P}";')
    for _ in range(2):
        key = _b64(_rand_bytes(64))
        lines.append(SecretLine("azure-storage", (key,),
                                "DefaultEndpointsProtocol=https;AccountName=acmeprod;"
                                f"AccountKey={key};EndpointSuffix=core.windows.net"))
    key = _b64(_rand_bytes(32))
    lines.append(SecretLine("azure-servicebus", (key,),
                            "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName="
                            f"RootManageSharedAccessKey;SharedAccessKey={key}"))
    sig = _b64(_rand_bytes(32)).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    lines.append(SecretLine("azure-sas", (sig,),
                            "https://acme.blob.core.windows.net/exports/x.csv?sv=2022-11-02&ss=b"
                            f"&srt=o&sp=r&se=2026-12-31T00:00:00Z&sig={sig}"))
    hook = f"https://hooks.slack.com/services/T{_r(8, UD)}/B{_r(10, UD)}/{_r(24)}"
    lines.append(SecretLine("slack", (hook.rsplit("/", 1)[1],),
                            f"curl -X POST -d '{{\"text\":\"done\"}}' {hook}"))
    hook2 = f"https://discord.com/api/webhooks/{_r(18, DIGITS)}/{_r(68, URLSAFE)}"
    lines.append(SecretLine("discord", (hook2.rsplit("/", 1)[1],), f"WEBHOOK={hook2}"))
    teams = (f"https://acme.webhook.office.com/webhookb2/{_uuid()}@{_uuid()}/IncomingWebhook/"
             f"{_r(32, HEX)}/{_uuid()}")
    lines.append(SecretLine("msteams", (teams.split("/IncomingWebhook/")[1][:32],),
                            f"teams_webhook: {teams}"))


def _headers(lines: list[SecretLine]) -> None:
    for _ in range(3):
        tok = _r(48, B62 + "-._~")
        lines.append(SecretLine("http-bearer", (tok,),
                                f"> GET /v2/orders HTTP/1.1\n> Host: api.acme.io\n"
                                f"> Authorization: Bearer {tok}\n> Accept: */*"))
    for _ in range(2):
        raw = f"deploy:{_password()}"
        tok = _b64(raw.encode())
        lines.append(SecretLine("http-basic", (tok, raw.split(":", 1)[1]),
                                f"Authorization: Basic {tok}"))
    tok = _r(40, HEX)
    lines.append(SecretLine("http-token", (tok,),
                            f"curl -H 'Authorization: token {tok}' https://git.acme.io/api/v3/user"))
    tok = _r(32)
    lines.append(SecretLine("http-api-key", (tok,),
                            f'curl -H "X-API-Key: {tok}" https://api.acme.io/v1/reports'))
    tok = _r(40, URLSAFE)
    lines.append(SecretLine("http-api-key", (tok,), f"requests.get(url, headers={{'x-api-key': '{tok}'}})"))
    tok = "glpat-" + _r(20, URLSAFE)
    lines.append(SecretLine("gitlab", (tok,),
                            f"curl --header \"PRIVATE-TOKEN: {tok}\" https://gitlab.acme.io/api/v4/projects"))
    tok = _r(43, URLSAFE)
    lines.append(SecretLine("http-cookie", (tok,), f"Cookie: sessionid={tok}; csrftoken=abc"))
    jwt = _jwt()
    lines.append(SecretLine("jwt", (jwt,), f"Set-Cookie: session={jwt}; HttpOnly; Secure"))
    for _ in range(3):
        jwt = _jwt({"sub": _uuid(), "scope": "orders:write", "exp": 1765700000})
        lines.append(SecretLine("jwt", (jwt,), json.dumps({"access_token": jwt,
                                                            "token_type": "Bearer"})))
    jwt = _jwt({"iss": "supabase", "role": "service_role"})
    lines.append(SecretLine("supabase", (jwt,), f"SUPABASE_SERVICE_ROLE_KEY={jwt}"))
    tok = f"{_r(6, LD)}.{_r(16, LD)}"
    lines.append(SecretLine("kubeadm", (tok,),
                            f"kubeadm join 10.0.0.10:6443 --token {tok} "
                            f"--discovery-token-ca-cert-hash sha256:{_r(64, HEX)}"))
    tok = "sha256~" + _r(43, URLSAFE)
    lines.append(SecretLine("openshift", (tok,), f"oc login --token={tok} --server=https://api.ocp:6443"))
    tok = _jwt({"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:ci:deployer"})
    lines.append(SecretLine("kubernetes", (tok,), f"kubectl --token={tok} get pods -A"))


def _blocks(lines: list[SecretLine]) -> None:
    """Multi-line and multi-KB material: PEM private keys, service-account JSON, wraps."""
    for label, n in (("RSA PRIVATE KEY", 35), ("PRIVATE KEY", 36), ("EC PRIVATE KEY", 3),
                     ("OPENSSH PRIVATE KEY", 8), ("ENCRYPTED PRIVATE KEY", 36),
                     ("DSA PRIVATE KEY", 14), ("RSA PRIVATE KEY", 70)):
        pem = _pem(label, n)
        body = "\n".join(pem.splitlines()[1:-1])
        lines.append(SecretLine("private-key", (body,), f"$ cat ~/.ssh/id_key\n{pem}\n$ "))
    pgp = _pem("PGP PRIVATE KEY BLOCK", 40).replace("BLOCK-----\n", "BLOCK-----\n\n", 1)
    lines.append(SecretLine("private-key", ("\n".join(pgp.splitlines()[2:-1]),),
                            f"gpg --export-secret-keys --armor ops@acme.io\n{pgp}"))
    pem = _pem("RSA PRIVATE KEY", 25)
    lines.append(SecretLine("private-key", ("\n".join(pem.splitlines()[1:-1]),),
                            "tls:\n  key: |\n" + "\n".join("    " + ln for ln in pem.splitlines())))
    # A PEM whose END line never arrives (output cut off mid-key).
    pem = _pem("PRIVATE KEY", 30)
    cut = "\n".join(pem.splitlines()[:-6])
    lines.append(SecretLine("private-key", ("\n".join(cut.splitlines()[1:]),),
                            f"Reading key...\n{cut}"))
    for variant in ("raw", "oneline", "b64", "b64wrapped", "escaped", "b64-assign"):
        pem = _pem("PRIVATE KEY", 26)
        sa = {"type": "service_account", "project_id": "acme-prod-431207",
              "private_key_id": _r(40, HEX), "private_key": pem + "\n",
              "client_email": "ci-deployer@acme-prod-431207.iam.gserviceaccount.com",
              "client_id": _r(21, DIGITS), "auth_uri": "https://accounts.google.com/o/oauth2/auth",
              "token_uri": "https://oauth2.googleapis.com/token"}
        escaped_body = "\\n".join(pem.splitlines()[1:-1])
        if variant == "raw":
            text = "$ cat sa.json\n" + json.dumps(sa, indent=2)
            lines.append(SecretLine("gcp-service-account", (escaped_body,), text))
        elif variant == "oneline":
            lines.append(SecretLine("gcp-service-account", (escaped_body,),
                                    "GOOGLE_CREDENTIALS=" + json.dumps(sa)))
        elif variant == "escaped":
            lines.append(SecretLine("gcp-service-account", (escaped_body.replace("\\n", "\\\\n"),),
                                    json.dumps({"tool_input": json.dumps(sa)})))
        else:
            blob = _b64(json.dumps(sa, indent=2).encode())
            if variant == "b64":
                lines.append(SecretLine("gcp-service-account", (blob,),
                                        f"echo {blob} | base64 -d > /tmp/sa.json"))
            elif variant == "b64-assign":
                lines.append(SecretLine("gcp-service-account", (blob,),
                                        f"GCP_SA_KEY_B64={blob}"))
            else:
                wrapped = _wrap(blob)
                lines.append(SecretLine("gcp-service-account", tuple(wrapped.splitlines()),
                                        f"$ base64 sa.json\n{wrapped}\n$ "))
    # kubeconfig with a base64-wrapped client key; docker config with base64 user:password.
    pem = _pem("RSA PRIVATE KEY", 25)
    data = _b64((pem + "\n").encode())
    lines.append(SecretLine("kubeconfig", (data,),
                            "users:\n- name: admin\n  user:\n    client-certificate-data: "
                            + _b64(b"-----BEGIN CERTIFICATE-----\nMIIB" + _r(40).encode()
                                   + b"\n-----END CERTIFICATE-----\n")
                            + f"\n    client-key-data: {data}\n"))
    raw = f"ci-bot:{_password()}"
    auth = _b64(raw.encode())
    lines.append(SecretLine("docker-config", (auth,),
                            json.dumps({"auths": {"registry.acme.io": {"auth": auth}}}, indent=2)))
    pw = _password()
    enc = _b64(pw.encode())
    lines.append(SecretLine("kubernetes-secret", (enc, pw),
                            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n"
                            f"data:\n  password: {enc}\n  username: {_b64(b'app')}\n"))
    token = "ghp_" + _r(36)
    enc = _b64(f"https://x-access-token:{token}@github.com".encode())
    lines.append(SecretLine("base64-wrapped", (enc, token), f"GIT_CREDENTIALS_B64={enc}"))
    token = "sk-ant-api03-" + _r(93, URLSAFE) + "AA"
    enc = _b64(json.dumps({"apiKey": token}).encode())
    lines.append(SecretLine("base64-wrapped", (enc, token), f'"settings": "{enc}"'))


def secret_lines() -> list[SecretLine]:
    """Every secret line of the corpus (deterministic)."""
    lines: list[SecretLine] = []
    _prefixed_providers(lines)
    _context_only_providers(lines)
    _passwords(lines)
    _connection_strings(lines)
    _headers(lines)
    _blocks(lines)
    return lines


# --------------------------------------------------------------------------- look-alikes

def _cert() -> str:
    # Real certificates start with the DER of SEQUENCE { SEQUENCE { [0] { INTEGER 2 } ...
    der = bytes.fromhex("308203") + _rand_bytes(1) + bytes.fromhex("308202") + _rand_bytes(1) \
        + bytes.fromhex("a003020102") + bytes.fromhex("0214") + _rand_bytes(700)
    body = _wrap(_b64(der), 64)
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----"


def _ssh_pub(kind: str) -> str:
    def field(b: bytes) -> bytes:
        return len(b).to_bytes(4, "big") + b
    if kind == "ssh-ed25519":
        blob = field(b"ssh-ed25519") + field(_rand_bytes(32))
    elif kind == "ssh-rsa":
        blob = field(b"ssh-rsa") + field(b"\x01\x00\x01") + field(b"\x00" + _rand_bytes(384))
    else:
        blob = field(b"ecdsa-sha2-nistp256") + field(b"nistp256") + field(b"\x04" + _rand_bytes(64))
    return f"{kind} {_b64(blob)}"


def lookalikes() -> list[LookAlike]:
    """Strings that look like key material but are ids, digests, public keys or
    placeholders (deterministic)."""
    out: list[LookAlike] = []

    def add(family: str, text: str) -> None:
        out.append(LookAlike(family, text))

    for mod in ("github.com/stretchr/testify v1.9.0", "golang.org/x/net v0.27.0",
                "google.golang.org/grpc v1.65.0", "github.com/google/uuid v1.6.0"):
        add("go.sum", f"{mod} h1:{_b64(_rand_bytes(32))}")
        add("go.sum", f"{mod}/go.mod h1:{_b64(_rand_bytes(32))}")
    add("terraform-lock", f'  hashes = [\n    "h1:{_b64(_rand_bytes(32))}",\n    "zh:{_r(64, HEX)}",\n  ]')
    for kind in ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"):
        add("ssh-public-key", f"{_ssh_pub(kind)} dev@laptop")
        add("ssh-public-key", f"$ cat ~/.ssh/authorized_keys\n{_ssh_pub(kind)} ci@runner-7")
    add("ssh-public-key", f"github.com {_ssh_pub('ssh-ed25519')}")
    add("ssh-fingerprint", f"ED25519 key fingerprint is SHA256:{_b64(_rand_bytes(32)).rstrip('=')}.")
    add("ssh-fingerprint", f"256 SHA256:{_b64(_rand_bytes(32)).rstrip('=')} dev@laptop (ED25519)")
    for _ in range(3):
        add("x509-certificate", _cert())
    add("x509-certificate", "ca.crt: |\n" + "\n".join("  " + ln for ln in _cert().splitlines()))
    add("x509-certificate", json.dumps({"certificate": _cert()}))
    add("x509-certificate", "certificate-authority-data: " + _b64((_cert() + "\n").encode()))
    add("x509-certificate", "    client-certificate-data: " + _b64((_cert() + "\n").encode()))
    for name in ("python3-3.11.9", "openssl-3.0.14", "glibc-2.39-52", "nodejs-20.15.1",
                 "source", "hello-2.12.1.drv"):
        add("nix-store", f"/nix/store/{_r(32, NIX32)}-{name}")
    add("nix-store", f"copying path '/nix/store/{_r(32, NIX32)}-bash-5.2p32' from "
        "'https://cache.nixos.org'...")
    add("nix-hash", f'hash = "sha256-{_b64(_rand_bytes(32))}";')
    for prefix in ("evt_", "ch_", "cus_", "pi_", "pm_", "in_", "sub_", "price_", "prod_",
                   "txn_", "re_", "acct_", "seti_", "cs_live_", "po_", "tr_", "src_",
                   "pk_live_"):
        n = 99 if prefix == "pk_live_" else 24
        add("stripe-id", f'"id": "{prefix}{_r(n)}"')
    add("stripe-id", f"stripe events resend evt_{_r(24)} --webhook-endpoint we_{_r(24)}")
    add("stripe-id", f"https://dashboard.stripe.com/payments/pi_{_r(24)}")
    for _ in range(2):
        add("trace-id", f"traceparent: 00-{_r(32, HEX)}-{_r(16, HEX)}-01")
        add("trace-id", f"X-Amzn-Trace-Id: Root=1-{_r(8, HEX)}-{_r(24, HEX)};Parent={_r(16, HEX)};Sampled=1")
    add("trace-id", f'{{"trace_id": "{_r(32, HEX)}", "span_id": "{_r(16, HEX)}"}}')
    add("trace-id", f"dd.trace_id={_rng.randrange(10**18, 10**19)} dd.span_id={_rng.randrange(10**18, 10**19)}")
    add("trace-id", f"sentry-trace: {_r(32, HEX)}-{_r(16, HEX)}-1")
    add("trace-id", f"X-Cloud-Trace-Context: {_r(32, HEX)}/{_rng.randrange(10**18)};o=1")
    add("trace-id", f"x-request-id: {_uuid()}")
    add("trace-id", f"x-amz-request-id: {_r(16, UD)}")
    for _ in range(3):
        ulid = "01J" + _r(23, CROCKFORD)
        add("ulid", f'{{"id": "{ulid}", "status": "queued"}}')
    add("ulid", f"event_id=01J{_r(23, CROCKFORD).lower()} processed")
    add("ulid", f"idempotency_key: 01J{_r(23, CROCKFORD)}")
    for _ in range(3):
        add("uuid", f"request {_uuid()} completed in 12ms")
    add("uuid", f'"tenant_id": "{_uuid()}", "subscription_id": "{_uuid()}"')
    for _ in range(3):
        add("git-sha", f"commit {_r(40, HEX)}\nMerge: {_r(7, HEX)} {_r(7, HEX)}\nAuthor: Dev <dev@acme.io>")
    add("git-sha", f"{_r(40, HEX)} refs/heads/main")
    add("git-sha", f"index {_r(12, HEX)}..{_r(12, HEX)} 100644")
    for _ in range(2):
        add("docker-digest", f"docker pull ghcr.io/acme/api@sha256:{_r(64, HEX)}")
    add("docker-digest", f"Digest: sha256:{_r(64, HEX)}\nStatus: Downloaded newer image")
    add("docker-digest", f'"config": {{"digest": "sha256:{_r(64, HEX)}", "size": 7023}}')
    add("integrity", f'"integrity": "sha512-{_b64(_rand_bytes(64))}"')
    add("integrity", f'  integrity sha1-{_b64(_rand_bytes(20))}')
    add("integrity", f'<script src="/app.js" integrity="sha384-{_b64(_rand_bytes(48))}" '
        'crossorigin="anonymous"></script>')
    add("integrity", f"requests==2.32.3 --hash=sha256:{_r(64, HEX)}")
    add("integrity", f'checksum = "{_r(64, HEX)}"')
    add("data-uri", f'<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{_b64(_rand_bytes(120))}">')
    add("data-uri", f"url(data:font/woff2;base64,d09GMgABAAAAA{_b64(_rand_bytes(90))})")
    add("llm-id", f'"id": "msg_01{_r(22)}", "type": "message"')
    add("llm-id", f'"tool_use_id": "toolu_01{_r(22)}"')
    add("llm-id", f"request-id: req_011C{_r(20)}")
    add("llm-id", f'"id": "chatcmpl-{_r(29)}", "object": "chat.completion"')
    add("llm-id", f'"file_id": "file-{_r(22)}", "purpose": "assistants"')
    add("llm-id", f"thread_{_r(24)} run_{_r(24)}")
    add("llm-id", f'"call_id": "call_{_r(24)}"')
    add("cloud-id", f"arn:aws:iam::{_r(12, DIGITS)}:role/service-role/LambdaExec-{_r(8, LD)}")
    add("cloud-id", f"i-0{_r(16, HEX)} vpc-0{_r(16, HEX)} subnet-0{_r(16, HEX)}")
    add("cloud-id", f"https://docs.google.com/spreadsheets/d/1{_r(43, URLSAFE)}/edit#gid=0")
    add("cloud-id", f"projects/acme-prod/locations/europe-west1/operations/operation-{_r(13, DIGITS)}-{_r(13, HEX)}-{_r(8, HEX)}-{_r(8, HEX)}")
    add("cloud-id", f'ObjectId("{_r(24, HEX)}")')
    add("cloud-id", f"slack channel C0{_r(8, UD)} user U0{_r(8, UD)} ts 1765600000.{_r(6, DIGITS)}")
    add("ipfs", f"ipfs://bafybei{_r(52, LOWER + '234567')}")
    add("ipfs", f"https://ipfs.io/ipfs/Qm{_r(44, B58)}")
    add("public-key", f"age1{_r(58, BECH32.lower())}")
    add("public-key", f'{{"kty": "RSA", "kid": "{_r(8, HEX)}", "use": "sig", "alg": "RS256", "e": "AQAB", '
        f'"n": "{_b64url(_rand_bytes(256))}"}}')
    add("public-key", _pem("PUBLIC KEY", 5))
    add("public-key", _pem("PGP PUBLIC KEY BLOCK", 12).replace("BLOCK-----\n", "BLOCK-----\n\n", 1))
    add("pkce", f"GET /authorize?response_type=code&client_id=web&code_challenge={_b64url(_rand_bytes(32))}"
        "&code_challenge_method=S256&state=xyz")
    add("csp-nonce", f"Content-Security-Policy: script-src 'nonce-{_b64(_rand_bytes(16))}'")
    add("placeholder", "OPENAI_API_KEY=sk-...")
    add("placeholder", "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
    add("placeholder", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE")
    add("placeholder", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    add("placeholder", 'api_key = "<your-api-key>"')
    add("placeholder", "password: ${DB_PASSWORD}")
    add("placeholder", "token: ${{ secrets.GITHUB_TOKEN }}")
    add("placeholder", "ANTHROPIC_API_KEY=your-key-here")
    add("placeholder", "export STRIPE_SECRET_KEY=sk_test_REPLACE_ME")
    add("placeholder", 'password = os.environ["DB_PASSWORD"]')
    add("placeholder", "client_secret: '{{ vault_client_secret }}'")
    add("placeholder", "PASSWORD=********")
    add("build-artifact", f"dist/assets/index-{_r(8, URLSAFE)}.js   142.31 kB │ gzip: 45.12 kB")
    add("build-artifact", f"target/debug/deps/hivemind_core-{_r(16, HEX)}.rlib")
    add("build-artifact", "node_modules/.pnpm/@babel+core@7.24.7_supports-color@8.1.1/node_modules/@babel/core")
    add("build-artifact", "numpy-2.0.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    add("build-artifact", f"/tmp/pytest-of-dev/pytest-42/test_spool_roundtrip0/{_r(8, LD)}.seg")
    add("build-artifact", f"v0.0.0-20240716{_r(6, DIGITS)}-{_r(12, HEX)}")
    add("identifier", "test_concurrent_appenders_produce_no_torn_or_interleaved_records")
    add("identifier", "AbstractSingletonProxyFactoryBeanConfigurationHolder2")
    add("identifier", "k8s-prod-eu-west-1-node-pool-7b9f8c6d5-x2x4q")
    add("identifier", "max_tokens: 4096, input_tokens: 5120, cache_read_input_tokens: 4096")
    add("identifier", "password_min_length = 12")
    add("identifier", "AUTH_TYPE=oauth2 TOKEN_URL=https://auth.acme.io/oauth/token")
    add("identifier", f"/home/dev/.claude/projects/-work-app/{_uuid()}.jsonl")
    add("base64-text", "echo " + _b64(b"hello from the build server, all green") + " | base64 -d")
    add("base64-text", "payload: " + _b64(json.dumps({"event": "deploy", "env": "prod",
                                                      "sha": _r(40, HEX)}).encode()))
    add("crypto-address", f"0x{_r(40, HEX)}")
    add("cli-flags", "pytest -p no:cacheprovider -q tests/unit")
    add("cli-flags", "ssh -p 2222 deploy@10.0.4.12")
    add("cli-flags", "docker run -p 8080:80 -p 8443:443 nginx:1.27")
    add("cli-flags", "mkdir -p build/reports && git add -p src/app.py")
    add("cli-flags", "cargo test -p hivemind-core --release")
    add("cli-flags", "mysql -u root -p orders")
    return out
