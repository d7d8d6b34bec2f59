"""Redaction: no seeded secret survives, benign technical strings stay, and the
pre-compiled patterns the hook loads behave exactly like re-compiled ones."""

from __future__ import annotations

import itertools
import json
import marshal

import pytest

from hivemind_kafka.producers.hook import capture
from hivemind_kafka.producers.hook.spool import spool_dir
from hivemind_kafka.producers.secrets.redact import (
    LOCAL_RULES,
    Redactor,
    find_secrets,
    is_secret_name,
    looks_random,
    redact,
)
from tests.unit.producers.corpus import benign_cases, secret_cases

SECRETS = secret_cases()
BENIGN = benign_cases()
# The kinds the first corpus was labelled with.
KINDS = {"anthropic_key", "openai_key", "aws_access_key", "aws_secret_key", "github_token",
         "slack_token", "slack_webhook", "stripe_key", "google_api_key", "bearer_token",
         "basic_auth", "private_key", "jwt", "url_password", "secret_assignment",
         "high_entropy", "api_token"}
ALL_KINDS = {r[0] for r in LOCAL_RULES} | {
    "high_entropy", "base64_wrapped"}


def _chunks(secret: str, size: int = 12) -> list[str]:
    """Every line of the secret, cut into overlapping pieces: none may survive."""
    pieces = []
    for line in secret.splitlines():
        line = line.strip()
        if line.startswith("-----"):
            continue  # PEM armour lines are not secret
        if len(line) <= size:
            pieces.append(line)
        else:
            pieces += [line[i:i + size] for i in range(len(line) - size + 1)]
    return [p for p in pieces if p]


def _leaks(secret: str, text: str) -> list[str]:
    return [p for p in _chunks(secret) if p in text]


def test_corpus_has_at_least_40_secrets_covering_every_kind():
    assert len(SECRETS) >= 40
    assert {kind for kind, _, _ in SECRETS} == KINDS


@pytest.mark.parametrize(("kind", "secret", "text"), SECRETS,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SECRETS)])
def test_seeded_secret_is_redacted(kind, secret, text):
    out, count = redact(text)
    assert count >= 1
    assert _leaks(secret, out) == []
    assert "[REDACTED:" in out


@pytest.mark.parametrize(("kind", "secret", "text"), SECRETS,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SECRETS)])
def test_secret_is_found_with_its_kind_or_a_broader_one(kind, secret, text):
    start = text.index(secret)
    spans = [f for f in find_secrets(text)
             if f.span[0] <= start + len(secret) and start <= f.span[1]]
    assert spans, "no finding overlaps the secret"
    assert kind in {f.kind for f in spans} or spans[0].kind in ALL_KINDS


def test_no_seeded_secret_reaches_the_spool_through_the_capture_path(tmp_path):
    home = str(tmp_path / "home")
    for i, (_, secret, text) in enumerate(SECRETS):
        common = {"session_id": f"s{i}", "transcript_path": "/tmp/t.jsonl", "cwd": "/work/app"}
        payloads = [
            {**common, "hook_event_name": "UserPromptSubmit", "prompt": f"please use {text}"},
            {**common, "hook_event_name": "PreToolUse", "tool_name": "Bash",
             "tool_input": {"command": text}, "tool_use_id": "toolu_1"},
            {**common, "hook_event_name": "PreToolUse", "tool_name": "Write",
             "tool_input": {"file_path": "/work/app/.env", "content": text,
                            "env": {"API_TOKEN": secret.splitlines()[0]}},
             "tool_use_id": "toolu_2"},
            {**common, "hook_event_name": "PostToolUse", "tool_name": "Bash",
             "tool_input": {"command": "cat config"}, "tool_use_id": "toolu_1",
             "tool_response": {"stdout": "x" * 20000 + text, "stderr": text}},
            {**common, "hook_event_name": "PostToolUseFailure", "tool_name": "Bash",
             "tool_input": {"command": "deploy"}, "tool_use_id": "toolu_3",
             "error": f"deploy failed: {text}"},
            {**common, "hook_event_name": "Stop", "last_assistant_message": f"Done. {text}"},
        ]
        for payload in payloads:
            assert capture.capture(json.dumps(payload).encode(), home=home, environ={})
    spooled = b"".join(p.read_bytes() for p in (tmp_path / "home" / "spool").glob("seg-*"))
    assert spooled.count(b"\n") == len(SECRETS) * 6
    # The spool holds JSON: compare against its decoded strings, where escapes are undone.
    decoded = "\n".join(json.dumps(json.loads(line)["record"], ensure_ascii=False)
                        + "\n" + "\n".join(str(v) for v in json.loads(line)["record"].values())
                        for line in spooled.splitlines())
    leaks = {kind: _leaks(secret, decoded) for kind, secret, _ in SECRETS}
    assert {k: v for k, v in leaks.items() if v} == {}
    assert spool_dir(home)


def test_benign_false_positive_rate_is_below_two_percent():
    flagged = [b for b in BENIGN if find_secrets(b)]
    assert len(BENIGN) >= 80
    assert len(flagged) / len(BENIGN) <= 0.02, flagged


@pytest.mark.parametrize("value", [
    "4b825dc642cb6eb9a060e54bf8d69288fbee4904",  # git SHA
    "123e4567-e89b-12d3-a456-426614174000",  # UUID
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # sha256
    "/home/dev/.claude/projects/-work-app/00893aaf-19fa-41d2-8238-13269b9b3ca0.jsonl",
    "toolu_01A09q90qw90lq917835lq9X",
    "aGl2ZW1pbmQ=",  # base64("hivemind")
])
def test_ids_digests_and_paths_are_never_redacted(value):
    assert redact(value) == (value, 0)


def test_redaction_is_idempotent():
    for _, _, text in SECRETS:
        once, _ = redact(text)
        assert redact(once) == (once, 0)


def test_only_the_value_of_an_assignment_is_masked():
    assert redact("DB_PASSWORD=s3cr3t-Pa55 DB_HOST=db")[0] == \
        "DB_PASSWORD=[REDACTED:secret_assignment] DB_HOST=db"
    assert redact("postgres://app:pw-1234@db:5432/x")[0] == \
        "postgres://app:[REDACTED:url_password]@db:5432/x"


@pytest.mark.parametrize(("name", "secret"), [
    ("DB_PASSWORD", True), ("x-api-key", True), ("clientSecret", True), ("GH_TOKEN", True),
    ("Authorization", True), ("cookie", True), ("db_pass", True),
    ("token_url", False), ("AUTH_TYPE", False), ("max_tokens", False), ("author", False),
    ("tokenizer", False), ("passenger", False), ("secret_name", False),
])
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


def test_random_looking_tokens_need_length_mixed_classes_and_entropy():
    assert looks_random("Zx9Qp2Lm7Rt4Vb8Nc3Kd6Hf1Jg5Ws0Ya")
    assert not looks_random("Zx9Qp2Lm7Rt4Vb8N")  # too short
    assert not looks_random("ThisIsAVeryLongCamelCaseFunctionName")  # no digit
    assert not looks_random("a" * 19 + "1" * 20)  # low entropy


@pytest.mark.parametrize("text", [
    "a" * 200_000, "password=" * 20_000, "://" * 50_000, "-----BEGIN RSA PRIVATE KEY-----" * 3000,
    "eyJ" * 60_000, ("x" * 19 + " ") * 10_000, "aws secret " * 20_000, "A" * 200_000,
])
def test_adversarial_inputs_finish(text):
    out, _ = redact(text)  # pytest-timeout fails a catastrophic backtrack
    assert isinstance(out, str)


def test_precompiled_patterns_match_exactly_like_compiled_ones():
    compiled = Redactor.compile()
    loaded = Redactor.from_compiled(Redactor.compiled_blob())
    assert loaded is not None
    for _, _, text in SECRETS:
        assert loaded.find_secrets(text) == compiled.find_secrets(text)
    for text in BENIGN:
        assert loaded.find_secrets(text) == compiled.find_secrets(text)


GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def _blob_parts():
    key, (data, offsets), index = marshal.loads(Redactor.compiled_blob())
    packed = [data[a:b] for a, b in itertools.pairwise(offsets)]
    ri = next(i for i, r in enumerate(LOCAL_RULES) if r[0] == "github_token")
    return key, packed, index, ri


def _blob(key, packed, index) -> bytes:
    offsets = [0, *itertools.accumulate(len(p) for p in packed)]
    return marshal.dumps((key, (b"".join(packed), offsets), index))


def _entry_with(packed_entry: bytes, **change) -> bytes:
    src, flags, code, groups, groupindex, indexgroup = marshal.loads(packed_entry)
    src = change.get("src", src)
    code = change.get("code", code)
    return marshal.dumps((src, flags, code, groups, groupindex, indexgroup))


BAD_CODE = b"\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00"  # [1, 2, 3]: invalid


def test_blob_from_another_interpreter_or_rule_set_is_refused():
    key, packed, index, _ = _blob_parts()
    assert Redactor.from_compiled(_blob(("2.7.18", *key[1:]), packed, index)) is None
    other_shapes = (*key[:-1], key[-1][:-1])  # a rule's keywords/shape changed: index stale
    assert Redactor.from_compiled(_blob(other_shapes, packed, index)) is None
    assert Redactor.from_compiled(_blob(key, packed[:-1], index)) is None
    assert Redactor.from_compiled(b"") is None
    trie = len(packed) - 2
    damaged = [*packed[:trie], _entry_with(packed[trie], code=BAD_CODE), packed[-1]]
    assert Redactor.from_compiled(_blob(key, damaged, index)) is None


def test_damaged_code_of_a_rule_loaded_lazily_falls_back_to_its_source():
    key, packed, index, ri = _blob_parts()
    damaged = list(packed)
    damaged[ri] = _entry_with(packed[ri], code=BAD_CODE)
    loaded = Redactor.from_compiled(_blob(key, damaged, index))
    assert loaded is not None  # only the patterns every text needs are checked at load
    assert loaded._pattern(ri).match(GHP)  # compiled from its source instead
    assert GHP not in loaded.redact(f"export GH_TOKEN={GHP}")[0]


def test_cached_pattern_of_another_source_is_replaced_by_the_current_one():
    key, packed, index, ri = _blob_parts()
    stale = list(packed)
    stale[ri] = _entry_with(packed[0], src="(?!x)x")  # another pattern's code and source
    loaded = Redactor.from_compiled(_blob(key, stale, index))
    assert loaded is not None
    assert loaded._pattern(ri).match(GHP)
