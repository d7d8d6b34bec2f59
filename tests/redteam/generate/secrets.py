"""Secret lines across providers: each a line as it shows up in a session (a command,
an .env or config file, a log, a pasted prompt) and the exact secrets in it.

Every provider has a few templates (different contexts); lines are drawn in turn with
fresh random values from ``Rand(f"secret-{provider}-{n}")``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from tests.redteam.corpus import SecretCase
from tests.redteam.generate.randoms import (
    B32,
    BECH32,
    EC_PRIV,
    LOWER_ALNUM,
    OPENSSH,
    RSA4096_PKCS1,
    RSA_PKCS1,
    RSA_PKCS8,
    UPPER_ALNUM,
    Rand,
)

Line = tuple[str, str, list[str]]  # (context, line, secrets)
Maker = Callable[[Rand, int], Line]  # (values, template number) -> line
AZURE_SECRET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~.-"


@dataclass(frozen=True)
class Provider:
    name: str
    category: str
    count: int


def _aws_secret(r: Rand) -> str:
    return r.b64(40).replace("+", "/")[:40]


def aws(r: Rand, kind: int) -> Line:
    akid, sec = "AKIA" + r.pick(B32, 16), _aws_secret(r)
    return [
        ("file", f"[default]\naws_access_key_id = {akid}\naws_secret_access_key = {sec}\nregion = eu-west-1\n", [akid, sec]),
        ("output", f"export AWS_ACCESS_KEY_ID={akid}\nexport AWS_SECRET_ACCESS_KEY={sec}", [akid, sec]),
        ("command", f"aws configure set aws_secret_access_key {sec} --profile ci", [sec]),
        ("command", f"AWS_ACCESS_KEY_ID={akid} AWS_SECRET_ACCESS_KEY={sec} aws s3 ls s3://acme-build-artifacts", [akid, sec]),
        ("prompt", f"here are the staging creds: {akid} / {sec} - can you check why the upload fails?", [akid, sec]),
        ("file", f's3 = boto3.client("s3", aws_access_key_id="{akid}", aws_secret_access_key="{sec}")', [akid, sec]),
    ][kind % 6]


def aws_session(r: Rand, kind: int) -> Line:
    akid = "ASIA" + r.pick(B32, 16)
    sec = _aws_secret(r)
    tok = "IQoJb3JpZ2luX2VjE" + r.b64(r.r.randint(380, 620))
    return [
        ("output", f'{{\n    "Credentials": {{\n        "AccessKeyId": "{akid}",\n        "SecretAccessKey": "{sec}",\n        "SessionToken": "{tok}",\n        "Expiration": "2026-11-26T18:00:00+00:00"\n    }}\n}}', [akid, sec, tok]),
        ("file", f"AWS_SESSION_TOKEN={tok}\nAWS_SECRET_ACCESS_KEY={sec}", [tok, sec]),
    ][kind % 2]


def gcp_api_key(r: Rand, kind: int) -> Line:
    key = "AIza" + r.b64url(35)
    return [
        ("file", f"GOOGLE_MAPS_API_KEY={key}", [key]),
        ("command", f'curl "https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={key}"', [key]),
        ("output", f"[geo] request failed 403 for key={key}: API not enabled", [key]),
    ][kind % 3]


def _service_account(r: Rand) -> tuple[str, str, str]:
    _, body = r.pem("PRIVATE KEY", RSA_PKCS8, 1218)
    pk = "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n"
    kid = r.hex(40)
    doc = {
        "type": "service_account", "project_id": "acme-analytics-prod", "private_key_id": kid,
        "private_key": pk, "client_email": "etl-loader@acme-analytics-prod.iam.gserviceaccount.com",
        "client_id": r.digits(21), "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/etl-loader%40acme-analytics-prod.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com",
    }
    text = json.dumps(doc, indent=2)
    escaped_body = json.dumps(body)[1:-1]
    return text, kid, escaped_body


def gcp_service_account(r: Rand, kind: int) -> Line:
    text, _kid, body = _service_account(r)
    if kind % 3 == 0:  # the key id only names the key: the private key is the secret
        return ("file", text, [body])
    b64 = base64.b64encode(text.encode()).decode()
    if kind % 3 == 1:
        return ("output", f"GOOGLE_CREDENTIALS_B64={b64}", [b64])
    return ("command", f"echo '{b64}' | base64 -d > /tmp/sa.json && gcloud auth activate-service-account --key-file=/tmp/sa.json", [b64])


def azure_storage(r: Rand, kind: int) -> Line:
    key = r.b64(86) + "=="
    conn = f"DefaultEndpointsProtocol=https;AccountName=acmeprodlogs;AccountKey={key};EndpointSuffix=core.windows.net"
    return [
        ("file", f"AZURE_STORAGE_CONNECTION_STRING=\"{conn}\"", [key]),
        ("command", f"az storage blob list --account-name acmeprodlogs --container-name raw --account-key {key}", [key]),
        ("output", f"Using connection string {conn}", [key]),
    ][kind % 3]


def azure_login(r: Rand, kind: int) -> Line:
    sec = r.alnum(3) + "8Q~" + r.pick(AZURE_SECRET, 34)
    app, tenant = r.uuid(), r.uuid()
    pw = r.password()
    return [
        ("command", f"az login --service-principal -u {app} -p {sec} --tenant {tenant}", [sec]),
        ("command", f"az login -u ops@acme-corp.com -p '{pw}'", [pw]),
        ("file", f"AZURE_CLIENT_ID={app}\nAZURE_CLIENT_SECRET={sec}\nAZURE_TENANT_ID={tenant}", [sec]),
        ("command", f"az login --service-principal --username {app} --password={sec} --tenant {tenant}", [sec]),
    ][kind % 4]


def azure_sas(r: Rand, kind: int) -> Line:
    sig = quote(r.b64(43) + "=", safe="")
    url = (f"https://acmeprodlogs.blob.core.windows.net/raw/export.csv?sv=2022-11-02&ss=b&srt=sco&sp=rwdlacupx"
           f"&se=2026-12-31T00:00:00Z&st=2026-11-01T00:00:00Z&spr=https&sig={sig}")
    return [("command", f'curl -o export.csv "{url}"', [sig]), ("output", f"SAS URL: {url}", [sig])][kind % 2]


def github(r: Rand, kind: int) -> Line:
    ghp = "ghp_" + r.alnum(36)
    fine = "github_pat_11" + r.pick(UPPER_ALNUM, 20) + "_" + r.alnum(59)
    ghs = "ghs_" + r.alnum(36)
    gho = "gho_" + r.alnum(36)
    return [
        ("command", f"git clone https://{ghp}@github.com/acme/payments.git", [ghp]),
        ("file", f"GITHUB_TOKEN={fine}", [fine]),
        ("command", f'curl -H "Authorization: token {ghp}" https://api.github.com/repos/acme/payments/actions/runs', [ghp]),
        ("output", f"remote: Invalid username or password.\nfatal: Authentication failed for 'https://x-access-token:{ghs}@github.com/acme/web.git/'", [ghs]),
        ("file", f"//npm.pkg.github.com/:_authToken={gho}", [gho]),
        ("prompt", f"use this token for the API calls: {fine}", [fine]),
    ][kind % 6]


def gitlab(r: Rand, kind: int) -> Line:
    tok = "glpat-" + r.b64url(20)
    return [
        ("command", f'curl --header "PRIVATE-TOKEN: {tok}" "https://gitlab.com/api/v4/projects/4412/pipelines"', [tok]),
        ("file", f"GITLAB_TOKEN={tok}", [tok]),
        ("command", f"git remote set-url origin https://oauth2:{tok}@gitlab.com/acme/infra.git", [tok]),
    ][kind % 3]


def slack(r: Rand, kind: int) -> Line:
    bot = f"xoxb-{r.digits(12)}-{r.digits(13)}-{r.alnum(24)}"
    user = f"xoxp-{r.digits(12)}-{r.digits(12)}-{r.digits(13)}-{r.hex(32)}"
    path = f"T{r.pick(UPPER_ALNUM, 10)}/B{r.pick(UPPER_ALNUM, 10)}/{r.alnum(24)}"
    return [
        ("file", f"SLACK_BOT_TOKEN={bot}", [bot]),
        ("command", f'curl -X POST -H \'Content-type: application/json\' --data \'{{"text":"deploy done"}}\' https://hooks.slack.com/services/{path}', [path]),
        ("output", f"slack_sdk.errors.SlackApiError: invalid_auth (token={user})", [user]),
        ("file", f"notifications:\n  slack_webhook: https://hooks.slack.com/services/{path}\n  channel: '#deploys'", [path]),
        ("command", f'curl -H "Authorization: Bearer {bot}" https://slack.com/api/auth.test', [bot]),
    ][kind % 5]


def stripe(r: Rand, kind: int) -> Line:
    sk = "sk_live_" + r.alnum(99)
    rk = "rk_live_" + r.alnum(99)
    wh = "whsec_" + r.alnum(32)
    return [
        ("file", f"STRIPE_SECRET_KEY={sk}\nSTRIPE_WEBHOOK_SECRET={wh}", [sk, wh]),
        ("command", f"curl https://api.stripe.com/v1/charges -u {sk}: -d limit=3", [sk]),
        ("file", f'stripe.api_key = "{rk}"', [rk]),
        ("command", f"stripe listen --forward-to localhost:4242/webhook --api-key {sk}", [sk]),
        ("output", f"> Ready! Your webhook signing secret is {wh} (^C to quit)", [wh]),
    ][kind % 5]


def openai(r: Rand, kind: int) -> Line:
    proj = "sk-proj-" + r.b64url(74) + "T3BlbkFJ" + r.b64url(74)
    legacy = "sk-" + r.alnum(20) + "T3BlbkFJ" + r.alnum(20)
    return [
        ("file", f"OPENAI_API_KEY={proj}", [proj]),
        ("command", f'curl https://api.openai.com/v1/models -H "Authorization: Bearer {legacy}"', [legacy]),
        ("output", f"openai.AuthenticationError: Error code: 401 - Incorrect API key provided: {proj}", [proj]),
        ("prompt", f"my key is {legacy}, set it up in the config please", [legacy]),
    ][kind % 4]


def anthropic(r: Rand, kind: int) -> Line:
    key = "sk-ant-api03-" + r.b64url(93) + "AA"
    admin = "sk-ant-admin01-" + r.b64url(93) + "AA"
    return [
        ("file", f"ANTHROPIC_API_KEY={key}", [key]),
        ("command", f"curl https://api.anthropic.com/v1/messages -H 'x-api-key: {key}' -H 'anthropic-version: 2023-06-01' -d @req.json", [key]),
        ("command", f"export ANTHROPIC_ADMIN_KEY={admin}", [admin]),
    ][kind % 3]


def twilio(r: Rand, kind: int) -> Line:
    sid, tok = "AC" + r.hex(32), r.hex(32)
    sk, sks = "SK" + r.hex(32), r.alnum(32)
    return [
        ("command", f"curl -X POST https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json -u {sid}:{tok} --data-urlencode 'To=+15005550006'", [tok]),
        ("file", f"TWILIO_ACCOUNT_SID={sid}\nTWILIO_AUTH_TOKEN={tok}", [tok]),
        ("file", f"TWILIO_API_KEY={sk}\nTWILIO_API_SECRET={sks}", [sks]),
    ][kind % 3]


def sendgrid(r: Rand, kind: int) -> Line:
    key = f"SG.{r.b64url(22)}.{r.b64url(43)}"
    return [("file", f"SENDGRID_API_KEY={key}", [key]),
            ("command", f'curl -X POST https://api.sendgrid.com/v3/mail/send -H "Authorization: Bearer {key}" -d @mail.json', [key])][kind % 2]


def mailgun(r: Rand, kind: int) -> Line:
    key = "key-" + r.hex(32)
    return [("command", f"curl -s --user 'api:{key}' https://api.mailgun.net/v3/mg.acme.io/messages -F to=ops@acme.io", [key]),
            ("file", f"MAILGUN_API_KEY={key}", [key])][kind % 2]


def mailchimp(r: Rand, kind: int) -> Line:
    key = r.hex(32) + "-us21"
    return [("file", f"MAILCHIMP_API_KEY={key}", [key]),
            ("command", f"curl -u anystring:{key} https://us21.api.mailchimp.com/3.0/lists", [key])][kind % 2]


def npm(r: Rand, kind: int) -> Line:
    tok = "npm_" + r.alnum(36)
    return [("file", f"//registry.npmjs.org/:_authToken={tok}\nalways-auth=true", [tok]),
            ("command", f"npm config set //registry.npmjs.org/:_authToken {tok}", [tok]),
            ("output", f"npm notice Publishing to https://registry.npmjs.org/ with token {tok}", [tok])][kind % 3]


def pypi(r: Rand, kind: int) -> Line:
    tok = "pypi-AgEIcHlwaS5vcmcCJ" + r.b64url(150)
    return [("command", f"twine upload dist/* -u __token__ -p {tok}", [tok]),
            ("file", f"[pypi]\n  username = __token__\n  password = {tok}", [tok]),
            ("file", f"UV_PUBLISH_TOKEN={tok}", [tok])][kind % 3]


def docker(r: Rand, kind: int) -> Line:
    pat = "dckr_pat_" + r.b64url(27)
    pw = r.password()
    auth = base64.b64encode(f"acmeci:{pw}".encode()).decode()
    return [("command", f"docker login -u acmeci -p {pat}", [pat]),
            ("command", f"echo '{pw}' | docker login registry.acme.io -u deploy --password-stdin", [pw]),
            ("file", f'{{\n  "auths": {{\n    "registry.acme.io": {{\n      "auth": "{auth}"\n    }}\n  }}\n}}', [auth]),
            ("command", f"docker login --username acmeci --password {pat} docker.io", [pat])][kind % 4]


def heroku(r: Rand, kind: int) -> Line:
    key = r.uuid()
    return [("file", f"HEROKU_API_KEY={key}", [key]),
            ("file", f"machine api.heroku.com\n  login ops@acme-corp.com\n  password {key}\nmachine git.heroku.com\n  login ops@acme-corp.com\n  password {key}", [key])][kind % 2]


def digitalocean(r: Rand, kind: int) -> Line:
    tok = "dop_v1_" + r.hex(64)
    return [("command", f"doctl auth init --access-token {tok}", [tok]),
            ("file", f'provider "digitalocean" {{\n  token = "{tok}"\n}}', [tok])][kind % 2]


def datadog(r: Rand, kind: int) -> Line:
    api, app = r.hex(32), r.hex(40)
    return [("file", f"DD_API_KEY={api}\nDD_APP_KEY={app}\nDD_SITE=datadoghq.eu", [api, app]),
            ("command", f'curl -X GET "https://api.datadoghq.com/api/v1/validate" -H "DD-API-KEY: {api}" -H "DD-APPLICATION-KEY: {app}"', [api, app]),
            ("file", f"DD_APP_KEY={app}", [app]),
            ("command", f"docker run -d -e DD_API_KEY={api} -e DD_SITE=datadoghq.com gcr.io/datadoghq/agent:7", [api])][kind % 4]


def newrelic(r: Rand, kind: int) -> Line:
    user = "NRAK-" + r.pick(UPPER_ALNUM, 27)
    lic = r.hex(36) + "NRAL"
    return [("file", f"NEW_RELIC_LICENSE_KEY={lic}", [lic]),
            ("command", f"curl -X POST https://api.newrelic.com/graphql -H 'API-Key: {user}' -d @query.json", [user])][kind % 2]


def sentry(r: Rand, kind: int) -> Line:
    tok = "sntrys_" + r.b64url(140)
    hex_tok = r.hex(64)
    return [("file", f"SENTRY_AUTH_TOKEN={tok}", [tok]),
            ("command", f"sentry-cli --auth-token {hex_tok} releases new 2026.11.3", [hex_tok])][kind % 2]


def shopify(r: Rand, kind: int) -> Line:
    at, ss = "shpat_" + r.hex(32), "shpss_" + r.hex(32)
    return [("command", f"curl -H 'X-Shopify-Access-Token: {at}' https://acme-store.myshopify.com/admin/api/2024-10/orders.json", [at]),
            ("file", f"SHOPIFY_API_SECRET={ss}\nSHOPIFY_ACCESS_TOKEN={at}", [ss, at])][kind % 2]


def atlassian(r: Rand, kind: int) -> Line:
    tok = "ATATT3xFfGF0" + r.b64url(170) + "=" + r.hex(8).upper()
    return [("command", f"curl -u alex@acme-corp.com:{tok} https://acme.atlassian.net/rest/api/3/issue/OPS-112", [tok]),
            ("file", f"JIRA_API_TOKEN={tok}", [tok])][kind % 2]


def linear(r: Rand, kind: int) -> Line:
    tok = "lin_api_" + r.alnum(40)
    return [("file", f"LINEAR_API_KEY={tok}", [tok]),
            ("command", f"curl https://api.linear.app/graphql -H 'Authorization: {tok}' -d '{{\"query\":\"{{ viewer {{ id }} }}\"}}'", [tok])][kind % 2]


def notion(r: Rand, kind: int) -> Line:
    old, new = "secret_" + r.alnum(43), "ntn_" + r.digits(11) + r.alnum(35)
    return [("file", f"NOTION_TOKEN={old}", [old]),
            ("command", f"curl https://api.notion.com/v1/search -H 'Authorization: Bearer {new}' -H 'Notion-Version: 2022-06-28'", [new])][kind % 2]


def airtable(r: Rand, kind: int) -> Line:
    tok = "pat" + r.alnum(14) + "." + r.hex(64)
    return [("file", f"AIRTABLE_API_KEY={tok}", [tok]),
            ("command", f"curl https://api.airtable.com/v0/appX1y2Z3/Leads -H 'Authorization: Bearer {tok}'", [tok])][kind % 2]


def hubspot(r: Rand, kind: int) -> Line:
    tok = "pat-na1-" + r.uuid()
    return [("file", f"HUBSPOT_ACCESS_TOKEN={tok}", [tok]),
            ("command", f"curl https://api.hubapi.com/crm/v3/objects/contacts -H 'Authorization: Bearer {tok}'", [tok]),
            ("output", f"HubSpot client configured (token {tok})", [tok])][kind % 3]


def salesforce(r: Rand, kind: int) -> Line:
    tok = "00D" + r.alnum(12) + "!" + "AQ" + r.b64url(4) + "." + r.b64url(90)
    return [("command", f"curl https://acme.my.salesforce.com/services/data/v60.0/sobjects/Lead -H 'Authorization: Bearer {tok}'", [tok]),
            ("output", f"sf org display\n=== Org Description\n KEY          VALUE\n Access Token {tok}\n Instance Url https://acme.my.salesforce.com", [tok])][kind % 2]


def okta(r: Rand, kind: int) -> Line:
    tok = "00" + r.b64url(40)
    return [("command", f"curl -H 'Authorization: SSWS {tok}' https://acme.okta.com/api/v1/users?limit=5", [tok]),
            ("file", f"OKTA_API_TOKEN={tok}", [tok])][kind % 2]


def cloudflare(r: Rand, kind: int) -> Line:
    tok, glob = r.b64url(40), r.hex(37)
    return [("file", f"CLOUDFLARE_API_TOKEN={tok}", [tok]),
            ("command", f"curl https://api.cloudflare.com/client/v4/zones -H 'X-Auth-Email: ops@acme-corp.com' -H 'X-Auth-Key: {glob}'", [glob]),
            ("command", f"wrangler deploy --env production  # CLOUDFLARE_API_TOKEN={tok}", [tok])][kind % 3]


def vercel(r: Rand, kind: int) -> Line:
    tok = r.alnum(24)
    return [("command", f"vercel deploy --prod --token {tok}", [tok]),
            ("file", f"VERCEL_TOKEN={tok}", [tok])][kind % 2]


def supabase(r: Rand, kind: int) -> Line:
    jwt = r.jwt({"iss": "supabase", "ref": r.pick(LOWER_ALNUM, 20), "role": "service_role",
                 "iat": 1732000000, "exp": 2047576000})
    return [("file", f"SUPABASE_SERVICE_ROLE_KEY={jwt}", [jwt]),
            ("command", f"curl 'https://xyzcompany.supabase.co/rest/v1/orders?select=*' -H 'apikey: {jwt}' -H 'Authorization: Bearer {jwt}'", [jwt])][kind % 2]


def jwt_bearer(r: Rand, kind: int) -> Line:
    jwt = r.jwt({"sub": r.uuid(), "email": "alex@acme-corp.com", "scope": "orders:write",
                 "iat": 1732600000, "exp": 1732603600}, alg="RS256", sig_len=342)
    return [("command", f'curl -H "Authorization: Bearer {jwt}" https://api.acme.io/v2/orders', [jwt]),
            ("output", f"> GET /v2/orders HTTP/1.1\n> Host: api.acme.io\n> Authorization: Bearer {jwt}\n> Accept: */*\n< HTTP/1.1 401 Unauthorized", [jwt]),
            ("prompt", f"the api rejects this token, why? {jwt}", [jwt])][kind % 3]


def basic_auth(r: Rand, kind: int) -> Line:
    pw = r.password()
    b = base64.b64encode(f"deploy:{pw}".encode()).decode()
    return [("command", f"curl -H 'Authorization: Basic {b}' https://nexus.acme.internal/service/rest/v1/repositories", [b]),
            ("command", f"curl -u deploy:{pw} https://nexus.acme.internal/repository/releases/", [pw]),
            ("output", f"GET /metrics HTTP/1.1\nAuthorization: Basic {b}\nUser-Agent: Prometheus/2.51", [b])][kind % 3]


def postgres(r: Rand, kind: int) -> Line:
    pw = r.password()
    q = quote(pw, safe="")
    return [("file", f"DATABASE_URL=postgres://app:{q}@db.internal:5432/orders?sslmode=require", [q]),
            ("command", f"PGPASSWORD='{pw}' psql -h db.internal -U app -d orders -c 'select count(*) from invoices'", [pw]),
            ("output", f"sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection failed: postgresql://app:{q}@10.0.3.12:5432/orders", [q]),
            ("command", f"pg_dump 'postgresql://readonly:{q}@db.internal/orders' > orders.sql", [q])][kind % 4]


def mysql(r: Rand, kind: int) -> Line:
    pw = r.password().replace("'", "")
    return [("command", f"mysql -h 10.0.3.12 -u root -p{pw} orders -e 'show tables'", [pw]),
            ("command", f"mysqldump --user=backup --password='{pw}' --all-databases > all.sql", [pw]),
            ("file", f"[client]\nuser=app\npassword={pw}\nhost=db.internal", [pw]),
            ("command", f"mysqladmin -u root --password={pw} status", [pw])][kind % 4]


def mongodb(r: Rand, kind: int) -> Line:
    pw = r.alnum(20)
    return [("file", f"MONGODB_URI=mongodb+srv://svc-orders:{pw}@cluster0.ab12c.mongodb.net/prod?retryWrites=true", [pw]),
            ("command", f"mongosh 'mongodb://admin:{pw}@10.0.5.20:27017/admin' --eval 'db.stats()'", [pw])][kind % 2]


def redis(r: Rand, kind: int) -> Line:
    pw = r.alnum(32)
    return [("file", f"REDIS_URL=redis://:{pw}@cache.internal:6379/0", [pw]),
            ("command", f"redis-cli -h cache.internal -a {pw} info keyspace", [pw])][kind % 2]


def amqp(r: Rand, kind: int) -> Line:
    pw = r.password()
    q = quote(pw, safe="")
    return [("file", f"CELERY_BROKER_URL=amqp://orders:{q}@mq.internal:5672//", [q]),
            ("output", f"[ERROR] consumer: Cannot connect to amqp://orders:{q}@mq.internal:5672//: timed out.", [q])][kind % 2]


def generic_password(r: Rand, kind: int) -> Line:
    pw = r.password()
    return [("file", f"DB_PASSWORD={pw}", [pw]),
            ("file", f"database:\n  host: db.internal\n  user: app\n  password: \"{pw}\"", [pw]),
            ("command", f"sshpass -p '{pw}' ssh deploy@10.0.4.7 'sudo systemctl restart api'", [pw]),
            ("prompt", f"the admin password for the staging dashboard is {pw} - log in and check the queue", [pw]),
            ("command", f"curl -d 'username=ops&password={quote(pw, safe='')}' https://staging.acme.io/login", [quote(pw, safe="")]),
            ("file", f"SMTP_PASSWORD='{pw}'", [pw]),
            ("output", f"Connecting with user=etl password={pw} host=warehouse.internal", [pw])][kind % 7]


def private_key(r: Rand, kind: int) -> Line:
    if kind % 4 == 0:
        block, body = r.pem("OPENSSH PRIVATE KEY", OPENSSH, 400)
    elif kind % 4 == 1:
        block, body = r.pem("RSA PRIVATE KEY", RSA_PKCS1, 1190)
    elif kind % 4 == 2:
        block, body = r.pem("RSA PRIVATE KEY", RSA4096_PKCS1, 2350)
    else:
        block, body = r.pem("EC PRIVATE KEY", EC_PRIV, 121)
    ctx = ["file", "output", "file", "prompt"][kind % 4]
    return (ctx, block if ctx != "prompt" else f"can you add this deploy key to the server?\n{block}", [body])


def pgp(r: Rand, kind: int) -> Line:
    _, body = r.pem("PGP PRIVATE KEY BLOCK", b"\x95\x03\xc6\x04", 1000)
    block = f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{body}\n={r.b64(4)}\n-----END PGP PRIVATE KEY BLOCK-----"
    return ("file", block, [body])


def telegram(r: Rand, kind: int) -> Line:
    tok = f"{r.digits(10)}:AA{r.b64url(33)}"
    return [("file", f"TELEGRAM_BOT_TOKEN={tok}", [tok]),
            ("command", f"curl https://api.telegram.org/bot{tok}/getUpdates", [tok])][kind % 2]


def discord(r: Rand, kind: int) -> Line:
    path = f"{r.digits(19)}/{r.b64url(68)}"
    bot = f"{r.b64url(24)}.{r.b64url(6)}.{r.b64url(38)}"
    return [("command", f"curl -H 'Content-Type: application/json' -d '{{\"content\":\"build ok\"}}' https://discord.com/api/webhooks/{path}", [path]),
            ("file", f"DISCORD_BOT_TOKEN={bot}", [bot])][kind % 2]


def mapbox(r: Rand, kind: int) -> Line:
    tok = "sk.eyJ1IjoiYWNtZSIsImEiOiJ" + r.b64url(30) + "." + r.b64url(22)
    return [("file", f"MAPBOX_SECRET_TOKEN={tok}", [tok])][0]


def vault(r: Rand, kind: int) -> Line:
    tok = "hvs." + r.b64url(90)
    return [("command", f"VAULT_TOKEN={tok} vault kv get secret/payments", [tok]),
            ("output", f"Key                  Value\n---                  -----\ntoken                {tok}\ntoken_accessor       {r.alnum(24)}\ntoken_duration       768h", [tok])][kind % 2]


def terraform_cloud(r: Rand, kind: int) -> Line:
    tok = f"{r.alnum(14)}.atlasv1.{r.alnum(67)}"
    return [("file", f'credentials "app.terraform.io" {{\n  token = "{tok}"\n}}', [tok]),
            ("file", f"TF_TOKEN_app_terraform_io={tok}", [tok])][kind % 2]


def pulumi(r: Rand, kind: int) -> Line:
    tok = "pul-" + r.hex(40)
    return ("file", f"PULUMI_ACCESS_TOKEN={tok}", [tok])


def grafana(r: Rand, kind: int) -> Line:
    sa = "glsa_" + r.alnum(32) + "_" + r.hex(8)
    return [("command", f"curl -H 'Authorization: Bearer {sa}' https://grafana.acme.io/api/dashboards/uid/ops", [sa]),
            ("file", f"GRAFANA_SERVICE_ACCOUNT_TOKEN={sa}", [sa])][kind % 2]


def huggingface(r: Rand, kind: int) -> Line:
    tok = "hf_" + r.alnum(34)
    return [("command", f"huggingface-cli login --token {tok}", [tok]),
            ("file", f"HF_TOKEN={tok}", [tok])][kind % 2]


def databricks(r: Rand, kind: int) -> Line:
    tok = "dapi" + r.hex(32)
    return [("file", f"[DEFAULT]\nhost  = https://adb-4412.11.azuredatabricks.net\ntoken = {tok}", [tok]),
            ("command", f"databricks jobs list --profile prod  # token {tok}", [tok])][kind % 2]


def snowflake(r: Rand, kind: int) -> Line:
    pw = r.password()
    return [("command", f"SNOWSQL_PWD='{pw}' snowsql -a acme-xy12345 -u loader -d raw", [pw]),
            ("file", f"snowflake:\n  account: acme-xy12345\n  user: LOADER\n  password: {pw}", [pw])][kind % 2]


def algolia(r: Rand, kind: int) -> Line:
    key = r.hex(32)
    return ("file", f"ALGOLIA_APP_ID=ZX81KQ2M4P\nALGOLIA_ADMIN_API_KEY={key}", [key])


def square(r: Rand, kind: int) -> Line:
    tok = "EAAA" + r.b64url(60)
    return [("file", f"SQUARE_ACCESS_TOKEN={tok}", [tok]),
            ("command", f"curl https://connect.squareup.com/v2/locations -H 'Authorization: Bearer {tok}'", [tok])][kind % 2]


def paypal(r: Rand, kind: int) -> Line:
    cid, sec = "A" + r.b64url(79), "E" + r.b64url(79)
    return ("command", f"curl -v https://api-m.paypal.com/v1/oauth2/token -u '{cid}:{sec}' -d 'grant_type=client_credentials'", [sec])


def kubeconfig(r: Rand, kind: int) -> Line:
    block, _ = r.pem("RSA PRIVATE KEY", RSA_PKCS1, 1190)
    key_data = base64.b64encode(block.encode()).decode()
    sa = r.jwt({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "ci",
                "sub": "system:serviceaccount:ci:deployer"}, alg="RS256", sig_len=342)
    return [("file", f"users:\n- name: ci-admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTi\n    client-key-data: {key_data}", [key_data]),
            ("output", f"Name:         deployer-token-x8k2p\nType:  kubernetes.io/service-account-token\n\nData\n====\ntoken:      {sa}", [sa])][kind % 2]


def age_key(r: Rand, kind: int) -> Line:
    key = "AGE-SECRET-KEY-1" + r.pick(BECH32, 58).upper()
    return ("file", f"# created: 2026-11-20T10:11:12Z\n# public key: age1{r.pick(BECH32, 58)}\n{key}", [key])


def confluent(r: Rand, kind: int) -> Line:
    key, sec = r.pick(UPPER_ALNUM, 16), r.b64(64).replace("/", "+")
    return [("file", f"sasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{key}\" password=\"{sec}\";", [sec]),
            ("file", f"HIVEMIND_KAFKA__SASL_PASSWORD={sec}", [sec])][kind % 2]


def alibaba(r: Rand, kind: int) -> Line:
    akid, sec = "LTAI" + r.alnum(20), r.alnum(30)
    return ("command", f"aliyun configure set --access-key-id {akid} --access-key-secret {sec} --region cn-hangzhou", [akid, sec])


def tencent(r: Rand, kind: int) -> Line:
    sid, sec = "AKID" + r.alnum(32), r.alnum(32)
    return ("file", f"TENCENTCLOUD_SECRET_ID={sid}\nTENCENTCLOUD_SECRET_KEY={sec}", [sid, sec])


def cloudinary(r: Rand, kind: int) -> Line:
    sec = r.b64url(27)
    return ("file", f"CLOUDINARY_URL=cloudinary://{r.digits(15)}:{sec}@acme-media", [sec])


def zendesk(r: Rand, kind: int) -> Line:
    tok = r.alnum(40)
    return [("command", f"curl https://acme.zendesk.com/api/v2/tickets.json -u agent@acme-corp.com/token:{tok}", [tok]),
            ("file", f"ZENDESK_API_TOKEN={tok}", [tok])][kind % 2]


def firebase(r: Rand, kind: int) -> Line:
    key = "AAAA" + r.b64url(7) + ":APA91b" + r.b64url(134)
    return ("command", f"curl -X POST https://fcm.googleapis.com/fcm/send -H 'Authorization: key={key}' -d @push.json", [key])


def rubygems(r: Rand, kind: int) -> Line:
    key = "rubygems_" + r.hex(48)
    return ("file", f"---\n:rubygems_api_key: {key}", [key])


def nuget(r: Rand, kind: int) -> Line:
    key = "oy2" + r.pick(LOWER_ALNUM, 43)
    return ("command", f"dotnet nuget push bin/Release/Acme.Core.2.1.0.nupkg --api-key {key} --source https://api.nuget.org/v3/index.json", [key])


def circleci(r: Rand, kind: int) -> Line:
    tok = "CCIPAT_" + r.alnum(22) + "_" + r.hex(40)
    return ("command", f"curl -H 'Circle-Token: {tok}' https://circleci.com/api/v2/me", [tok])


def artifactory(r: Rand, kind: int) -> Line:
    key = "AKCp8" + r.alnum(68)
    return ("file", f"artifactory_password={key}", [key])


def sonar(r: Rand, kind: int) -> Line:
    tok = "squ_" + r.hex(40)
    return ("command", f"sonar-scanner -Dsonar.projectKey=payments -Dsonar.token={tok}", [tok])


def launchdarkly(r: Rand, kind: int) -> Line:
    key = "sdk-" + r.uuid()
    return ("file", f"LAUNCHDARKLY_SDK_KEY={key}", [key])


def asana(r: Rand, kind: int) -> Line:
    tok = f"2/{r.digits(16)}/{r.digits(16)}:{r.hex(32)}"
    return ("command", f"curl https://app.asana.com/api/1.0/users/me -H 'Authorization: Bearer {tok}'", [tok])


def groq(r: Rand, kind: int) -> Line:
    key = "gsk_" + r.alnum(52)
    return ("file", f"GROQ_API_KEY={key}", [key])


def replicate(r: Rand, kind: int) -> Line:
    key = "r8_" + r.alnum(37)
    return ("command", f"export REPLICATE_API_TOKEN={key}", [key])


def eth_private(r: Rand, kind: int) -> Line:
    key = "0x" + r.hex(64)
    return [("file", f"DEPLOYER_PRIVATE_KEY={key}", [key]),
            ("command", f"forge script script/Deploy.s.sol --rpc-url $RPC_URL --private-key {key} --broadcast", [key])][kind % 2]


def wireguard(r: Rand, kind: int) -> Line:
    priv = base64.b64encode(r.bytes_(32)).decode()
    pub = base64.b64encode(r.bytes_(32)).decode()
    return ("file", f"[Interface]\nPrivateKey = {priv}\nAddress = 10.8.0.2/24\n\n[Peer]\nPublicKey = {pub}\nEndpoint = vpn.acme.io:51820", [priv])


def long_output(r: Rand, kind: int) -> Line:
    """A secret buried in a long log: past the first kilobytes, near the tail, at a cut."""
    tok = "ghp_" + r.alnum(36) if kind % 2 else "sk_live_" + r.alnum(99)
    noise = "\n".join(f"2026-11-25T10:{i // 60:02d}:{i % 60:02d}Z INFO worker[{i % 7}] processed batch {i} in {r.r.randint(3, 90)}ms"
                      for i in range(r.r.choice([300, 420, 600])))
    where = kind % 3
    if where == 0:
        text = f"{noise}\nDEBUG auth header token={tok}\n{noise[:2000]}"
    elif where == 1:
        text = f"{noise}\n{noise}\nDEBUG auth header token={tok}"
    else:
        text = f"{noise[:12200]}DEBUG token={tok}\n{noise}"
    return ("output", text, [tok])


PROVIDERS: list[Provider] = [
    Provider("aws", "cloud", 8), Provider("aws_session", "cloud", 3),
    Provider("gcp_api_key", "cloud", 4), Provider("gcp_service_account", "cloud", 6),
    Provider("azure_storage", "cloud", 4), Provider("azure_login", "password", 8),
    Provider("azure_sas", "cloud", 3), Provider("github", "vcs", 10),
    Provider("gitlab", "vcs", 4), Provider("slack", "saas", 8),
    Provider("stripe", "payments", 8), Provider("openai", "ai", 6),
    Provider("anthropic", "ai", 4), Provider("twilio", "saas", 4),
    Provider("sendgrid", "saas", 3), Provider("mailgun", "saas", 3),
    Provider("mailchimp", "saas", 3), Provider("npm", "registry", 4),
    Provider("pypi", "registry", 4), Provider("docker", "registry", 6),
    Provider("heroku", "cloud", 3), Provider("digitalocean", "cloud", 3),
    Provider("datadog", "observability", 6), Provider("newrelic", "observability", 3),
    Provider("sentry", "observability", 3), Provider("shopify", "saas", 3),
    Provider("atlassian", "saas", 4), Provider("linear", "saas", 3),
    Provider("notion", "saas", 3), Provider("airtable", "saas", 3),
    Provider("hubspot", "saas", 4), Provider("salesforce", "saas", 3),
    Provider("okta", "identity", 3), Provider("cloudflare", "cloud", 4),
    Provider("vercel", "cloud", 3), Provider("supabase", "cloud", 3),
    Provider("jwt_bearer", "token", 5), Provider("basic_auth", "password", 5),
    Provider("postgres", "connection_string", 7), Provider("mysql", "password", 7),
    Provider("mongodb", "connection_string", 4), Provider("redis", "connection_string", 4),
    Provider("amqp", "connection_string", 3), Provider("generic_password", "password", 12),
    Provider("private_key", "private_key", 10), Provider("pgp", "private_key", 2),
    Provider("telegram", "saas", 3), Provider("discord", "saas", 3),
    Provider("mapbox", "saas", 2), Provider("vault", "secrets_manager", 4),
    Provider("terraform_cloud", "cloud", 3), Provider("pulumi", "cloud", 2),
    Provider("grafana", "observability", 3), Provider("huggingface", "ai", 3),
    Provider("databricks", "data", 3), Provider("snowflake", "password", 4),
    Provider("algolia", "saas", 2), Provider("square", "payments", 3),
    Provider("paypal", "payments", 2), Provider("kubeconfig", "cloud", 4),
    Provider("age_key", "private_key", 2), Provider("confluent", "saas", 4),
    Provider("alibaba", "cloud", 2), Provider("tencent", "cloud", 2),
    Provider("cloudinary", "saas", 2), Provider("zendesk", "saas", 3),
    Provider("firebase", "saas", 2), Provider("rubygems", "registry", 2),
    Provider("nuget", "registry", 2), Provider("circleci", "ci", 2),
    Provider("artifactory", "registry", 2), Provider("sonar", "ci", 2),
    Provider("launchdarkly", "saas", 2), Provider("asana", "saas", 2),
    Provider("groq", "ai", 2), Provider("replicate", "ai", 2),
    Provider("eth_private", "private_key", 3), Provider("wireguard", "private_key", 2),
    Provider("long_output", "token", 6),
]
MAKERS: dict[str, Maker] = {p.name: globals()[p.name] for p in PROVIDERS}


def build() -> list[SecretCase]:
    cases: list[SecretCase] = []
    for p in PROVIDERS:
        make = MAKERS[p.name]
        for n in range(p.count):
            r = Rand(f"secret-{p.name}-{n}")
            context, line, secrets = make(r, n)
            for s in secrets:
                if s not in line:
                    raise ValueError(f"{p.name}#{n}: secret not in its line")
            if context == "output" and n % 2:
                context = "error"  # a failing tool's error echoes it (PostToolUseFailure)
            cases.append(SecretCase(id=f"sec-{p.name}-{n}", provider=p.name, category=p.category,
                                    context=context, line=line,  # type: ignore[arg-type]
                                    secrets=list(dict.fromkeys(secrets))))
    return cases

