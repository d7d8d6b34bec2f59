from runtime.settings import Settings, to_env
from runtime.supervisor import child_env


def test_child_sees_only_the_settings_it_is_given():
    parent = {"PATH": "/bin", "HIVEMIND_BOOTSTRAP": "stale:9092", "ANTHROPIC_API_KEY": "sk-real",
              "ANTHROPIC_BASE_URL": "https://example.invalid"}
    settings = Settings.from_env({"HIVEMIND_LAKE": "/tmp/lake"})
    env = child_env(to_env(settings), base=parent, PYTHONPATH="/src")
    assert env["PATH"] == "/bin" and env["PYTHONPATH"] == "/src"
    assert env["HIVEMIND_LAKE"] == "/tmp/lake"
    assert "HIVEMIND_BOOTSTRAP" not in env          # unset in settings: not inherited either
    assert "ANTHROPIC_API_KEY" not in env and "ANTHROPIC_BASE_URL" not in env
    assert Settings.from_env(env) == settings
