"""The command line registers every command module, and a missing one is an error."""

from __future__ import annotations

import pytest

from hivemind_kafka.cli import main as cli_main


def test_a_missing_command_module_fails_loudly(monkeypatch):
    monkeypatch.setattr(cli_main, "COMMAND_MODULES",
                        [*cli_main.COMMAND_MODULES, "hivemind_kafka.cli.no_such_command"])
    with pytest.raises(ModuleNotFoundError, match=r"cli\.no_such_command"):
        cli_main.main(["--help"])


def test_every_command_module_registers(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("broker", "up", "demo", "topics", "install", "agentd", "skills", "report",
                    "sql"):
        assert command in out
