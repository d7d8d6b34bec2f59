"""``python -m hivemind_kafka.streams.codifier``: run the codify job with settings from the environment."""

from __future__ import annotations

import sys


def main() -> int:
    from hivemind_kafka.runtime import logs
    from hivemind_kafka.runtime.errors import HivemindError
    from hivemind_kafka.runtime.settings import Settings
    from hivemind_kafka.streams.codifier.app import run_codifier

    settings = Settings.from_env()
    logs.configure(settings.log_level, component="codifier")
    try:
        run_codifier(settings)
    except HivemindError as exc:
        print(f"codifier: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
