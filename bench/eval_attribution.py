"""Attribution eval on the simulated fleet: detection power, false positives, retirement.

``python -m bench.eval_attribution`` (``make eval``) prints the figures of
analytics.eval for the default (300 skills, 4,500 sessions per workspace, 10 % holdout)
and the small (1,000 sessions) configuration, and the clustered-agents check (coverage
with and without the per-agent design effect), and returns them from ``run()``.
"""

from __future__ import annotations

import time

from analytics.eval import (
    CLUSTERED_EVAL,
    DEFAULT_EVAL,
    SMALL_EVAL,
    evaluate,
    evaluate_clustering,
    print_figures,
)


def run() -> dict[str, float]:
    out: dict[str, float] = {}
    for title, config in (("default", DEFAULT_EVAL), ("small", SMALL_EVAL)):
        t0 = time.perf_counter()
        figures = evaluate(config)
        print_figures(f"attribution {title}: {config.workspaces * config.skills_per_workspace} "
                      f"skills, {config.sessions_per_workspace} sessions/workspace, holdout "
                      f"{config.held_out_share:.0%}", figures, time.perf_counter() - t0)
        out.update({f"attribution_{title}_{k}": v for k, v in figures.items()})
    t0 = time.perf_counter()
    figures = evaluate_clustering(CLUSTERED_EVAL)
    print_figures("attribution clustered: agents differ (sd 15pp), 100 agents/workspace",
                  figures, time.perf_counter() - t0)
    out.update({f"attribution_clustered_{k}": v for k, v in figures.items()})
    return out


if __name__ == "__main__":
    run()
