"""Attribution eval on the hostile fleet simulator (analytics.eval), as ``make eval`` runs it.

``python -m bench.eval_attribution`` prints the issue's table (helpful found effective,
harmful retired, non-harmful retired, share of wrong retirements, interval coverage per
bucket of held-out agent-periods) at 20k, 100k and 500k sessions with the measure job's
looks replayed daily, the same by fleet size, hourly looks at 100k, and the carry-over
sweep; ``run()`` returns the headline figures. ``--quick``: 20k sessions only.
"""

from __future__ import annotations

import sys

from hivemind_kafka.analytics.eval import SCALES, run_all

HEADLINE = ("helpful_found", "harmful_retired", "non_harmful_retired", "wrong_retirement_share",
            "coverage", "coverage_held_2-9", "coverage_held_10-49", "coverage_held_50+")


def run(*, quick: bool = False) -> dict[str, float]:
    scales = SCALES[:1] if quick else SCALES
    figures = run_all(scales=scales, lake=not quick, frequent=not quick, carryover=not quick)
    return {f"{n // 1000}k_{key}": figures[f"{n // 1000}k_{key}"]
            for n in scales for key in HEADLINE if f"{n // 1000}k_{key}" in figures}


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    run(quick="--quick" in sys.argv[1:])
