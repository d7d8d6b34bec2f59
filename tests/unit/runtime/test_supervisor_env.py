from hivemind_kafka.runtime.settings import Settings, to_env
from hivemind_kafka.runtime.supervisor import child_env


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


def test_worker_logs_are_private_even_if_an_older_log_was_not(tmp_path):
    """Worker logs can quote inputs (captured prompts): 0600 files in a 0700 directory,
    whatever the umask, and a log file from before this rule is tightened too."""
    import os
    import stat
    import sys

    from hivemind_kafka.runtime.supervisor import Supervisor

    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    old = logs / "sink-1.log"
    old.write_text("")
    old.chmod(0o644)
    env = {"PATH": os.environ.get("PATH", ""), "HIVEMIND_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    sup = Supervisor(env=env, log_dir=logs, components=["sink"])
    sup.start()
    try:
        assert stat.S_IMODE(logs.stat().st_mode) == 0o700
        assert stat.S_IMODE(old.stat().st_mode) == 0o600
    finally:
        sup.stop(grace_s=10)
