"""The pure codify decision: resolve, grouping, library, budget, park back-off, offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hivemind_kafka.schemas.skills import Decision
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.logic import (
    CandidateGroup,
    CodifySummary,
    Draft,
    Parked,
    Published,
    Rejected,
    Rejection,
    TokenBudget,
    Unchanged,
    group_candidates,
    park_delay_s,
    resolve,
)
from hivemind_kafka.streams.codifier.offline import draft_offline
from hivemind_kafka.streams.codifier.offsets import OffsetTracker
from tests.unit.streams.codifier.builders import bash, candidate, prompt, recovery_session, session

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BODY = "Run the tests with:\n\n```\npython -m pytest tests/\n```\n"
DESC = "Use when pytest is not found in shop-api."


def keep(name="run-tests", body=BODY, description=DESC) -> Draft:
    return Draft(decision=Decision.KEEP, name=name, description=description, body=body,
                 codifier="offline")


def single(cand) -> CandidateGroup:
    return group_candidates([cand])[0]


def publish(library: Library, cand, draft: Draft) -> Published:
    result = resolve(single(cand), draft, library, max_body_chars=8000, now=NOW)
    assert isinstance(result, Published), result
    library.apply((result.skill.workspace_id, result.skill.name), result.skill)
    return result


def test_keep_builds_version_one_with_provenance():
    cand = candidate(recovery_session(session_id="s-1"))
    result = publish(Library(), cand, keep())
    p = result.skill.provenance
    assert result.skill.version == 1 and p.decision is Decision.KEEP
    assert p.source_session_ids == ["s-1"] and p.candidate_id == cand.candidate_id
    assert p.candidate_ids == [cand.candidate_id] and p.created_at == NOW


def test_retryable_rejection_parks_and_skip_is_final():
    cand = candidate(recovery_session())
    parked = resolve(single(cand), Rejection(reason="timeout", stage="timeout", retryable=True),
                     Library(), max_body_chars=8000, now=NOW)
    assert parked == Parked("timeout", "timeout")
    skipped = resolve(single(cand), Rejection(reason="one-off"), Library(),
                      max_body_chars=8000, now=NOW)
    assert skipped == Rejected("skip", ["one-off"])


def test_failed_guard_rejects_with_its_name():
    cand = candidate(recovery_session())
    result = resolve(single(cand), keep(body="```\npython -m pytest --lf\n```\n"), Library(),
                     max_body_chars=8000, now=NOW)
    assert isinstance(result, Rejected) and result.guard == "grounding"


def test_near_duplicate_keep_becomes_merge_into_existing_skill():
    library = Library()
    publish(library, candidate(recovery_session()), keep())
    other = candidate(recovery_session(error="pytest: not found"))
    result = resolve(single(other), keep(name="pytest-not-found",
                                         body=BODY + "\nThe error reads `pytest: not found`.\n"),
                     library, max_body_chars=8000, now=NOW)
    assert isinstance(result, Published) and result.merged_into == "run-tests"
    assert (result.skill.name, result.skill.version) == ("run-tests", 2)
    assert result.skill.provenance.decision is Decision.MERGE
    assert result.skill.body.startswith(BODY.rstrip())


def test_keep_reusing_a_name_for_another_lesson_gets_a_free_name():
    library = Library()
    publish(library, candidate(recovery_session()), keep())
    s2 = session([prompt("lint"), bash("ruff src", "ruff: not found", error=True),
                  bash("python -m ruff check src", "All checks passed!")])
    body = "```\npython -m ruff check src\n```\n"
    result = resolve(single(candidate(s2)), keep(body=body), library, max_body_chars=8000, now=NOW)
    assert isinstance(result, Published)
    assert (result.skill.name, result.skill.version) == ("run-tests-2", 1)
    assert library.get("ws-test", "run-tests").version == 1


def test_identical_content_is_unchanged_not_a_new_version():
    library = Library()
    publish(library, candidate(recovery_session()), keep())
    again = candidate(recovery_session())
    result = resolve(single(again), keep(), library, max_body_chars=8000, now=NOW)
    assert isinstance(result, Unchanged)


def test_merge_of_a_missing_target_is_treated_as_keep():
    cand = candidate(recovery_session())
    draft = Draft(decision=Decision.MERGE, name="gone", description=DESC, body=BODY,
                  merge_target="gone", codifier="anthropic")
    result = resolve(single(cand), draft, Library(), max_body_chars=8000, now=NOW)
    assert isinstance(result, Published)
    assert (result.skill.name, result.skill.provenance.decision) == ("gone", Decision.KEEP)


def test_near_duplicate_of_a_retired_skill_is_rejected():
    library = Library()
    first = publish(library, candidate(recovery_session()), keep())
    library.apply(("ws-test", first.skill.name), None)
    result = resolve(single(candidate(recovery_session())), keep(name="run-the-tests"), library,
                     max_body_chars=8000, now=NOW)
    assert isinstance(result, Rejected) and result.guard == "retired"


def test_library_versions_survive_retirement_and_track_candidates():
    library = Library()
    cand = candidate(recovery_session())
    first = publish(library, cand, keep())
    assert library.has_candidate(cand.candidate_id)
    library.apply(("ws-test", first.skill.name), None)
    assert library.get("ws-test", "run-tests") is None
    assert library.next_version("ws-test", "run-tests") == 2


def test_grouping_folds_same_workspace_and_topic_only():
    a1, a2 = recovery_session("ws-a"), recovery_session("ws-a")
    b1 = recovery_session("ws-b")
    other = session([prompt("lint"), bash("ruff src", "x", error=True),
                     bash("python -m ruff check src", "ok")], workspace="ws-a")
    cands = [candidate(a1), candidate(b1), candidate(a2), candidate(other)]
    groups = group_candidates(cands)
    assert [len(g.member_ids) for g in groups] == [2, 1, 1]
    merged = groups[0]
    assert merged.candidate.candidate_id.startswith("grp-")
    assert {s.session_uid for s in merged.candidate.sessions} == {a1.session_uid, a2.session_uid}
    # deterministic: the same members give the same group id in any order
    again = group_candidates([cands[2], cands[0]])[0]
    assert again.candidate.candidate_id == merged.candidate.candidate_id


def test_grouped_candidates_are_all_recorded_in_provenance():
    c1, c2 = candidate(recovery_session()), candidate(recovery_session())
    group = group_candidates([c1, c2])[0]
    result = resolve(group, draft_offline(group.candidate), Library(), max_body_chars=8000,
                     now=NOW)
    assert isinstance(result, Published)
    assert sorted(result.skill.provenance.candidate_ids) == sorted([c1.candidate_id,
                                                                    c2.candidate_id])


def test_budget_stops_a_workspace_at_its_daily_limit_until_midnight_utc():
    budget = TokenBudget(1000)
    budget.spend("ws-a", 999, NOW)
    assert budget.allows("ws-a", NOW)
    budget.spend("ws-a", 1, NOW)
    assert not budget.allows("ws-a", NOW) and budget.allows("ws-b", NOW)
    assert TokenBudget.resets_at(NOW) == datetime(2026, 11, 27, tzinfo=UTC)
    assert budget.allows("ws-a", NOW + timedelta(hours=12))
    restored = TokenBudget(1000, budget.to_dict())
    assert restored.spent("ws-a", NOW) == 1000


def test_zero_budget_means_unlimited():
    budget = TokenBudget(0)
    budget.spend("ws-a", 10**9, NOW)
    assert budget.allows("ws-a", NOW)


def test_park_delay_doubles_and_is_capped():
    assert [park_delay_s(a, base_s=30) for a in (1, 2, 3)] == [30, 60, 120]
    assert park_delay_s(30, base_s=30, cap_s=3600) == 3600


def test_offsets_commit_only_past_finished_records():
    t = OffsetTracker()
    tp = ("cands", 0)
    for off in (10, 11, 12):
        t.add(tp, off)
    t.done(tp, 11)
    t.done(tp, 12)
    assert t.committable() == {tp: 10}  # 10 is still pending: next_offset_to_read = 10
    t.mark_committed({tp: 10})
    assert t.committable() == {}
    t.done(tp, 10)
    assert t.committable() == {tp: 13}


def test_summary_counts_decisions_results_and_guards():
    summary = CodifySummary()
    cand = candidate(recovery_session())
    summary.record(resolve(single(cand), keep(), Library(), max_body_chars=8000, now=NOW))
    summary.record(Rejected("skip", ["x"]))
    summary.record(Rejected("injection", ["y"]))
    d = summary.as_dict()
    assert d["decisions"] == {"KEEP": 1, "SKIP": 1}
    assert d["guard_rejections"] == {"injection": 1}
    assert d["results"] == {"published": 1, "rejected": 2}


def test_library_of_1000_generated_drafts_keeps_under_5_percent_near_duplicates():
    from tests.unit.streams.codifier.corpus.skill_library import dedup_rates

    rates = dedup_rates()
    print(f"\ndedup: library {rates['dedup_library_size']:.0f} skills from "
          f"{rates['dedup_drafts']:.0f} drafts over {rates['dedup_topics']:.0f} topics, "
          f"near-duplicates {rates['dedup_near_duplicate_share']:.1%}, "
          f"false merges {rates['dedup_false_merge_share']:.1%}")
    assert rates["dedup_drafts"] == 1000
    assert rates["dedup_near_duplicate_share"] < 0.05
    assert rates["dedup_false_merge_share"] < 0.10
