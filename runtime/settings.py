"""One typed, frozen settings object for every Hivemind process.

Built once at the entry point with :meth:`Settings.from_env` and passed down; no other
module reads ``os.environ``. Every field has exactly one environment variable: by default
``HIVEMIND_<SECTION>_<FIELD>`` (upper case), or the short name given in the field's
``env`` annotation (``HIVEMIND_BOOTSTRAP``, ``HIVEMIND_LAKE``, ``HIVEMIND_WORKSPACE_ID``,
``HIVEMIND_HOME``, ``ANTHROPIC_API_KEY``...). ``hivemind settings`` prints them all with
secrets masked.

Values are parsed strictly: booleans accept ``true/false/1/0`` only, numbers must parse
and lie in the field's range, enumerations must be one of their choices, names (topics,
the workspace, the bootstrap list, URLs) must have their shape, and text must be UTF-8
without control characters (paths may hold any byte but NUL). A bad value raises
:class:`runtime.errors.SettingsInvalid` naming the variable, what it may be, and the fix;
no other exception escapes :meth:`Settings.from_env`. The ranges and choices are declared
on the fields below (``Meta`` bounds, ``Literal`` choices, :func:`_kind`).
"""

from __future__ import annotations

import os
import re
import types
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta, Struct

from hivemind_kafka.runtime.errors import SettingsInvalid
from hivemind_kafka.schemas.events import WORKSPACE_ID_RULE, workspace_id_problem
from hivemind_kafka.schemas.holdout import HoldoutDesign


class Secret:
    """A string that never prints itself. Call :meth:`reveal` where it is used."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _env(name: str) -> Meta:
    return Meta(extra={"env": name})


def _any_case() -> Meta:
    """A ``Literal`` choice given in any case (``debug`` is ``DEBUG``)."""
    return Meta(extra={"ignore_case": True})


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"]
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
AgentKind = Literal["coding", "support", "sdr", "other"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
ClockMode = Literal["real", "sim"]


def _kind(kind: str) -> Meta:
    """The value must have the shape of ``kind`` (see :data:`_KINDS`)."""
    return Meta(extra={"kind": kind})


DAY_S = 24 * 3600


class KafkaSettings(Struct, frozen=True, kw_only=True):
    """Where Kafka is and how every client (producer, forwarder, Faust, sink) talks to it."""

    # None means: use the embedded tansu broker recorded in the Hivemind home.
    bootstrap: Annotated[str | None, _env("HIVEMIND_BOOTSTRAP"), _kind("bootstrap")] = None
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: Annotated[str | None, _kind("line")] = None
    sasl_password: Secret = Secret("")
    ssl_cafile: Annotated[str | None, _kind("path")] = None
    ssl_certfile: Annotated[str | None, _kind("path")] = None
    ssl_keyfile: Annotated[str | None, _kind("path")] = None
    # Short group timeouts: a group join takes about session.timeout on tansu.
    session_timeout_ms: Annotated[int, Meta(ge=100, le=3_600_000)] = 6000
    heartbeat_interval_ms: Annotated[int, Meta(ge=10, le=3_600_000)] = 500
    create_topics: bool = True
    partitions: Annotated[int, Meta(ge=1, le=10_000)] = 6
    replication_factor: Annotated[int, Meta(ge=1, le=32_767)] = 1
    compression: Compression = "lz4"


class TopicSettings(Struct, frozen=True, kw_only=True):
    turns: Annotated[str, _kind("topic")] = "hivemind.turns"
    sessions: Annotated[str, _kind("topic")] = "hivemind.sessions"
    candidates: Annotated[str, _kind("topic")] = "hivemind.candidates"
    skills: Annotated[str, _kind("topic")] = "hivemind.skills"
    dlq: Annotated[str, _kind("topic")] = "hivemind.dlq"
    ticks: Annotated[str, _kind("topic")] = "hivemind.sessionizer-ticks"
    # Tombstones on the skills topic must outlive the longest time an agent is offline.
    skills_delete_retention_ms: Annotated[int, Meta(ge=0, le=2**63 - 1)] = 30 * DAY_S * 1000


class LakeSettings(Struct, frozen=True, kw_only=True):
    uri: Annotated[str, _env("HIVEMIND_LAKE"), _kind("path")] = ".hivemind/lake"
    # Flush a table buffer at this many rows or this age, whichever comes first.
    flush_rows: Annotated[int, Meta(ge=1, le=100_000_000)] = 100_000
    flush_seconds: Annotated[float, Meta(gt=0, le=DAY_S)] = 5.0
    # Storage options for s3:// lakes (delta-rs object_store keys).
    s3_endpoint: Annotated[str | None, _kind("url")] = None
    s3_region: Annotated[str | None, _kind("line")] = None
    s3_access_key_id: Annotated[str | None, _kind("line")] = None
    s3_secret_access_key: Secret = Secret("")
    s3_allow_http: bool = False

    def storage_options(self) -> dict[str, str]:
        """delta-rs storage options; empty for a local lake."""
        if not self.uri.startswith(("s3://", "s3a://")):
            return {}
        opts: dict[str, str] = {}
        if self.s3_endpoint:
            opts["AWS_ENDPOINT_URL"] = self.s3_endpoint
        if self.s3_region:
            opts["AWS_REGION"] = self.s3_region
        if self.s3_access_key_id:
            opts["AWS_ACCESS_KEY_ID"] = self.s3_access_key_id
        if self.s3_secret_access_key:
            opts["AWS_SECRET_ACCESS_KEY"] = self.s3_secret_access_key.reveal()
        if self.s3_allow_http:
            opts["AWS_ALLOW_HTTP"] = "true"
        # Conditional put is the default since deltalake 0.23: no DynamoDB lock needed.
        return opts

    def table_uri(self, table: str) -> str:
        base = self.uri.rstrip("/")
        if "://" in base:
            return f"{base}/{table}"
        return str(Path(base).resolve() / table)


class SessionizerSettings(Struct, frozen=True, kw_only=True):
    idle_gap_s: Annotated[int, Meta(ge=1, le=30 * DAY_S)] = 1800
    # Ticks drive idle closing; an idle session also waits this long after its last
    # *arrival*, so a backlog replayed from a spool is not closed mid-flight.
    tick_interval_s: Annotated[float, Meta(gt=0, le=3600)] = 10.0
    arrival_grace_s: Annotated[int, Meta(ge=0, le=DAY_S)] = 60
    # Closed-session markers absorb trailing stop/session_end and replays this long.
    closed_retention_s: Annotated[int, Meta(ge=0, le=30 * DAY_S)] = 6 * 3600
    # After that, a compact marker (generation count only) lets a session resumed within
    # this long continue as its next generation with a fresh uid.
    resume_retention_s: Annotated[int, Meta(ge=0, le=365 * DAY_S)] = 7 * DAY_S
    # A closed session keeps its events this long (at most closed_retention_s): a session
    # resumed within it carries them as context, and a late learnable outcome can still
    # make it a candidate. Costs the closed session's kept events in the table meanwhile.
    closed_events_retention_s: Annotated[int, Meta(ge=0, le=30 * DAY_S)] = 3600
    # Outcomes join their session up to this long after its end; a later one is counted
    # and left out. Closed markers (generation count, end) are kept at least this long.
    outcome_horizon_s: Annotated[int, Meta(ge=0, le=365 * DAY_S)] = 14 * DAY_S
    max_events_per_session: Annotated[int, Meta(ge=1, le=10_000_000)] = 5000
    max_record_bytes: Annotated[int, Meta(ge=1024, le=2**31 - 1)] = 4 * 1024 * 1024
    # Throughput: the worker processes input in batches of at most batch_max_records
    # records, taken within batch_within_ms (a record waits at most that long to start);
    # states are written (each touched key once) and records acked every
    # state_write_interval_ms under a backlog (a crash replays at most that much), at once
    # when the input is idle; its producer (sessions, candidates, changelog) batches up to
    # producer_batch_bytes per partition with producer_linger_ms of linger.
    batch_max_records: Annotated[int, Meta(ge=1, le=1_000_000)] = 2000
    batch_within_ms: Annotated[int, Meta(ge=0, le=60_000)] = 100
    state_write_interval_ms: Annotated[int, Meta(ge=0, le=3_600_000)] = 1000
    producer_batch_bytes: Annotated[int, Meta(ge=1024, le=2**31 - 1)] = 1024 * 1024
    producer_linger_ms: Annotated[int, Meta(ge=0, le=60_000)] = 5


class CodifierSettings(Struct, frozen=True, kw_only=True):
    api_key: Annotated[Secret, _env("ANTHROPIC_API_KEY")] = Secret("")
    base_url: Annotated[str | None, _env("ANTHROPIC_BASE_URL"), _kind("url")] = None
    model: Annotated[str, _kind("name")] = "claude-haiku-4-5"
    timeout_s: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    max_retries: Annotated[int, Meta(ge=0, le=100)] = 3
    daily_token_budget: Annotated[int, Meta(ge=0, le=10**12)] = 2_000_000
    max_body_chars: Annotated[int, Meta(ge=1, le=10_000_000)] = 8000


class EdgeSettings(Struct, frozen=True, kw_only=True):
    """The agent side: capture hook, spool, forwarder, skill sync."""

    workspace_id: Annotated[str, _env("HIVEMIND_WORKSPACE_ID"), _kind("workspace")] = "default"
    home: Annotated[str, _env("HIVEMIND_HOME"), _kind("path")] = "~/.hivemind"
    agent_kind: AgentKind = "coding"
    max_field_bytes: Annotated[int, Meta(ge=256, le=64 * 1024 * 1024)] = 16 * 1024
    linger_ms: Annotated[int, Meta(ge=0, le=60_000)] = 200
    batch_max_events: Annotated[int, Meta(ge=1, le=100_000)] = 200
    # agentd's full skill sync: reads the skills topic, refreshes the cache the
    # SessionStart pull materializes from, and syncs every known project.
    sync_interval_s: Annotated[float, Meta(gt=0, le=86_400)] = 30.0

    def home_path(self) -> Path:
        return Path(self.home).expanduser()


class MeasureSettings(Struct, frozen=True, kw_only=True):
    """Skill measurement: the switchback holdout (shared by the sync and the report) and
    the report's inference (analytics.attribution, README "Measure")."""

    # Share of agent-periods a skill is withheld in, and the period length (a UTC day).
    holdout_share: Annotated[float, Meta(gt=0, lt=1)] = 0.5
    period_s: Annotated[int, Meta(ge=60, le=365 * DAY_S)] = DAY_S
    # Per-workspace shares, "ws-a=0.2,ws-b=0.5": a large fleet can afford a smaller one.
    # The edge machines of a workspace and the measure job must read the same value.
    holdout_shares: Annotated[str, _kind("shares")] = ""
    # Confidence of every interval (anytime-valid confidence sequences).
    confidence: Annotated[float, Meta(ge=0.5, lt=1)] = 0.95
    # Randomized clusters (agent-periods) each cohort needs before any verdict.
    min_clusters: Annotated[int, Meta(ge=2, le=1_000_000)] = 10
    # False-discovery rate across a workspace's skills (e-BH) for verdicts and retirement.
    fdr: Annotated[float, Meta(gt=0, lt=1)] = 0.10
    # Effect size (probability points) the "days to a verdict" plan is computed for.
    planning_effect: Annotated[float, Meta(gt=0, lt=1)] = 0.05

    def __post_init__(self) -> None:
        # The environment is checked by the annotations (runtime.settings._convert); this
        # catches the same mistakes in settings built in code.
        checks = [
            ("HIVEMIND_MEASURE_HOLDOUT_SHARE", 0.0 < self.holdout_share < 1.0,
             "a share in (0, 1) such as 0.5"),
            ("HIVEMIND_MEASURE_PERIOD_S", self.period_s >= 60, "seconds >= 60 (86400: a day)"),
            ("HIVEMIND_MEASURE_CONFIDENCE", 0.5 <= self.confidence < 1.0,
             "a level in [0.5, 1) such as 0.95"),
            ("HIVEMIND_MEASURE_MIN_CLUSTERS", self.min_clusters >= 2, "an integer >= 2"),
            ("HIVEMIND_MEASURE_FDR", 0.0 < self.fdr < 1.0, "a rate in (0, 1) such as 0.10"),
            ("HIVEMIND_MEASURE_PLANNING_EFFECT", 0.0 < self.planning_effect < 1.0,
             "probability points in (0, 1) such as 0.05"),
        ]
        for var, ok, expected in checks:
            if not ok:
                raise SettingsInvalid(f"{var} is out of range: expected {expected}")
        self.share_overrides()

    def share_overrides(self) -> dict[str, float]:
        """``holdout_shares`` parsed: workspace -> share (raises SettingsInvalid)."""
        out: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in self.holdout_shares.split(","))):
            workspace, sep, value = item.partition("=")
            try:
                share = float(value)
            except ValueError:
                share = -1.0
            if not sep or not workspace.strip() or not 0.0 < share < 1.0:
                raise SettingsInvalid(
                    f"HIVEMIND_MEASURE_HOLDOUT_SHARES entry {item!r} is not valid: expected "
                    "comma-separated <workspace>=<share in (0, 1)>, e.g. big-team=0.2,ops=0.5")
            out[workspace.strip()] = share
        return out

    def holdout_design(self, workspace_id: str | None = None) -> HoldoutDesign:
        """The design of ``workspace_id`` (its override, else the default share)."""
        share = self.share_overrides().get(workspace_id or "", self.holdout_share)
        return HoldoutDesign(share=share, period_s=self.period_s)


class MetricsSettings(Struct, frozen=True, kw_only=True):
    host: Annotated[str, _kind("host")] = "127.0.0.1"
    # 0 disables the endpoint; each component adds its own offset (up to 5,
    # runtime.metrics.PORT_OFFSETS) to this base port.
    port: Annotated[int, Meta(ge=0, le=65_530)] = 0


class Settings(Struct, frozen=True, kw_only=True):
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    lake: LakeSettings = LakeSettings()
    sessionizer: SessionizerSettings = SessionizerSettings()
    codifier: CodifierSettings = CodifierSettings()
    edge: EdgeSettings = EdgeSettings()
    measure: MeasureSettings = MeasureSettings()
    metrics: MetricsSettings = MetricsSettings()
    # "sim": workers date what they make by event time (runtime.clock); the demo sets it.
    clock: ClockMode = "real"
    log_level: Annotated[LogLevel, _any_case()] = "INFO"
    # SIGTERM: a worker flushes, commits and leaves within this many seconds, broker
    # reachable or not; past it, it exits without (committed work is safe either way).
    stop_grace_s: Annotated[float, Meta(gt=0, le=3600)] = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        sections: dict[str, Any] = {}
        for name, hint in get_type_hints(cls, include_extras=True).items():
            if isinstance(hint, type) and issubclass(hint, Struct):
                sections[name] = _section_from_env(hint, name, env)
            else:
                raw = env.get(f"HIVEMIND_{name.upper()}")
                if raw is not None:
                    sections[name] = _convert(raw, hint, f"HIVEMIND_{name.upper()}",
                                              getattr(cls(), name))
        return cls(**sections)

    def replace(self, **sections: Any) -> Settings:
        """A copy with whole sections or nested fields replaced: replace(lake={"uri": x})."""
        changes: dict[str, Any] = {}
        for name, value in sections.items():
            current = getattr(self, name)
            if isinstance(value, dict) and isinstance(current, Struct):
                changes[name] = msgspec.structs.replace(current, **value)
            else:
                changes[name] = value
        return msgspec.structs.replace(self, **changes)

    def describe(self) -> list[tuple[str, str, str]]:
        """(env var, value, field) rows with secrets masked, for ``hivemind settings``."""
        rows = []
        for section, hint in get_type_hints(type(self), include_extras=True).items():
            if not (isinstance(hint, type) and issubclass(hint, Struct)):
                rows.append((f"HIVEMIND_{section.upper()}", str(getattr(self, section)), section))
                continue
            obj = getattr(self, section)
            for field, fhint in get_type_hints(hint, include_extras=True).items():
                rows.append((_env_name(section, field, fhint), repr_value(getattr(obj, field)),
                             f"{section}.{field}"))
        return rows


def to_env(settings: Settings) -> dict[str, str]:
    """Environment variables that rebuild ``settings`` exactly in a child process
    (secrets revealed: pass them only to processes you start)."""
    env: dict[str, str] = {}
    for section, hint in get_type_hints(type(settings), include_extras=True).items():
        value = getattr(settings, section)
        if not (isinstance(hint, type) and issubclass(hint, Struct)):
            env[f"HIVEMIND_{section.upper()}"] = str(value)
            continue
        for field, fhint in get_type_hints(hint, include_extras=True).items():
            v = getattr(value, field)
            if v is None:
                continue
            if isinstance(v, Secret):
                if not v:
                    continue
                v = v.reveal()
            env[_env_name(section, field, fhint)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return env


def repr_value(value: Any) -> str:
    return repr(value) if isinstance(value, Secret) else str(value)


def env_names() -> set[str]:
    """Every environment variable the settings object reads (deploy files are checked against it)."""
    return {row[0] for row in Settings().describe()}


def _env_name(section: str, field: str, hint: Any) -> str:
    if get_origin(hint) is Annotated:
        for meta in get_args(hint)[1:]:
            if isinstance(meta, Meta) and meta.extra and "env" in meta.extra:
                return str(meta.extra["env"])
    return f"HIVEMIND_{section}_{field}".upper()


def _section_from_env(section_type: type[Struct], section: str, env: Mapping[str, str]) -> Struct:
    values: dict[str, Any] = {}
    defaults = section_type()
    for field, hint in get_type_hints(section_type, include_extras=True).items():
        var = _env_name(section, field, hint)
        raw = env.get(var)
        if raw is None:
            continue
        values[field] = _convert(raw, hint, var, getattr(defaults, field))
    return section_type(**values)


def _convert(raw: str, hint: Any, var: str, default: Any) -> Any:
    """``raw`` parsed and checked against ``hint`` (its type and ``Meta`` rules), or
    :class:`SettingsInvalid` saying what ``var`` may be and how to fix it."""
    base = get_args(hint)[0] if get_origin(hint) is Annotated else hint
    extra: dict[str, Any] = {}
    if get_origin(hint) is Annotated:
        for meta in get_args(hint)[1:]:
            if isinstance(meta, Meta) and meta.extra:
                extra.update(meta.extra)

    def invalid(expected: str) -> SettingsInvalid:
        shown = repr(raw) if len(raw) <= 80 else repr(raw[:80]) + "..."
        return SettingsInvalid(
            f"{var}={shown} is not valid: expected {expected}. Set {var} to such a value, "
            f"or unset it to use the default ({repr_value(default)}).")

    if base is Secret:
        return Secret(raw)
    if extra.get("kind") != "path":
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"UTF-8 text ({_expected(hint, extra)})") from None
    if type(None) in get_args(base) and raw.strip() == "":
        return None
    if extra.get("ignore_case"):
        raw = raw.upper()
    try:
        value = msgspec.convert(raw, hint, strict=False)
    except msgspec.ValidationError:
        raise invalid(_expected(hint, extra)) from None
    if isinstance(value, str) and not _acceptable(value, extra):
        raise invalid(_expected(hint, extra))
    return value


_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST_PORT = re.compile(r"(?:[A-Za-z][A-Za-z0-9_]*://)?"
                        r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?")
_URL = re.compile(r"https?://[^\s/?#]+\S*")
# kind -> (what the error message says it may be, predicate)
_KINDS: dict[str, tuple[str, Any]] = {
    "line": ("text without control characters", lambda v: _printable(v)),
    "name": ("a non-empty name without spaces or control characters",
             lambda v: bool(v) and _printable(v) and not any(c.isspace() for c in v)),
    "path": ("a path (any characters but NUL, not empty)", lambda v: bool(v) and "\0" not in v),
    "ident": ("1 to 256 characters, no control characters, no space at either end "
              "(the contract's identifier)",
              lambda v: 1 <= len(v) <= 256 and v == v.strip() and bool(v) and _printable(v)),
    "workspace": (f"a workspace id: {WORKSPACE_ID_RULE}",
                  lambda v: workspace_id_problem(v) is None),
    "topic": ("a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ -, not '.' or '..'",
              lambda v: _TOPIC.fullmatch(v) is not None and v not in (".", "..")),
    "bootstrap": ("host:port[,host:port...] (ports 1-65535)", lambda v: _is_bootstrap(v)),
    "url": ("an http:// or https:// URL", lambda v: _URL.fullmatch(v) is not None),
    "host": ("a host name or address without spaces",
             lambda v: bool(v) and _printable(v) and not any(c.isspace() for c in v)),
    "shares": ("comma-separated <workspace>=<share in (0, 1)>, e.g. big-team=0.2,ops=0.5 "
               "(empty: none)", lambda v: _is_share_list(v)),
}


def _is_share_list(value: str) -> bool:
    for item in filter(None, (part.strip() for part in value.split(","))):
        workspace, sep, share = item.partition("=")
        try:
            ok = bool(sep) and bool(workspace.strip()) and 0.0 < float(share) < 1.0
        except ValueError:
            ok = False
        if not ok:
            return False
    return True


def _printable(value: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value)


def _is_bootstrap(value: str) -> bool:
    for entry in value.split(","):
        m = _HOST_PORT.fullmatch(entry.strip())
        if m is None or (m.group(1) is not None and not 1 <= int(m.group(1)) <= 65535):
            return False
    return True


def _choices(base: Any) -> tuple[str, ...] | None:
    """The values of a ``Literal`` type (or of the ``Literal`` in ``X | None``)."""
    if get_origin(base) is Literal:
        return tuple(get_args(base))
    if get_origin(base) in (Union, types.UnionType):
        for arg in get_args(base):
            if get_origin(arg) is Literal:
                return tuple(get_args(arg))
    return None


def _acceptable(value: str, extra: dict[str, Any]) -> bool:
    kind = extra.get("kind")
    return kind is None or bool(_KINDS[kind][1](value))


def _expected(hint: Any, extra: dict[str, Any]) -> str:
    """What a field accepts, in words, from its type and rules."""
    base = get_args(hint)[0] if get_origin(hint) is Annotated else hint
    choices = _choices(base)
    if choices is not None:
        case = " (any case)" if extra.get("ignore_case") else ""
        return f"one of {', '.join(choices)}{case}"
    if "kind" in extra:
        return str(_KINDS[extra["kind"]][0])
    if base is bool:
        return "true/false/1/0"
    bounds = {}
    if get_origin(hint) is Annotated:
        for meta in get_args(hint)[1:]:
            if isinstance(meta, Meta):
                bounds.update({k: getattr(meta, k) for k in ("ge", "gt", "le", "lt")
                               if getattr(meta, k) is not None})
    noun = {int: "an integer", float: "a number"}.get(base, str(base))
    parts = [f">= {bounds['ge']}" if "ge" in bounds else "",
             f"> {bounds['gt']}" if "gt" in bounds else "",
             f"<= {bounds['le']}" if "le" in bounds else "",
             f"< {bounds['lt']}" if "lt" in bounds else ""]
    return " ".join([noun, " and ".join(p for p in parts if p)]).strip()
