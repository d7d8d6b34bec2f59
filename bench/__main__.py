"""``make bench``: run every benchmark module in turn and print one table of figures.

    python -m bench                       # all of them, one after another
    python -m bench sessionizer processor # some of them
    python -m bench.<module> --help       # what one of them runs and its settings

Modules: capture, forwarder, processor, sessionizer, sink, lake (``make eval`` runs the
guard and attribution evaluations).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

MODULES = ["bench.capture", "bench.forwarder", "bench.processor", "bench.sessionizer", "bench.sink", "bench.lake"]


def main(argv: list[str]) -> int:
    from bench import help_requested

    if help_requested(__doc__):
        return 0
    wanted = [m if m.startswith("bench.") else f"bench.{m}" for m in argv] or MODULES
    results: dict[str, dict[str, float]] = {}
    failed = []
    for name in wanted:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                print(f"[{name}] not present, skipped", flush=True)
                continue
            raise
        print(f"\n[{name}] running...", flush=True)
        t0 = time.monotonic()
        try:
            results[name] = module.run()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        print(f"[{name}] done in {time.monotonic() - t0:.0f}s", flush=True)
    print("\n== figures (one run, this machine) ==")
    for name, figures in results.items():
        for key, value in figures.items():
            print(f"{name:<22} {key:<44} {value:>14,.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
