"""Benchmarks: figures printed from one run, compared as ratios within that run.

Each module ``bench/<area>.py`` exposes ``run() -> dict[str, float]`` and can run alone
(``python -m bench.<area>``); ``make bench`` runs them all in one process tree, one after
another, so the ratios compare numbers measured on the same machine minutes apart.
"""

import sys


def help_requested(doc: str | None) -> bool:
    """``-h``/``--help`` on the command line: print the module's docstring (what it runs
    and its settings) instead of running it."""
    if {"-h", "--help"} & set(sys.argv[1:]):
        print((doc or "").strip())
        return True
    return False
