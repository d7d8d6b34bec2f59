"""The red-team corpus: injection sessions, secret lines, look-alikes and skill drafts.

Written apart from the defences (see README.md); :mod:`tests.redteam.corpus` loads it,
:mod:`tests.redteam.markers` decides whether a label was violated, and
``bench/eval_redteam.py`` feeds every case through the real entry points.
"""
