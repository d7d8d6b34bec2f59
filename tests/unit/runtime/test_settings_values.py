"""Settings values as an operator (or a broken deploy file) types them: every variable,
any text. Outcome for each is a Settings object whose values are in range, or one
SettingsInvalid naming the variable, what it may be and the fix; never another error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemind_kafka.runtime.errors import SettingsInvalid
from hivemind_kafka.runtime.settings import Settings, env_names, to_env

NAMES = sorted(env_names())
EDGE_VALUES = ["", " ", "-1", "0", "1", "nan", "inf", "-inf", "1e309", "9" * 30, "1.5",
               "true", "x\x00y", "\ud800", "\udcff", "a\nb", "\u2028", " 12 ", "0x10", "1e3",
               "DEBUG", "lz4", "PLAINTEXT", "coding", "hivemind.turns", "h:9092", "a" * 300]


def _outcome(env: dict[str, str]) -> Settings | SettingsInvalid:
    try:
        return Settings.from_env(env)
    except SettingsInvalid as exc:
        return exc


@pytest.mark.parametrize("name", NAMES)
def test_every_variable_takes_any_edge_value_without_crashing(name):
    for value in EDGE_VALUES:
        result = _outcome({name: value})
        if isinstance(result, SettingsInvalid):
            text = str(result)
            assert text.startswith(f"{name}=") and "expected" in text, text
            assert f"Set {name} to such a value, or unset it" in text, text
        else:  # accepted: it survives the trip to a child process unchanged
            assert Settings.from_env(to_env(result)) == result


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=st.dictionaries(st.sampled_from(NAMES), st.text(max_size=40), max_size=6))
def test_any_environment_gives_settings_or_one_clear_error(env):
    result = _outcome(env)
    if isinstance(result, SettingsInvalid):
        assert any(str(result).startswith(f"{n}=") for n in env)
    else:
        assert Settings.from_env(to_env(result)) == result


@pytest.mark.parametrize("name,value,says", [
    ("HIVEMIND_KAFKA_PARTITIONS", "0", "an integer >= 1 and <= 10000"),
    ("HIVEMIND_KAFKA_PARTITIONS", "1e30", "an integer >= 1"),
    ("HIVEMIND_KAFKA_COMPRESSION", "brotli", "one of none, gzip, snappy, lz4, zstd"),
    ("HIVEMIND_KAFKA_SECURITY_PROTOCOL", "TLS", "one of PLAINTEXT, SSL, SASL_PLAINTEXT"),
    ("HIVEMIND_KAFKA_SASL_MECHANISM", "scram", "one of PLAIN, SCRAM-SHA-256"),
    ("HIVEMIND_BOOTSTRAP", "kafka:99999", "host:port[,host:port...]"),
    ("HIVEMIND_BOOTSTRAP", "kafka 9092", "host:port"),
    ("HIVEMIND_TOPICS_TURNS", "my topic", "a Kafka topic name"),
    ("HIVEMIND_TOPICS_SKILLS", "..", "a Kafka topic name"),
    ("HIVEMIND_TOPICS_DLQ", "t" * 250, "a Kafka topic name"),
    ("HIVEMIND_WORKSPACE_ID", "w" * 81, "1 to 80 bytes of UTF-8"),
    ("HIVEMIND_WORKSPACE_ID", "中" * 27, "26 CJK characters"),  # 81 bytes: a lake path > 255
    ("HIVEMIND_WORKSPACE_ID", "acme\n", "printable"),
    ("HIVEMIND_WORKSPACE_ID", " acme", "no space at either end"),
    ("HIVEMIND_WORKSPACE_ID", "ac\ud800me", "UTF-8 text"),
    ("HIVEMIND_EDGE_AGENT_KIND", "robot", "one of coding, support, sdr, other"),
    ("HIVEMIND_EDGE_BATCH_MAX_EVENTS", "0", "an integer >= 1"),
    ("HIVEMIND_EDGE_LINGER_MS", "-5", "an integer >= 0"),
    ("HIVEMIND_SESSIONIZER_TICK_INTERVAL_S", "nan", "a number > 0"),
    ("HIVEMIND_SESSIONIZER_TICK_INTERVAL_S", "inf", "<= 3600"),
    ("HIVEMIND_LAKE_FLUSH_SECONDS", "0", "a number > 0"),
    ("HIVEMIND_METRICS_PORT", "70000", "<= 65530"),
    ("HIVEMIND_LOG_LEVEL", "verbose", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("HIVEMIND_KAFKA_SECURITY_PROTOCOL", "ssl", "one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ("HIVEMIND_KAFKA_SASL_MECHANISM", "md5", "one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
    ("HIVEMIND_KAFKA_COMPRESSION", "LZ4", "one of none, gzip, snappy, lz4, zstd"),
    ("HIVEMIND_HOME", "", "a path"),
    ("HIVEMIND_HOME", "/tmp/a\x00b", "a path"),
    ("ANTHROPIC_BASE_URL", "ftp://x", "an http:// or https:// URL"),
    ("HIVEMIND_KAFKA_CREATE_TOPICS", "yes", "true/false/1/0"),
])
def test_bad_value_error_names_the_variable_the_valid_choices_and_the_fix(name, value, says):
    with pytest.raises(SettingsInvalid) as err:
        Settings.from_env({name: value})
    text = str(err.value)
    assert text.startswith(f"{name}=") and says in text, text
    assert "or unset it to use the default" in text


@pytest.mark.parametrize("name,value", [
    ("HIVEMIND_BOOTSTRAP", "broker-1:9092,broker-2:9092"),
    ("HIVEMIND_BOOTSTRAP", "SASL_SSL://b.example.com:9096"),
    ("HIVEMIND_BOOTSTRAP", "[::1]:9092"),
    ("HIVEMIND_LOG_LEVEL", "debug"),
    ("HIVEMIND_WORKSPACE_ID", "acme/platform team ü"),
    ("HIVEMIND_HOME", "/home/dev/\udcffnon-utf8-dir"),  # os.environ's surrogateescape
    ("HIVEMIND_KAFKA_SASL_MECHANISM", ""),
    ("ANTHROPIC_BASE_URL", "http://127.0.0.1:8080/v1"),
])
def test_good_values_are_kept(name, value):
    result = _outcome({name: value})
    assert isinstance(result, Settings), result


def test_the_shipped_deploy_settings_pass_the_value_rules():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[3] / "deploy"
    configmap = yaml.safe_load((root / "k8s" / "configmap.yaml").read_text())["data"]
    compose = yaml.safe_load((root / "compose.yaml").read_text())["x-hivemind-env"]
    for env in (configmap, compose):
        assert isinstance(_outcome({k: str(v) for k, v in env.items()}), Settings)


def test_every_choice_setting_is_a_literal_type():
    """Choices live in the type (mypy checks code that builds settings), not in a comment."""
    from typing import Literal, get_args, get_origin, get_type_hints

    from hivemind_kafka.runtime import settings as mod

    def literal_in(hint) -> bool:
        args = get_args(hint)
        return get_origin(hint) is Literal or any(literal_in(a) for a in args)

    choice_fields = {"kafka.security_protocol", "kafka.sasl_mechanism", "kafka.compression",
                     "edge.agent_kind", "log_level"}
    hints = get_type_hints(mod.Settings, include_extras=True)
    for dotted in choice_fields:
        section, _, field = dotted.rpartition(".")
        hint = get_type_hints(hints[section], include_extras=True)[field] if section \
            else hints[field]
        assert literal_in(hint), dotted
