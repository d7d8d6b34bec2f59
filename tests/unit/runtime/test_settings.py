import pytest

from hivemind_kafka.runtime.errors import SettingsInvalid
from hivemind_kafka.runtime.settings import Secret, Settings, env_names


def test_short_env_names_reach_their_fields():
    s = Settings.from_env({"HIVEMIND_BOOTSTRAP": "k:9092", "HIVEMIND_LAKE": "s3://b/p",
                           "HIVEMIND_WORKSPACE_ID": "acme"})
    assert (s.kafka.bootstrap, s.lake.uri, s.edge.workspace_id) == ("k:9092", "s3://b/p", "acme")


def test_section_env_names_parse_types():
    s = Settings.from_env({"HIVEMIND_KAFKA_PARTITIONS": "12", "HIVEMIND_KAFKA_CREATE_TOPICS": "false",
                           "HIVEMIND_LAKE_FLUSH_SECONDS": "2.5"})
    assert s.kafka.partitions == 12 and s.kafka.create_topics is False and s.lake.flush_seconds == 2.5


@pytest.mark.parametrize("raw", ["yes", "maybe", ""])
def test_boolean_accepts_only_true_false_one_zero(raw):
    with pytest.raises(SettingsInvalid, match="HIVEMIND_KAFKA_CREATE_TOPICS"):
        Settings.from_env({"HIVEMIND_KAFKA_CREATE_TOPICS": raw})


def test_bad_number_names_the_variable():
    with pytest.raises(SettingsInvalid, match="HIVEMIND_KAFKA_PARTITIONS='six'"):
        Settings.from_env({"HIVEMIND_KAFKA_PARTITIONS": "six"})


def test_secrets_never_print():
    s = Settings.from_env({"ANTHROPIC_API_KEY": "sk-ant-api03-abcdef", "HIVEMIND_KAFKA_SASL_PASSWORD": "hunter2"})
    text = repr(s) + str(s.describe())
    assert "sk-ant-api03-abcdef" not in text and "hunter2" not in text
    assert s.codifier.api_key.reveal() == "sk-ant-api03-abcdef"
    assert Secret("x") == Secret("x") and not Secret("")


def test_env_names_cover_short_aliases():
    names = env_names()
    assert {"HIVEMIND_BOOTSTRAP", "HIVEMIND_LAKE", "HIVEMIND_WORKSPACE_ID", "HIVEMIND_HOME",
            "ANTHROPIC_API_KEY"} <= names


def test_replace_changes_nested_field_only():
    s = Settings.from_env({}).replace(lake={"uri": "/x"})
    assert s.lake.uri == "/x" and s.lake.flush_rows == Settings().lake.flush_rows


def test_to_env_round_trips_every_field_including_secrets():
    from hivemind_kafka.runtime.settings import to_env

    s = Settings.from_env({"ANTHROPIC_API_KEY": "k", "HIVEMIND_KAFKA_CREATE_TOPICS": "false",
                           "HIVEMIND_SESSIONIZER_IDLE_GAP_S": "5", "HIVEMIND_BOOTSTRAP": "h:1"})
    assert Settings.from_env(to_env(s)) == s
