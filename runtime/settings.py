"""One typed, frozen settings object for every Hivemind process.

Built once at the entry point with :meth:`Settings.from_env` and passed down; no other
module reads ``os.environ``. Every field has exactly one environment variable: by default
``HIVEMIND_<SECTION>_<FIELD>`` (upper case), or the short name given in the field's
``env`` annotation (``HIVEMIND_BOOTSTRAP``, ``HIVEMIND_LAKE``, ``HIVEMIND_WORKSPACE_ID``,
``HIVEMIND_HOME``, ``ANTHROPIC_API_KEY``...). ``hivemind settings`` prints them all with
secrets masked.

Values are parsed strictly: booleans accept ``true/false/1/0`` only, numbers must parse,
and a bad value raises :class:`runtime.errors.SettingsInvalid` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta, Struct

from runtime.errors import SettingsInvalid
from schemas.holdout import HoldoutDesign


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


class KafkaSettings(Struct, frozen=True, kw_only=True):
    """Where Kafka is and how every client (producer, forwarder, Faust, sink) talks to it."""

    # None means: use the embedded tansu broker recorded in the Hivemind home.
    bootstrap: Annotated[str | None, _env("HIVEMIND_BOOTSTRAP")] = None
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: Secret = Secret("")
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # Short group timeouts: a group join takes about session.timeout on tansu.
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 500
    create_topics: bool = True
    partitions: int = 6
    replication_factor: int = 1
    compression: str = "lz4"


class TopicSettings(Struct, frozen=True, kw_only=True):
    turns: str = "hivemind.turns"
    sessions: str = "hivemind.sessions"
    candidates: str = "hivemind.candidates"
    skills: str = "hivemind.skills"
    dlq: str = "hivemind.dlq"
    ticks: str = "hivemind.sessionizer-ticks"
    # Tombstones on the skills topic must outlive the longest time an agent is offline.
    skills_delete_retention_ms: int = 30 * 24 * 3600 * 1000


class LakeSettings(Struct, frozen=True, kw_only=True):
    uri: Annotated[str, _env("HIVEMIND_LAKE")] = ".hivemind/lake"
    # Flush a table buffer at this many rows or this age, whichever comes first.
    flush_rows: int = 100_000
    flush_seconds: float = 5.0
    # Storage options for s3:// lakes (delta-rs object_store keys).
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
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
    idle_gap_s: int = 1800
    # Ticks drive idle closing; an idle session also waits this long after its last
    # *arrival*, so a backlog replayed from a spool is not closed mid-flight.
    tick_interval_s: float = 10.0
    arrival_grace_s: int = 60
    # Closed-session markers absorb trailing stop/session_end and replays this long.
    closed_retention_s: int = 6 * 3600
    # After that, a compact marker (generation count only) lets a session resumed within
    # this long continue as its next generation with a fresh uid.
    resume_retention_s: int = 7 * 24 * 3600
    max_events_per_session: int = 5000
    max_record_bytes: int = 4 * 1024 * 1024


class CodifierSettings(Struct, frozen=True, kw_only=True):
    api_key: Annotated[Secret, _env("ANTHROPIC_API_KEY")] = Secret("")
    base_url: Annotated[str | None, _env("ANTHROPIC_BASE_URL")] = None
    model: str = "claude-haiku-4-5"
    timeout_s: float = 30.0
    max_retries: int = 3
    daily_token_budget: int = 2_000_000
    max_body_chars: int = 8000


class EdgeSettings(Struct, frozen=True, kw_only=True):
    """The agent side: capture hook, spool, forwarder, skill sync."""

    workspace_id: Annotated[str, _env("HIVEMIND_WORKSPACE_ID")] = "default"
    home: Annotated[str, _env("HIVEMIND_HOME")] = "~/.hivemind"
    agent_kind: str = "coding"
    max_field_bytes: int = 16 * 1024
    linger_ms: int = 200
    batch_max_events: int = 200

    def home_path(self) -> Path:
        return Path(self.home).expanduser()


class MeasureSettings(Struct, frozen=True, kw_only=True):
    """Skill measurement: the switchback holdout (shared by the sync and the report) and
    the report's inference (analytics.attribution, README "Measure")."""

    # Share of agent-periods a skill is withheld in, and the period length (a UTC day).
    holdout_share: float = 0.5
    period_s: int = 86_400
    # Per-workspace shares, "ws-a=0.2,ws-b=0.5": a large fleet can afford a smaller one.
    # The edge machines of a workspace and the measure job must read the same value.
    holdout_shares: str = ""
    # Confidence of every interval (anytime-valid confidence sequences).
    confidence: float = 0.95
    # Randomized clusters (agent-periods) each cohort needs before any verdict.
    min_clusters: int = 10
    # False-discovery rate across a workspace's skills (e-BH) for verdicts and retirement.
    fdr: float = 0.10
    # Effect size (probability points) the "days to a verdict" plan is computed for.
    planning_effect: float = 0.05

    def __post_init__(self) -> None:
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
    host: str = "127.0.0.1"
    # 0 disables the endpoint; each component adds its own offset to this base port.
    port: int = 0


class Settings(Struct, frozen=True, kw_only=True):
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    lake: LakeSettings = LakeSettings()
    sessionizer: SessionizerSettings = SessionizerSettings()
    codifier: CodifierSettings = CodifierSettings()
    edge: EdgeSettings = EdgeSettings()
    measure: MeasureSettings = MeasureSettings()
    metrics: MetricsSettings = MetricsSettings()
    log_level: str = "INFO"

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
                    sections[name] = _convert(raw, hint, f"HIVEMIND_{name.upper()}")
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
    for field, hint in get_type_hints(section_type, include_extras=True).items():
        var = _env_name(section, field, hint)
        raw = env.get(var)
        if raw is None:
            continue
        base = get_args(hint)[0] if get_origin(hint) is Annotated else hint
        values[field] = _convert(raw, base, var)
    return section_type(**values)


def _convert(raw: str, hint: Any, var: str) -> Any:
    if hint is Secret:
        return Secret(raw)
    optional = type(None) in get_args(hint)
    if optional and raw.strip() == "":
        return None
    try:
        return msgspec.convert(raw, hint, strict=False)
    except msgspec.ValidationError as exc:
        expected = "true/false/1/0" if hint is bool else str(hint)
        raise SettingsInvalid(f"{var}={raw!r} is not valid: expected {expected} ({exc})") from None
