"""A second, smaller secrets corpus, written *after* the detector was built and measured
once before any change to the detector (figures in bench/eval_secrets.py's docstring).

New shapes rather than new tokens: table output of secret managers, XML and .NET config,
HAR headers, Java properties, Docker inspect env lists, SMTP AUTH, tokens in Go/Java
calls, secret values alone on a line after ``base64 -d`` (a miss any detector makes),
and look-alikes the first corpus lacks (KSUIDs, nano ids, Solana and Cosmos addresses,
GitHub node ids, images as bare base64, public Mapbox and reCAPTCHA keys).
"""

from __future__ import annotations

import base64
import json
import random
import string

from tests.unit.producers.corpus.secret_lines import LookAlike, SecretLine

_rng = random.Random(20261207)
B62 = string.ascii_letters + string.digits
URLSAFE = B62 + "-_"
HEX = "0123456789abcdef"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _r(n: int, alphabet: str = B62) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _pw() -> str:
    return _rng.choice(["Cedar", "Lumen", "Basalt", "Fjord"]) + _r(4, string.digits) + \
        _rng.choice("!#%+?") + _rng.choice(["moss", "tide", "flint", "reed"])


def late_secret_lines() -> list[SecretLine]:
    out: list[SecretLine] = []

    def add(provider: str, secret: str, text: str) -> None:
        out.append(SecretLine(provider, (secret,), text))

    pw = _pw()
    add("vault-kv", pw, f"====== Data ======\nKey         Value\n---         -----\npassword    {pw}\n"
        "username    app")
    pw = _pw()
    add("xml-config", pw, f"<dataSource>\n  <user>app</user>\n  <password>{pw}</password>\n</dataSource>")
    key = _r(32)
    add("dotnet-config", key, f'<add key="ApiKey" value="{key}" />')
    tok = "eyJhbGciOiJSUzI1NiJ9." + base64.urlsafe_b64encode(
        json.dumps({"sub": _r(8), "exp": 1766000000}).encode()).decode().rstrip("=") + "." + _r(86, URLSAFE)
    add("har", tok, json.dumps({"name": "Authorization", "value": f"Bearer {tok}"}))
    pw = _pw()
    add("java-properties", pw, f"spring.datasource.url=jdbc:postgresql://db/app\nspring.datasource.password={pw}")
    pw = _pw()
    add("docker-inspect", pw, json.dumps({"Env": [f"DB_PASSWORD={pw}", "PATH=/usr/bin"]}, indent=2))
    pw = _pw()
    auth = base64.b64encode(f"\0mailer\0{pw}".encode()).decode()
    add("smtp-auth", auth, f"C: AUTH PLAIN {auth}\nS: 235 2.7.0 Authentication successful")
    tok = "ghp_" + _r(36)
    add("go", tok, f'os.Setenv("GITHUB_TOKEN", "{tok}")')
    tok = "xoxb-" + _r(12, string.digits) + "-" + _r(13, string.digits) + "-" + _r(24)
    add("java", tok, f'Slack slack = Slack.getInstance(); slack.methods("{tok}");')
    pw = _pw()
    add("requests-auth", pw, f'requests.post(url, auth=("deploy", "{pw}"), timeout=10)')
    akid, secret = "AKIA" + _r(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), _r(40, B62 + "+/")
    add("boto3", secret, f'boto3.client("s3", aws_access_key_id="{akid}", aws_secret_access_key="{secret}")')
    tok = "ghp_" + _r(36)
    add("npmrc", tok, f"@acme:registry=https://npm.pkg.github.com\n//npm.pkg.github.com/:_authToken={tok}")
    uuid_tok = "-".join(_r(n, HEX) for n in (8, 4, 4, 4, 12))
    add("npmrc", uuid_tok, f"//registry.npmjs.org/:_authToken={uuid_tok}")
    tok = "pypi-AgEIcHlwaS5vcmc" + _r(60, URLSAFE)
    add("pypirc", tok, f"[pypi]\nusername = __token__\npassword = {tok}\n")
    pw = _pw()
    add("poetry", pw, f'[http-basic.acme]\nusername = "ci"\npassword = "{pw}"')
    tok = _r(40, B62)
    add("git-config", tok, f'git config --global url."https://ci:{tok}@github.com/".insteadOf "https://github.com/"')
    tok = "sk_live_" + _r(24)
    add("heroku-cli", tok, f"heroku config:set STRIPE_SECRET_KEY={tok} -a shop-api")
    pw = _pw()
    add("fly-cli", pw, f"fly secrets set DATABASE_URL=postgres://app:{pw}@db.internal:5432/app")
    pw = _pw()
    add("redis-auth", pw, f"127.0.0.1:6379> AUTH {pw}\nOK")
    tok = "ya29." + _r(120, URLSAFE)
    add("gcloud", tok, f"$ gcloud auth print-access-token\n{tok}")
    tok = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQ" + _r(300, URLSAFE) + "." + _r(340, URLSAFE)
    add("az-cli", tok, json.dumps({"accessToken": tok, "expiresOn": "2026-12-07 10:00:00"}, indent=2))
    tok = _r(52, "abcdefghijklmnopqrstuvwxyz234567")
    add("azure-devops", tok, f"AZURE_DEVOPS_EXT_PAT={tok}")
    tok = f"glpat-{_r(27, URLSAFE)}.01.{_r(9, HEX)}"
    add("gitlab", tok, f"GITLAB_TOKEN={tok}")
    tok = "sk-ant-oat01-" + _r(80, URLSAFE) + "AA"
    add("anthropic", tok, f"CLAUDE_CODE_OAUTH_TOKEN={tok}")
    tok = "sk-proj-" + _r(100, URLSAFE)
    add("openai", tok, f'OpenAI(api_key="{tok}")')
    pw = _pw()
    add("ps", pw, f"app   4242  0.3  1.2 python worker.py --db-password={pw} --queue jobs")
    tok = _r(32, HEX)
    add("curl-oauth2", tok, f"curl --oauth2-bearer {tok} https://api.acme.io/v1/me")
    tok = _r(40, B62)
    add("wget-header", tok, f'wget --header="Authorization: token {tok}" https://git.acme.io/raw/x')
    key, sec = _r(15, string.digits), _r(27, URLSAFE)
    add("cloudinary", sec, f"CLOUDINARY_URL=cloudinary://{key}:{sec}@acme")
    tok = "IQoJb3JpZ2luX2VjE" + _r(400, B62 + "+/")
    add("aws-sts", tok, f"https://bucket.s3.amazonaws.com/x.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
        f"X-Amz-Security-Token={tok.replace('+', '%2B').replace('/', '%2F')}&X-Amz-Expires=900")
    pw = _pw()
    add("decoded-alone", pw, f"$ kubectl get secret db -o jsonpath='{{.data.password}}' | base64 -d\n{pw}")
    return out


def late_lookalikes() -> list[LookAlike]:
    out: list[LookAlike] = []

    def add(family: str, text: str) -> None:
        out.append(LookAlike(family, text))

    add("ksuid", f'{{"id": "{_r(27, B62)}", "kind": "event"}}')
    add("nanoid", f"created order {_r(21, URLSAFE)}")
    add("solana", f"wallet {_r(44, B58)} balance 12.5 SOL")
    add("cosmos", f"cosmos1{_r(38, 'qpzry9x8gf2tvdw0s3jn54khce6mua7l')}")
    add("github-node-id", '"node_id": "' + base64.b64encode(f"04:User{_r(7, string.digits)}".encode()).decode() + '"')
    add("image", json.dumps({"type": "image", "source": {"media_type": "image/png", "data":
        "iVBORw0KGgoAAAANSUhEUgAA" + base64.b64encode(bytes(_rng.randrange(256) for _ in range(300))).decode()}}))
    add("mapbox-public", f"mapboxgl.accessToken = 'pk.eyJ1IjoiYWNtZSIsImEiOiJ{_r(20, URLSAFE)}.{_r(22, URLSAFE)}';")
    add("recaptcha-site-key", f'<div class="g-recaptcha" data-sitekey="6Lc{_r(37, URLSAFE)}"></div>')
    add("algolia-search", f"ALGOLIA_SEARCH_KEY={_r(32, HEX)}")
    add("sentry-dsn", f"SENTRY_DSN=https://{_r(32, HEX)}@o{_r(6, string.digits)}.ingest.sentry.io/{_r(7, string.digits)}")
    add("lfs-pointer", f"version https://git-lfs.github.com/spec/v1\noid sha256:{_r(64, HEX)}\nsize 1048576")
    add("k8s-uid", f"uid: {'-'.join(_r(n, HEX) for n in (8, 4, 4, 4, 12))}\nresourceVersion: \"{_r(8, string.digits)}\"")
    add("terraform-plan", '  + password = (sensitive value)\n  + token    = (known after apply)')
    add("actions-log", "##[debug]Evaluating: secrets.NPM_TOKEN\n##[debug]Result: '***'")
    add("s3-presigned-signature", f"X-Amz-Date=20261207T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature={_r(64, HEX)}")
    add("relay-id", f'query {{ node(id: "{base64.b64encode(f"Project:{_r(4, string.digits)}".encode()).decode()}") {{ id }} }}')
    add("snowflake-id", f"discord message {_r(19, string.digits)} in channel {_r(18, string.digits)}")
    add("uuid7", f"trace {_r(8, HEX)}-{_r(4, HEX)}-7{_r(3, HEX)}-{_r(4, HEX)}-{_r(12, HEX)}")
    add("css-module", f'<div class="Button_primary__{_r(5, URLSAFE)} styles_wrapper__{_r(5, URLSAFE)}">')
    add("webpack-chunk", f"static/chunks/pages/_app-{_r(16, HEX)}.js  {_r(3, string.digits)} kB")
    return out
