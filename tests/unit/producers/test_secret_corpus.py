"""The detector's targets on the project's secrets corpora (tests/unit/producers/corpus/
secret_lines.py and secret_lines_late.py, both tuned against, so not held-out): through the
hook's own mapping and pre-compiled redactor, edge recall >= 99% of >= 300 secret lines
across >= 40 providers, <= 5% of look-alikes falsely redacted, and no draft quoting a
secret passes the codifier's secrets guard or is published by ``resolve()``."""

from __future__ import annotations

import pytest

from bench.eval_secrets import (
    edge_leaks,
    falsely_redacted,
    guard_passes,
    hook_redactor,
    leaked,
    published_leaks,
)
from hivemind_kafka.producers.secrets.redact import find_secrets
from tests.unit.producers.corpus.secret_lines import SecretLine, lookalikes, secret_lines
from tests.unit.producers.corpus.secret_lines_late import late_lookalikes, late_secret_lines

LINES = secret_lines() + late_secret_lines()
LOOKALIKES = lookalikes() + late_lookalikes()
PROVIDERS = {"anthropic", "openai", "github", "gitlab", "slack", "stripe", "google", "aws",
             "sendgrid", "npm", "pypi", "huggingface", "digitalocean", "shopify",
             "databricks", "twilio", "mailgun", "atlassian", "postman", "pulumi", "doppler",
             "vault", "terraform-cloud", "linear", "notion", "sentry", "grafana", "newrelic",
             "dynatrace", "jfrog", "flyio", "age", "1password", "sourcegraph", "perplexity",
             "groq", "replicate", "mapbox", "shippo", "easypost", "airtable", "planetscale",
             "square", "telegram", "discord", "prefect", "rubygems", "docker-hub",
             "tailscale", "supabase", "pinecone", "buildkite", "figma", "hubspot", "neon",
             "bitbucket", "alibaba", "elevenlabs", "resend", "circleci", "netlify", "datadog",
             "mailchimp", "heroku", "okta", "cloudflare", "algolia", "snyk", "cohere",
             "mistral", "confluent", "segment", "pagerduty", "vercel", "azure"}


@pytest.fixture(scope="module")
def redactor():
    return hook_redactor()


def test_corpus_has_300_secret_lines_across_40_service_providers():
    assert len(LINES) >= 300
    providers = {c.provider for c in LINES} & PROVIDERS
    assert len(providers) >= 40, sorted(providers)
    assert len(LOOKALIKES) >= 100


def test_edge_recall_is_at_least_99_percent_through_the_hook_mapping(redactor):
    missed = [(c.provider, c.text[:80]) for c in LINES if edge_leaks(c, redactor)]
    assert 1 - len(missed) / len(LINES) >= 0.99, missed


def test_at_most_5_percent_of_lookalikes_are_falsely_redacted(redactor):
    false = [(c.family, c.text[:80]) for c in LOOKALIKES if falsely_redacted(c, redactor)]
    assert len(false) / len(LOOKALIKES) <= 0.05, false


def test_no_draft_quoting_a_secret_line_passes_the_secrets_guard():
    passing = [(c.provider, c.text[:60]) for c in LINES if guard_passes(c)]
    assert passing == []


def test_no_secret_line_is_published_by_resolve_even_when_the_edge_missed_it():
    published = [(c.provider, c.text[:60]) for c in LINES if published_leaks(c)]
    assert published == []


# The held-out red-team report's misses, by shape (issue 13), each on its own.

@pytest.mark.parametrize("text", [
    "az login --service-principal -u 9f3c2d1e-0000-4000-8000-00000000a1b2 -p Qv8~xR2.mK5-Lw9 "
    "--tenant acme.onmicrosoft.com",
    "az login -u ops@acme.io -p 'Harbor!Nimbus42'",
    "mysql -h db -uroot -pHarborNimbus42! orders",
    "sshpass -p 'Harbor!Nimbus42' ssh deploy@10.0.4.12",
    "redis-cli -a HarborNimbus42! ping",
    "psql --host db --password Harbor!Nimbus42",
])
def test_password_on_a_command_line_is_masked(text):
    out, n = hook_redactor().redact(text)
    assert n >= 1 and "Nimbus42" not in out and "mK5-Lw9" not in out


@pytest.mark.parametrize("name", ["DD_APP_KEY", "DATADOG_APP_KEY", "dd_app_key", "DdAppKey"])
def test_datadog_application_key_is_masked_by_its_name(name):
    key = "3f9a" * 10  # 40 hex: no provider prefix, only the name tells
    assert key not in hook_redactor().redact(f"{name}={key}")[0]


def test_a_3kb_base64_service_account_json_is_masked_whole():
    import base64
    import json

    body = "\n".join("MIIEv" + "Qx7r" * 15 + f"{i:03d}" for i in range(40))
    sa = {"type": "service_account", "project_id": "acme-prod",
          "private_key": f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n",
          "client_email": "ci@acme-prod.iam.gserviceaccount.com"}
    blob = base64.b64encode(json.dumps(sa).encode()).decode()
    assert len(blob) > 3000
    out, _ = hook_redactor().redact(f"GOOGLE_CREDENTIALS_B64={blob}")
    case = SecretLine("gcp", (blob,), "")
    assert leaked(case, out) == []


@pytest.mark.parametrize("family", sorted({c.family for c in LOOKALIKES}))
def test_lookalike_family_is_left_alone(family):
    flagged = [c.text[:80] for c in LOOKALIKES if c.family == family and find_secrets(c.text)]
    assert flagged == []


def test_redacting_a_redacted_line_changes_nothing(redactor):
    for c in LINES:
        once, _ = redactor.redact(c.text)
        assert redactor.redact(once) == (once, 0), c.text[:80]


@pytest.mark.parametrize("text", [
    "Read it with `kubectl get secret db -o jsonpath='{.data.password}'` and decode it.\n"
    "Then restart the pod.",
    "Use `docker login --password-stdin` instead of `-p`, and `mysql -p` to be prompted.",
    "The token: expired after an hour, so refresh it first.",
    "GF_AUTH_ANONYMOUS_ORG_ROLE: Viewer",
    '"private-key": "private_key: also masks a key whose END line was cut off"',
    "auth       required     pam_unix.so nullok",
    "Set `DB_PASSWORD` in `.env` (see `password_min_length = 12`).",
])
def test_prose_and_config_about_secrets_is_not_a_secret(text, redactor):
    assert redactor.redact(text) == (text, 0)
