"""`hivemind worker codifier` leaves its summary for `hivemind demo` in the home."""

from __future__ import annotations

import argparse
import json
import stat

from hivemind_kafka.cli.up import run_worker
from hivemind_kafka.runtime.settings import Settings


def test_codifier_worker_writes_its_summary_privately_even_when_it_fails(tmp_path, monkeypatch):
    import pytest

    from hivemind_kafka.streams.codifier import app

    def stopped(settings) -> None:
        raise KeyboardInterrupt  # Ctrl-C: the summary is still written

    monkeypatch.setattr(app, "run_codifier", stopped)
    settings = Settings().replace(edge={"home": str(tmp_path)})
    with pytest.raises(KeyboardInterrupt):
        run_worker(argparse.Namespace(component="codifier", id="7"), settings)
    out = tmp_path / "codifier" / "summary-7.json"
    assert isinstance(json.loads(out.read_text()), dict)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in out.parent.iterdir()) == ["summary-7.json"]
