"""Benchmarks: figures printed from one run, compared as ratios within that run.

Each module ``bench/<area>.py`` exposes ``run() -> dict[str, float]`` and can run alone
(``python -m bench.<area>``); ``make bench`` runs them all in one process tree, one after
another, so the ratios compare numbers measured on the same machine minutes apart.
"""
