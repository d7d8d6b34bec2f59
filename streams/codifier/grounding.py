"""Grounding: every concrete token and command of a body appears in its sessions (pure).

Concrete: everything in code spans and blocks (minus shell operators and placeholders),
and in prose URLs, paths, flags, ``NAME=value`` settings, identifiers and commands written
without backticks. Not concrete: placeholders (``<dep>@<version>`` matches any filling),
product names (``PostgreSQL``, ``Node.js``), English. A prose command ends where English
resumes ("run npm install --legacy-peer-deps whenever peers conflict").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from hivemind_kafka.schemas.sessions import Session

_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_PLACEHOLDER = re.compile(r"^(?:<[^<>]*>|\{[^{}]*\}|\$\{?[A-Z_][A-Z0-9_]*\}?|\.\.\.|…)$")
# A placeholder inside a token: `<dep>@<version>`, `deploy/<name>`, `--tag={tag}`.
_PLACEHOLDER_PART = re.compile(r"<[A-Za-z][\w .-]*>|\{[A-Za-z_][\w .-]*\}|\$\{[A-Z_][A-Z0-9_]*\}")
_SHELL_NOISE = {"&&", "||", "|", ";", ">", ">>", "<", "2>&1", "&", "\\", "$", "#", "-", "--",
                "=", "(", ")", "[", "]", "{", "}"}
_STRIP = "\"'`,;:()[]{}"
_PROSE_TOKEN = re.compile(r"[^\s`]+")
_PROSE_IGNORE = {"e.g.", "i.e.", "e.g", "i.e", "etc.", "vs.", "a.k.a", "and/or", "n/a", "w/o", "ci/cd",
                 "tcp/ip", "i/o", "read/write", "input/output", "etc", "vs"}
# Product and project names that look like identifiers (CamelCase, dotted) in prose.
PRODUCT_NAMES = frozenset(n.lower() for n in (
    "GitHub", "GitLab", "BitBucket", "PostgreSQL", "MySQL", "SQLite", "MongoDB", "DynamoDB",
    "CockroachDB", "ClickHouse", "BigQuery", "CloudFront", "CloudWatch", "CloudFormation",
    "ElasticSearch", "OpenSearch", "JavaScript", "TypeScript", "CoffeeScript", "PowerShell",
    "DevOps", "PagerDuty", "HubSpot", "LinkedIn", "YouTube", "WordPress", "WhatsApp",
    "FastAPI", "NumPy", "SciPy", "PyTorch", "TensorFlow", "PyPI", "PyCharm", "IntelliJ",
    "WebStorm", "VSCode", "GraphQL", "OpenAPI", "OAuth", "OpenID", "macOS", "iOS", "iPadOS",
    "iPhone", "iPad", "iCloud", "watchOS", "tvOS", "eBay", "PayPal", "DocuSign", "DropBox",
    "OneDrive", "SharePoint", "OneNote", "ServiceNow", "SendGrid", "MailChimp", "RabbitMQ",
    "ActiveMQ", "ZooKeeper", "NodeJS", "ReactJS", "VueJS", "NextJS", "NuxtJS", "jQuery",
    "CircleCI", "TravisCI", "TeamCity", "ArgoCD", "HashiCorp", "GoLand", "RubyGems",
    "CocoaPods", "WebSocket", "WebSockets", "WebAssembly", "WebKit", "WebGL", "OpenAI",
    "DeepMind", "DataDog", "NetSuite", "QuickBooks", "SalesForce", "ZenDesk", "FreshDesk",
    "AirTable", "ClickUp", "GitBook", "LaunchDarkly", "CloudFlare", "DigitalOcean", "HeroKu",
    "SonarQube", "SonarCloud", "AppVeyor", "BuildKite", "GoCD", "CodeQL", "DependaBot",
    "RenovateBot", "StackOverflow", "PgBouncer", "pgAdmin", "TimescaleDB", "InfluxDB",
    "Node.js", "Vue.js", "Next.js", "Nuxt.js", "Express.js", "D3.js", "Three.js", "Chart.js",
    "Deno.land", "ASP.NET", "VB.NET", "ADO.NET", "Socket.IO", "Moment.js", "Ember.js",
    "Backbone.js", "Angular.js", "AngularJS", "Alpine.js", "Svelte.js", "SvelteKit",
    "NestJS", "ExpressJS", "MkDocs", "ReadTheDocs", "PlanetScale", "SingleStore", "FaunaDB",
    "DuckDB", "RocksDB", "LevelDB", "CouchDB", "ArangoDB", "OrientDB", "MariaDB", "ScyllaDB",
    "OpenTelemetry", "OpenTracing", "OpenShift", "OpenStack", "MicroK8s", "MiniKube", "KinD",
    "FluxCD", "JetBrains", "AppleScript", "ActionScript", "TikTok", "SnapChat", "MacBook",
))


def _is_product(tok: str) -> bool:
    return tok.lower() in PRODUCT_NAMES


def _clean(raw: str) -> str:
    """A prose token without surrounding quotes, brackets and sentence punctuation."""
    tok = raw
    while tok and (tok[0] in _STRIP or tok[-1] in _STRIP + ".!?"):
        if tok in ("...", "…"):
            break
        tok = tok.strip(_STRIP).rstrip(".!?") if tok[-1] in _STRIP + ".!?" else tok.lstrip(_STRIP)
    return tok


def concrete_tokens(body: str) -> dict[str, str]:
    """Concrete tokens of a Markdown body -> their kind (code, url, path, flag, identifier,
    setting).

    Everything inside code spans and blocks is concrete (minus shell operators and
    placeholders like ``<file>``); in prose only URLs, paths, flags, ``NAME=value``
    settings and identifiers are, and product names (``PostgreSQL``, ``Node.js``) are not.
    """
    tokens: dict[str, str] = {}
    prose = body
    for block in _CODE_BLOCK.findall(body):
        for line in block.splitlines():
            _add_code_tokens(line, tokens)
    prose = _CODE_BLOCK.sub(" ", prose)
    for span in _CODE_SPAN.findall(prose):
        _add_code_tokens(span, tokens)
    prose = _CODE_SPAN.sub(" ", prose)
    for raw in _PROSE_TOKEN.findall(prose):
        tok = _clean(raw)
        if (not tok or tok.lower() in _PROSE_IGNORE or _PLACEHOLDER.match(tok)
                or _is_product(tok)):
            continue
        kind = _prose_kind(tok)
        if kind:
            tokens.setdefault(tok, kind)
    return tokens


def _add_code_tokens(line: str, tokens: dict[str, str]) -> None:
    line = line.strip()
    if line.startswith(("#", "//")) and not line.startswith("#!"):
        return  # a comment in a code block is prose
    line = re.sub(r"^\$\s+", "", line)
    for raw in line.split():
        tok = raw.strip(_STRIP)
        if "=" in tok and not tok.startswith("-"):
            # VAR=value: both sides are concrete
            left, _, right = tok.partition("=")
            for part in (left, right):
                part = part.strip(_STRIP)
                if len(part) > 1 and not _PLACEHOLDER.match(part):
                    tokens.setdefault(part, "code")
            continue
        if len(tok) <= 1 or tok in _SHELL_NOISE or _PLACEHOLDER.match(tok):
            continue
        tokens.setdefault(tok, _prose_kind(tok) or "code")


def _prose_kind(tok: str) -> str | None:
    if re.match(r"(?i)^(?:https?|ftp|wss?)://", tok):
        return "url"
    if re.match(r"^--?[A-Za-z][\w-]*(?:=\S+)?$", tok) and not re.match(r"^-\d", tok):
        return "flag" if tok.startswith("--") or len(tok) <= 3 else None
    if re.match(r"^[A-Za-z_][\w.-]*=\S*$", tok):
        return "setting"  # NAME=value
    if tok.startswith(("/", "./", "../", "~/")) or (re.search(r"\w\.[A-Za-z0-9]{1,5}$", tok) and (
            "/" in tok)) or tok.count("/") >= 2:
        return "path"
    if re.search(r"\w\.(?:py|js|ts|tsx|json|ya?ml|toml|md|txt|cfg|ini|lock|sh|go|rs|java|rb|sql|"
                 r"csv|html|css|env)$", tok):
        return "path"
    if re.match(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+(?:\(\))?$", tok):
        return "identifier"  # dotted.name
    if re.match(r"^[A-Za-z]\w*_\w+$", tok) or re.match(r"^[a-z]+[A-Z]\w*$", tok) or re.match(
            r"^[A-Z][a-z0-9]+[A-Z]\w*$", tok):
        return "identifier"  # snake_case, camelCase, CamelCase
    return None


def session_corpus(sessions: Iterable[Session], extra: Iterable[str] = ()) -> str:
    """Every text a body may quote: prompts, responses, tool names, inputs (raw and
    JSON-decoded strings) and outputs of the sessions, plus ``extra`` (an existing skill
    body a MERGE builds on)."""
    parts: list[str] = list(extra)
    for s in sessions:
        parts.append(s.project)
        for e in s.events:
            for value in (e.text, e.tool_name, e.tool_output, e.tool_input, e.outcome):
                if value:
                    parts.append(value)
            if e.tool_input:
                parts.extend(_json_strings(e.tool_input))
                compact = _compact_json(e.tool_input)
                if compact:  # the offline codifier quotes non-shell calls this way
                    parts.append(f"{e.tool_name or 'tool'} {compact}")
    return "\n".join(parts)


def _compact_json(raw: str) -> str:
    try:
        return json.dumps(json.loads(raw), separators=(",", ":"), sort_keys=True)
    except ValueError:
        return ""


def _json_strings(raw: str) -> list[str]:
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    out: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def ungrounded_tokens(body: str, corpus: str) -> list[tuple[str, str]]:
    """(token, kind) of the body's concrete tokens that the corpus does not contain. A
    token with a placeholder part (``<dep>@<version>``) matches any filling."""
    missing = []
    for tok, kind in concrete_tokens(body).items():
        bare = tok.rstrip("/").removesuffix("()")
        if _PLACEHOLDER_PART.search(tok):
            if _matches_with_placeholders(tok, corpus):
                continue
        elif _in_corpus(tok, corpus) or (bare and _in_corpus(bare, corpus)):
            continue
        missing.append((tok, kind))
    return missing


def _placeholder_regex(text: str) -> str:
    out, pos = [], 0
    for m in _PLACEHOLDER_PART.finditer(text):
        out.append(re.escape(text[pos:m.start()]))
        out.append(r"\S+?")
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return "".join(out)


def _matches_with_placeholders(text: str, corpus: str) -> bool:
    if not _PLACEHOLDER_PART.sub("", text).strip(" @/:=-._"):
        return True  # nothing concrete: `<dep>@<version>`
    left = r"(?<![\w-])" if re.match(r"[\w-]", text[0]) else ""
    right = r"(?![\w-])" if re.match(r"[\w-]", text[-1]) else ""
    return re.search(left + _placeholder_regex(text) + right, corpus) is not None


def _in_corpus(token: str, corpus: str) -> bool:
    """``token`` occurs in the corpus as a whole token: "rm" is not grounded by "reformat"."""
    if token not in corpus:
        return False
    left = r"(?<![\w-])" if re.match(r"[\w-]", token[0]) else ""
    right = r"(?![\w-])" if re.match(r"[\w-]", token[-1]) else ""
    return re.search(left + re.escape(token) + right, corpus) is not None


def commands_in(body: str, corpus: str = "") -> list[str]:
    """Multi-word code spans and code-block lines, whitespace-normalized, without a
    leading ``$`` prompt or comments, and commands written in prose: the commands a body
    tells an agent to run. ``corpus`` (flattened) tells where a prose command ends: after
    its longest prefix the corpus holds, plain English words are prose again."""
    found = []
    lines = [ln for block in _CODE_BLOCK.findall(body) for ln in block.splitlines()]
    lines += _CODE_SPAN.findall(_CODE_BLOCK.sub(" ", body))
    for line in lines:
        line = re.sub(r"^\$\s+", "", line.strip())
        if not line or line.startswith(("#", "//")):
            continue
        norm = " ".join(line.split())
        if len(norm.split()) >= 2 and not any(_PLACEHOLDER.match(w) for w in norm.split()):
            found.append(norm)
    prose = _CODE_SPAN.sub(" ", _CODE_BLOCK.sub(" ", body))
    for start in (m.start() for m in _PROSE_COMMAND.finditer(prose)):
        seg = _PROSE_WORDS.match(prose, start)
        if seg is None:
            continue
        before = prose[max(0, start - 12):start].lower().split()
        if before and before[-1] in _DETERMINERS:
            continue  # "the git history", "your docker image": a noun, not a command
        told = bool(before) and before[-1].strip("(") in _RUN_VERBS
        words = seg.group(0).split()
        head = [words[0]]
        for w in words[1:]:
            bare = w.rstrip(".")
            if not bare or bare.lower() in _PROSE_STOP or _PLACEHOLDER.match(bare):
                break
            head.append(bare)
            if w.endswith("."):
                break  # the sentence ends
        if len(head) < 2:
            continue
        grounded = next((n for n in range(len(head), 1, -1)
                         if corpus and _in_corpus(" ".join(head[:n]), corpus)), 0)
        if grounded == len(head):
            found.append(" ".join(head))  # grounded as a whole: reported, never missing
            continue
        if grounded and _english_after(head[:grounded], head[grounded:]):
            found.append(" ".join(head[:grounded]))  # the command, then English
            continue
        # "git history" is English; "git push --force", "alembic stamp head" or a command
        # the text says to run ("run make install") is a command
        if told or len(head) >= 3 or re.search(r"[-./=_\d]", head[1]):
            found.append(" ".join(head))
    return found


def _plain_word(w: str) -> bool:
    return w.isalpha() and w.islower()


def _english_after(command: list[str], rest: list[str]) -> bool:
    """Do plain words after a grounded command read as English ("npm install
    --legacy-peer-deps resolves the conflict") rather than as more subcommands ("go mod
    vendor")? Yes after a complete-looking command (three words, or one ending in a flag,
    path or value), or when the next word is a verb in the third person."""
    if not all(_plain_word(w) for w in rest):
        return False
    complete = len(command) >= 3 or bool(re.search(r"[-./=_\d]", command[-1]))
    return complete or (len(rest[0]) > 3 and rest[0].endswith("s"))


# A command written in prose, without backticks: a well-known CLI and what follows it up
# to punctuation or a word that ends the command ("run pip install x before the tests").
_PROSE_COMMAND = re.compile(
    r"(?<![\w./-])(?:pip3?|npm|npx|yarn|pnpm|git|docker|kubectl|python3?|cargo|brew|"
    r"apt(?:-get)?|curl|wget|poetry|terraform|helm|gradle|mvn|psql|alembic|go|make|nvm|uv|"
    r"gh|gcloud|aws|az|bq|mypy|ruff|black|pytest|node|rm|chmod|sudo)[ \t]+[^\s,;:!?()]"
)
# The words of a prose command, on its line, up to punctuation (each start is tried).
_PROSE_WORDS = re.compile(r"[^\s,;:!?()]+(?:[ \t]+[^\s,;:!?()]+){0,8}")
_PROSE_STOP = frozenset((  # noqa: SIM905
    "a an the and or to in on for with by at from as is are be it this that then before after "
    "first again instead when if so but which what will should can may must fails failed works "
    "worked command commands call fixes fixed fix helps does did goes runs sure it them "
    "whenever once until unless while because since though although through via into onto "
    "over under without within across per like than using inside around against instead"
).split())
_DETERMINERS = frozenset(("the", "a", "an", "your", "our", "their", "its", "this", "that",
                          "these", "those", "his", "her", "my", "every", "each", "no"))
_RUN_VERBS = frozenset(("run", "running", "execute", "try", "use", "type", "with", "then",
                        "call", "invoke", "re-run", "rerun", "retry"))


def ungrounded_commands(body: str, corpus: str) -> list[tuple[str, str]]:
    """Commands of the body not found as a whole in the corpus: every token may be
    grounded while the command is not (``make checks`` when the session ran
    ``make check`` and printed "all checks passed"). Placeholders match any filling."""
    flat = " ".join(corpus.split())
    missing = []
    for cmd in commands_in(body, flat):
        if _PLACEHOLDER_PART.search(cmd):
            if not _matches_with_placeholders(cmd, flat):
                missing.append((cmd, "command"))
        elif not _in_corpus(cmd, flat):
            missing.append((cmd, "command"))
    return missing
