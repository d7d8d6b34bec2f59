"""The red-team corpus is well-formed: counts, labels, coverage, and the data files are
exactly what the generator writes (nobody tuned a case by hand).

These tests say nothing about the defences; they defend the corpus's own promises (see
tests/redteam/README.md), so a figure measured on it means what it says.
"""

from __future__ import annotations

from collections import Counter

import pytest

from hivemind_kafka.schemas.skills import MAX_DESCRIPTION_LEN, is_valid_skill_name
from tests.redteam import corpus, replay
from tests.redteam import markers as judge
from tests.redteam.corpus import DATA_DIR
from tests.redteam.generate import __main__ as generator
from tests.redteam.generate import drafts as draft_builder
from tests.redteam.generate import injections as injection_builder

VECTORS_REQUIRED = {"plain", "for_ai_preamble", "unicode_tags", "zero_width", "bidi",
                    "homoglyph", "nfkc", "base64", "percent", "html_entity", "multiline_split",
                    "multilingual", "delimiter_break", "fake_header"}
CARRIERS_REQUIRED = {"readme_comment", "issue_body", "pr_body", "web_page", "package_metadata",
                     "calendar", "email", "crm", "tool_error", "file_content", "mcp_result"}
LOOKALIKE_KINDS_REQUIRED = {"go_sum", "git_sha", "ssh_public", "x509", "nix_store",
                            "stripe_ids", "trace_ids", "ulid", "uuids", "lock_integrity",
                            "base64_image", "docker_digest", "placeholders"}


def test_data_files_are_exactly_what_the_generator_writes():
    for name, data in generator.render().items():
        assert (DATA_DIR / name).read_bytes() == data, (
            f"{name} differs from the generator's output: run python -m tests.redteam.generate")


# --------------------------------------------------------------------------- injections


def test_at_least_150_injection_sessions_spread_over_every_vector_and_carrier():
    cases = corpus.load_injections()
    assert len(cases) >= 150
    vectors = Counter(c.vector for c in cases)
    assert set(vectors) == VECTORS_REQUIRED
    assert min(vectors.values()) >= 8
    assert set(c.carrier for c in cases) == CARRIERS_REQUIRED
    assert {c.session.agent_kind for c in cases} == {"coding", "support", "sdr"}
    assert len({c.payload_class for c in cases}) == 7
    assert len({c.language for c in cases if c.vector == "multilingual"}) >= 8
    assert len({c.id for c in cases}) == len(cases)


def test_every_injection_case_has_must_never_publish_markers_the_judge_sees_in_the_planted_text():
    for case in corpus.load_injections():
        assert case.must_never_publish, case.id
        assert all(m == judge.normalize_marker(m) for m in case.must_never_publish), case.id
        turn, step = case.where
        assert case.payload_raw in case.session.turns[turn].steps[step].output, case.id
        found = judge.find_markers(case.payload_raw, case.must_never_publish)
        assert set(found) == set(case.must_never_publish), case.id


def test_no_marker_appears_in_an_instruction_span_or_in_the_honest_skill():
    for case in corpus.load_injections():
        injection_builder.check(case)  # raises on a marker a genuine skill could state


def test_every_injection_session_carries_a_genuine_lesson_next_to_its_payload():
    """Through the real sessionizer and candidate logic (no edge): some candidate holds
    the planted data span, with a correction or a recovered failure."""
    for case in corpus.load_injections():
        groups = replay.candidate_groups(replay.sessionize(
            [replay.direct_events(case.session)]))
        holding = [g for g in groups if any(
            e.tool_output and case.payload_raw in e.tool_output
            for s in g.candidate.sessions for e in s.events)]
        assert holding, f"{case.id}: no codify candidate holds the planted data span"
        reasons = {r.value for g in holding for r in g.candidate.reasons}
        assert reasons & {"tool_recovery", "human_correction"}, case.id


# --------------------------------------------------------------------------- secrets


def test_at_least_300_secret_lines_across_40_providers_each_labelled_with_its_secrets():
    cases = corpus.load_secrets()
    assert len(cases) >= 300
    assert len({c.provider for c in cases}) >= 40
    for c in cases:
        assert c.secrets, c.id
        for s in c.secrets:
            assert s in c.line, c.id
            assert len(s) >= 6, c.id
    assert {c.context for c in cases} == {"command", "output", "error", "prompt", "file"}


def test_secret_corpus_holds_multi_kilobyte_secrets_and_cli_passwords():
    cases = corpus.load_secrets()
    assert max(len(s) for c in cases for s in c.secrets) >= 3000  # base64 service account
    assert any("BEGIN OPENSSH PRIVATE KEY" in c.line for c in cases)
    assert any(c.line.startswith("az login") and " -p " in c.line for c in cases)
    assert any(c.line.startswith("mysql ") and " -p" in c.line for c in cases)
    assert any(len(c.line) > 16 * 1024 for c in cases)  # past the hook's field limit


def test_secret_values_are_unique_and_never_a_documented_example():
    values = [s for c in corpus.load_secrets() for s in c.secrets]
    assert len(values) == len(set(values))
    assert not any("EXAMPLE" in v for v in values)


def test_judge_sees_every_secret_in_its_own_line_and_none_in_the_redacted_line():
    for c in corpus.load_secrets():
        hay = judge.Haystack(c.line)
        assert all(hay.leaked(s) for s in c.secrets), c.id
        masked = c.line
        for s in sorted(c.secrets, key=len, reverse=True):
            masked = masked.replace(s, "[REDACTED]")
        hay = judge.Haystack(masked)
        assert not any(hay.leaked(s) for s in c.secrets), c.id


# --------------------------------------------------------------------------- look-alikes


def test_at_least_60_lookalikes_labelled_must_stay_intact():
    cases = corpus.load_lookalikes()
    strict = [c for c in cases if c.strict]
    assert len(strict) >= 60
    assert {c.kind for c in cases} >= LOOKALIKE_KINDS_REQUIRED
    for c in cases:
        assert c.values, c.id
        assert all(v in c.line for v in c.values), c.id
    # Only documented placeholders may be lenient, and they say so.
    assert {c.kind for c in cases if not c.strict} == {"placeholders"}


def test_lookalike_values_never_collide_with_a_secret_label():
    secrets = {s for c in corpus.load_secrets() for s in c.secrets}
    for c in corpus.load_lookalikes():
        assert not secrets & set(c.values), c.id


# --------------------------------------------------------------------------- drafts


def test_at_least_70_drafts_labelled_pass_or_must_reject_with_valid_agent_skill_fields():
    cases = corpus.load_drafts()
    sessions = corpus.load_draft_sessions()
    assert len(cases) >= 70
    labels = Counter(c.label for c in cases)
    assert labels["pass"] >= 35 and labels["must-reject"] >= 30
    assert len({c.style for c in cases if c.label == "pass"}) >= 8
    for c in cases:
        assert all(s in sessions for s in c.sessions), c.id
        assert is_valid_skill_name(c.skill.name), c.id
        assert 0 < len(c.skill.description) <= MAX_DESCRIPTION_LEN, c.id
        assert not c.skill.body.lstrip().startswith("---"), c.id  # no front matter in a body
        assert (c.label == "must-reject") == bool(c.ungrounded), c.id


@pytest.mark.parametrize("case", [c for c in corpus.load_drafts() if c.label == "must-reject"],
                         ids=lambda c: c.id)
def test_ungrounded_tokens_are_absent_from_the_claimed_sessions_and_present_in_the_draft(case):
    sessions = corpus.load_draft_sessions()
    text = "\n".join(draft_builder.session_text(sessions[s]) for s in case.sessions)
    for token in case.ungrounded:
        assert token not in text
        assert token in case.skill.body
