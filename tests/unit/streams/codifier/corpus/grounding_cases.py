"""Labelled grounding corpus: genuine drafts (every concrete token from the session) and
ungrounded drafts (one invented command, path, flag, identifier or URL added to an
otherwise genuine draft), over 14 scenarios from coding, support and SDR agents.

Genuine drafts are written the way a model summarises a session: prose around the
commands, sometimes an inline mention of a name from the error output, sometimes
abbreviations ("e.g.", "CI/CD"). A few genuine drafts deliberately mention a concrete
token the session does not contain verbatim (a realistic false positive), so the pass
rate is measured, not assumed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hivemind_kafka.schemas.events import AgentKind
from hivemind_kafka.schemas.sessions import Session
from tests.unit.streams.codifier.builders import prompt, session, tool


@dataclass(frozen=True)
class Scenario:
    key: str
    ask: str
    tool: str
    failed: str  # command or JSON input
    error: str
    worked: str
    ok: str
    project: str = "shop-api"
    kind: AgentKind = AgentKind.CODING
    mention: str = ""  # a token from the error output a summary would quote


SCENARIOS = [
    Scenario("pytest", "run the unit tests", "Bash", "pytest tests/",
             "bash: pytest: command not found", "python -m pytest tests/", "42 passed in 3.1s",
             mention="pytest"),
    Scenario("npm", "install the frontend deps", "Bash", "npm install",
             "npm ERR! ERESOLVE unable to resolve dependency tree\nnpm ERR! peer react@\"^17\"",
             "npm install --legacy-peer-deps", "added 812 packages", project="web",
             mention="ERESOLVE"),
    Scenario("alembic", "add a migration for orders", "Bash", "alembic revision -m orders",
             "FAILED: Target database is not up to date.", "alembic upgrade head && alembic revision --autogenerate -m orders",
             "Generating migrations/versions/3f2a_orders.py ... done", mention="migrations/versions/3f2a_orders.py"),
    Scenario("docker", "build the image", "Bash", "docker build .",
             "COPY failed: file not found in build context: requirements.txt",
             "docker build -f docker/Dockerfile .", "Successfully tagged shop-api:latest",
             mention="requirements.txt"),
    Scenario("gitpush", "push my branch", "Bash", "git push origin main",
             "! [rejected] main -> main (non-fast-forward)", "git pull --rebase origin main && git push origin main",
             "main -> main", mention="non-fast-forward"),
    Scenario("mypy", "typecheck the client", "Bash", "mypy src/client.py",
             "src/client.py:3: error: Library stubs not installed for \"requests\"",
             "pip install types-requests && mypy src/client.py", "Success: no issues found",
             mention="src/client.py"),
    Scenario("psql", "connect to the dev database", "Bash", "psql -U app app_dev",
             "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed",
             "psql -h localhost -p 5433 -U app app_dev", "app_dev=>",
             mention="/var/run/postgresql/.s.PGSQL.5432"),
    Scenario("make", "run the checks", "Bash", "make test",
             "make: *** No rule to make target 'test'.  Stop.", "make check", "all checks passed",
             mention="make"),
    Scenario("cargo", "build the parser crate", "Bash", "cargo build",
             "error[E0433]: failed to resolve: use of undeclared crate or module `serde_json`",
             "cargo add serde_json && cargo build", "Finished dev [unoptimized] target(s)",
             project="parser", mention="serde_json"),
    Scenario("gotest", "run the go tests", "Bash", "go test ./...",
             "go: cannot find main module, but found .git/config in /repo",
             "cd services/api && go test ./...", "ok  github.com/acme/api/handlers 0.412s",
             project="monorepo", mention="services/api"),
    Scenario("black", "format the models", "Bash", "black --check src/app/models.py",
             "would reformat src/app/models.py\nOh no! 1 file would be reformatted.",
             "black src/app/models.py", "reformatted src/app/models.py",
             mention="src/app/models.py"),
    Scenario("kubectl", "deploy to staging", "Bash", "kubectl apply -f k8s/deploy.yaml",
             "Error from server (NotFound): namespaces \"staging\" not found",
             "kubectl apply -n staging-v2 -f k8s/deploy.yaml", "deployment.apps/shop-api configured",
             mention="k8s/deploy.yaml"),
    Scenario("zendesk", "close ticket 4812, the customer confirmed the fix", "zendesk_update",
             json.dumps({"ticket_id": 4812, "status": "solved"}),
             "422 Unprocessable Entity: status transition new -> solved not allowed",
             json.dumps({"ticket_id": 4812, "status": "pending"}), "ticket 4812 updated",
             project="support-desk", kind=AgentKind.SUPPORT, mention="ticket_id"),
    Scenario("crm", "find the Acme Corp account and its open deals", "crm_search",
             json.dumps({"query": "Acme Corp"}),
             "429 rate limited: too many results, narrow the query or pass limit",
             json.dumps({"query": "Acme Corp", "limit": 20}), "20 accounts",
             project="sdr-outbound", kind=AgentKind.SDR, mention="limit"),
]

# Invented tokens of each kind (none appears in any scenario).
INVENTED = {
    "flag": ["--force-reinstall", "--no-cache-dir", "--strict-mode", "--skip-lock",
             "--prefer-offline", "--unsafe-perm", "--retries=5"],
    "path": ["/etc/shop/agent.conf", "./scripts/bootstrap.sh", "config/settings_prod.yaml",
             "~/.config/tooling/defaults.toml", "deploy/overlays/prod/kustomization.yaml"],
    "identifier": ["settings.DATABASE_URL_OVERRIDE", "retry_with_backoff", "TestRunnerConfig",
                   "client.session.reset_pool", "ENABLE_LEGACY_RESOLVER"],
    "url": ["https://docs.example-tools.dev/troubleshooting#fix-42",
            "https://wiki.acme-internal.net/runbooks/deploy",
            "http://mirror.pkg-cache.org/simple/"],
    "command": ["pip install --upgrade setuptools wheel", "rm -rf .venv && uv sync",
                "export PYTHONPATH=src", "brew install libpq", "nvm use 18.17.0"],
}


def scenario_session(sc: Scenario) -> Session:
    def call(text: str, output: str, error: bool = False):
        if sc.tool == "Bash":
            return tool("Bash", {"command": text}, output, error=error)
        return tool(sc.tool, json.loads(text), output, error=error)

    return session([prompt(sc.ask), call(sc.failed, sc.error, True), call(sc.worked, sc.ok)],
                   session_id=f"g-{sc.key}", project=sc.project, kind=sc.kind)


def _fmt(sc: Scenario, text: str) -> str:
    return text if sc.tool == "Bash" else f"{sc.tool} {text}"


def genuine_drafts(sc: Scenario) -> list[str]:
    worked = _fmt(sc, sc.worked)
    failed = _fmt(sc, sc.failed)
    return [
        f"When `{failed}` fails in {sc.project}, do this instead:\n\n```\n{worked}\n```\n",
        (f"## Situation\n\nThe first attempt (`{failed}`) failed, mentioning `{sc.mention}`.\n\n"
         f"## What works\n\n1. Run `{worked}`.\n2. Check the output, e.g. look for the "
         f"success line before moving on (same in CI/CD).\n"),
        (f"Seen in {sc.project}: the obvious call fails.\n\n```\n$ {failed}\n```\n\n"
         f"The fix that worked, i.e. the one to use first next time:\n\n```\n$ {worked}\n```\n"),
    ]


# Genuine drafts that quote the session's commands in prose, without backticks.
PROSE_GENUINE = [
    ("pytest", "When pytest is missing, run python -m pytest tests/ instead."),
    ("npm", "Peer conflicts: run npm install --legacy-peer-deps and the install goes through."),
    ("gitpush", "Run git pull --rebase origin main, then push again."),
    ("make", "There is no test target; run make check instead."),
    ("cargo", "The crate is missing: cargo add serde_json fixes it."),
    ("black", "Let the formatter fix it: black src/app/models.py then commit."),
]

# Genuine drafts whose English merely mentions a tool (not a command to check).
ENGLISH_GENUINE = [
    ("gitpush", "Make sure the git history is clean, then run `git pull --rebase origin main`."),
    ("pytest", "Run the pytest suite through the interpreter: `python -m pytest tests/`."),
    ("docker", "The docker image builds once the Dockerfile path is given: "
               "`docker build -f docker/Dockerfile .`"),
    ("kubectl", "Point kubectl at the right namespace: `kubectl apply -n staging-v2 -f k8s/deploy.yaml`."),
    ("make", "Make sure to use `make check`; the test target does not exist."),
]

# Genuine drafts that cite something the session does not contain verbatim: a realistic
# source of false positives (the guard is expected to reject some of these).
HARD_GENUINE = [
    ("pytest", "Tests need the venv's interpreter: use `python -m pytest` rather than bare "
               "`pytest` when it is not on `PATH`."),
    ("npm", "Peer dependency conflicts (ERESOLVE): install with `npm install --legacy-peer-deps`."),
    ("gitpush", "A non-fast-forward push means the remote moved: `git pull --rebase origin main` "
                "first, then push again."),
    ("docker", "The build context lacks requirements.txt at the root; point at the right "
               "Dockerfile with `docker build -f docker/Dockerfile .`."),
    ("kubectl", "The staging namespace is `staging-v2`; pass `-n staging-v2` to every "
                "`kubectl` command."),
    ("make", "There is no `test` target in this Makefile: the checks run with `make check`."),
]


# Near-miss hallucinations: one detail of the real fix changed (the hardest kind to catch).
NEAR_MISS = {
    "pytest": "Run the suite through the interpreter:\n\n```\npython3 -m pytest tests/unit\n```\n",
    "npm": "Install with `npm install --legacy-peer-dep`.",
    "alembic": "Upgrade first: `alembic upgrade heads`, then autogenerate the revision.",
    "docker": "Point at the Dockerfile: `docker build -f docker/Dockerfile.prod .`",
    "gitpush": "Rebase on the remote first: `git pull --rebase upstream main`.",
    "mypy": "Install the stubs: `pip install types-request`, then run mypy again.",
    "psql": "The dev database listens on another port: `psql -h localhost -p 5434 -U app app_dev`.",
    "make": "Use `make checks` instead of `make test`.",
    "cargo": "Add the crate: `cargo add serde-json`.",
    "gotest": "Run from the service: `cd services/apis && go test ./...`.",
    "black": "Format the file: `black src/app/model.py`.",
    "kubectl": "Use the right namespace: `kubectl apply -n staging-2 -f k8s/deploy.yaml`.",
    "zendesk": "Set `status` to `on-hold` before `solved` (`ticket_id` stays the same).",
    "crm": "Pass `max_results` with the `query` to avoid the rate limit.",
}


# Hallucinated commands written in prose, without backticks.
PROSE_COMMANDS = {
    "pytest": "Install the runner first: run pip install pytest-xdist before the tests.",
    "npm": "Clear the cache with npm cache clean --force and install again.",
    "alembic": "Run alembic stamp head when the database is behind.",
    "docker": "If that fails, run docker system prune -af then build again.",
    "gitpush": "Otherwise git push --force-with-lease origin main works.",
    "mypy": "Run mypy --install-types src/client.py to fetch the stubs.",
    "psql": "Start the server with brew services start postgresql first.",
    "make": "Run make install before make check.",
    "cargo": "Run cargo update before building.",
    "gotest": "Run go mod vendor in services/api first.",
    "black": "Run black --line-length 100 src/app/models.py instead.",
    "kubectl": "Create it with kubectl create namespace staging first.",
}


def ungrounded_drafts(sc: Scenario, index: int) -> list[tuple[str, str]]:
    """(kind, draft) with one invented token of each kind in a genuine-looking draft."""
    worked = _fmt(sc, sc.worked)
    out = []
    for kind, values in INVENTED.items():
        tok = values[index % len(values)]
        if kind == "flag":
            body = f"When it fails, run:\n\n```\n{worked} {tok}\n```\n"
        elif kind == "path":
            body = (f"Run `{worked}`. If it still fails, check the settings in {tok} "
                    "before retrying.\n")
        elif kind == "identifier":
            body = f"Run `{worked}`; the failure comes from {tok} being unset.\n"
        elif kind == "url":
            body = f"Run `{worked}` (see {tok} for background).\n"
        else:
            body = f"Fix it with:\n\n```\n{tok}\n{worked}\n```\n"
        out.append((kind, body))
    out.append(("near-miss", NEAR_MISS[sc.key]))
    if sc.key in PROSE_COMMANDS:
        out.append(("prose-command", PROSE_COMMANDS[sc.key]))
    return out


def corpus() -> list[tuple[Session, str, bool, str]]:
    """(session, draft body, is_genuine, label) for every case."""
    by_key = {sc.key: sc for sc in SCENARIOS}
    cases = []
    for i, sc in enumerate(SCENARIOS):
        s = scenario_session(sc)
        for j, body in enumerate(genuine_drafts(sc)):
            cases.append((s, body, True, f"{sc.key}/genuine{j}"))
        for kind, body in ungrounded_drafts(sc, i):
            cases.append((s, body, False, f"{sc.key}/ungrounded-{kind}"))
    for j, (key, body) in enumerate(PROSE_GENUINE):
        cases.append((scenario_session(by_key[key]), body, True, f"{key}/prose{j}"))
    for j, (key, body) in enumerate(ENGLISH_GENUINE):
        cases.append((scenario_session(by_key[key]), body, True, f"{key}/english{j}"))
    for j, (key, body) in enumerate(HARD_GENUINE):
        cases.append((scenario_session(by_key[key]), body, True, f"{key}/hard{j}"))
    return cases
