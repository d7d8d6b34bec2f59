"""A generated stream of 1,000 skill drafts over known topics, for the dedup goal.

Each topic is one lesson (a tool, a failure, the command that fixes it). Drafts of the
same topic are written like different model runs would write them: another name,
another phrasing template, the fix quoted in a code block, inline, or only in prose,
sometimes with an extra tip. Topics share tools and templates (``pytest -x`` and
``pytest --lf`` are different lessons), so boilerplate alone must not merge them.
The ground truth (topic of every draft) measures both failure modes: near-duplicates
left in the library and drafts merged into a skill of another topic.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.streams.codifier import dedup

TOOLS = [
    ("pytest", "python -m pytest", ["-x", "--lf", "-k smoke", "-n 4", "--maxfail=2", "tests/unit",
                                    "--no-header", "-q"]),
    ("npm", "npm install", ["--legacy-peer-deps", "--no-audit", "--prefer-offline", "--ignore-scripts",
                            "--omit=dev", "--force"]),
    ("docker", "docker build", ["-f docker/Dockerfile .", "--no-cache .", "--target test .",
                                "--platform linux/amd64 .", "--build-arg PY=3.11 ."]),
    ("git", "git", ["pull --rebase origin main", "stash && git checkout main", "fetch --prune",
                    "submodule update --init", "lfs pull", "rebase --continue"]),
    ("kubectl", "kubectl", ["apply -n staging-v2 -f k8s/", "rollout restart deploy/api",
                            "get pods -n jobs", "logs -f deploy/worker", "config use-context dev"]),
    ("cargo", "cargo", ["add serde_json", "build --release", "test -- --nocapture",
                        "update -p tokio", "clippy --fix"]),
    ("psql", "psql", ["-h localhost -p 5433 -U app app_dev", "-c 'SELECT 1' app_test",
                      "-f db/seed.sql app_dev", "--set ON_ERROR_STOP=1 -f db/migrate.sql"]),
    ("make", "make", ["check", "lint", "build-docs", "clean all", "test-integration"]),
    ("terraform", "terraform", ["init -upgrade", "plan -var-file=dev.tfvars", "fmt -recursive",
                                "state rm module.old", "apply -target=module.db"]),
    ("go", "go", ["test ./...", "mod tidy", "vet ./cmd/...", "build -o bin/api ./cmd/api",
                  "generate ./..."]),
    ("zendesk", "zendesk_update", ['{"status":"pending"}', '{"priority":"high"}',
                                   '{"assignee":"tier2"}', '{"tags":["refund"]}']),
    ("crm", "crm_search", ['{"limit":20}', '{"owner":"me"}', '{"stage":"open"}',
                           '{"sort":"last_activity"}']),
]

# A lesson is specific to a part of the system: the same flag fixes different failures in
# different services, and those are different skills.
COMPONENTS = ["billing", "orders", "auth", "search", "payments", "inventory", "notifications",
              "reports", "gateway", "catalog", "shipping", "users"]

ERRORS = ["command not found", "exit code 1", "permission denied", "timed out after 30s",
          "unexpected argument", "connection refused", "not found in context",
          "422 Unprocessable Entity", "rate limited", "module not found"]

TEMPLATES = [
    ("When `{fail}` fails with {err}, run this instead:\n\n```\n{fix}\n```\n", "Use when {tool} fails with {err}."),
    ("## Situation\n\n{tool} reports {err}.\n\n## Fix\n\n1. Run `{fix}`.\n2. Re-run the step.\n",
     "Use when {tool} reports {err} in this repository."),
    ("The usual call ({fail}) breaks here ({err}). What works is {fix} - use it first.\n",
     "Use whenever you run {tool} and see {err}."),
    ("Seen in several sessions:\n\n```\n$ {fix}\n```\n\nThis avoids {err} from `{fail}`.\n",
     "Use before running {tool}: avoids {err}."),
]
TIPS = ["Check the output before moving on.", "This is faster on CI too.",
        "Keep the lock file unchanged.", "The same applies on the staging branch.", ""]
NAME_STYLES = ["fix-{tool}-{n}", "{tool}-{slug}", "avoid-{tool}-{slug}", "{tool}-{n}-workaround"]


@dataclass(frozen=True)
class GeneratedDraft:
    topic: int
    name: str
    description: str
    body: str


def generate(n_drafts: int = 1000, variants: int = 4, seed: int = 7) -> list[GeneratedDraft]:
    rng = random.Random(seed)
    topics = []
    for tool, base, suffixes in TOOLS:
        for suffix in suffixes:
            for component in rng.sample(COMPONENTS, 5):
                topics.append((tool, base, suffix, component, rng.choice(ERRORS)))
    rng.shuffle(topics)
    topics = topics[: n_drafts // variants]
    drafts = []
    for t, (tool, base, suffix, component, err) in enumerate(topics):
        if suffix.startswith("{"):  # a JSON tool input: the component is a field
            fix = f'{base} {{"team":"{component}",{suffix[1:]}'
        else:
            fix = f"cd services/{component} && {base} {suffix}"
        err = f"{err} in {component}"
        fail = base
        for v in range(variants):
            body_t, desc_t = TEMPLATES[(t + v) % len(TEMPLATES)]
            body = body_t.format(fail=fail, fix=fix, err=err, tool=tool)
            tip = rng.choice(TIPS)
            if tip:
                body += f"\n{tip}\n"
            slug = "-".join(w for w in err.split()[:2] if w.isalpha()) or "err"
            name = rng.choice(NAME_STYLES).format(tool=tool, n=t, slug=slug.lower())
            drafts.append(GeneratedDraft(t, name, desc_t.format(tool=tool, err=err), body))
    rng.shuffle(drafts)
    return drafts


def build_library(drafts, threshold: float = dedup.DEFAULT_THRESHOLD):
    """Feed drafts through the dedup index as the codifier does (near-dup -> merge)."""
    prov = SkillProvenance(source_session_ids=["bench"], codifier="offline",
                           decision=Decision.KEEP, created_at=datetime.now(UTC))
    lib: dict[str, tuple[Skill, int]] = {}
    index = dedup.SkillIndex()
    false_merges = 0
    for d in drafts:
        near = index.nearest(d.name, d.description, d.body, threshold=threshold)
        if near:
            existing, topic = lib[near.name]
            false_merges += topic != d.topic
            skill = Skill(workspace_id="w", name=near.name, description=existing.description,
                          body=dedup.merge_bodies(existing.body, d.body, max_chars=8000),
                          version=existing.version + 1, provenance=prov)
        else:
            name, k, topic = d.name, 2, d.topic
            while name in lib:
                name, k = f"{d.name}-{k}", k + 1
            skill = Skill(workspace_id="w", name=name, description=d.description, body=d.body,
                          version=1, provenance=prov)
        lib[skill.name] = (skill, topic)
        index.add(skill)
    return lib, false_merges


def dedup_rates(threshold: float = dedup.DEFAULT_THRESHOLD) -> dict[str, float]:
    drafts = generate(1000)
    started = time.perf_counter()
    lib, false_merges = build_library(drafts, threshold)
    elapsed = time.perf_counter() - started
    per_topic = Counter(topic for _, topic in lib.values())
    duplicates = sum(c - 1 for c in per_topic.values())
    return {
        "dedup_drafts": float(len(drafts)),
        "dedup_topics": float(len({d.topic for d in drafts})),
        "dedup_library_size": float(len(lib)),
        "dedup_near_duplicate_share": duplicates / len(lib),
        "dedup_false_merge_share": false_merges / len(drafts),
        "dedup_ms_per_draft": 1000 * elapsed / len(drafts),
    }
