"""``python -m hivemind_kafka.streams.sessionizer [--worker-id N] [--app-id ID]``: one worker process,
configured from HIVEMIND_* environment variables (see ``hivemind settings``)."""

from __future__ import annotations

import argparse
import sys

from hivemind_kafka.runtime import logs
from hivemind_kafka.runtime.errors import HivemindError
from hivemind_kafka.runtime.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hivemind_kafka.streams.sessionizer",
                                     description="Run one sessionizer worker.")
    parser.add_argument("--worker-id", default="1",
                        help="distinguishes workers on one machine (Faust data dir)")
    parser.add_argument("--app-id", default=None,
                        help="Faust app id = consumer group and changelog prefix "
                             "(default hivemind-sessionizer, suffixed with the turns topic "
                             "when topics are renamed)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, component="sessionizer")
        from hivemind_kafka.streams.sessionizer.worker import run_worker

        run_worker(settings, worker_id=args.worker_id, app_id=args.app_id)
    except HivemindError as exc:
        print(f"sessionizer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
