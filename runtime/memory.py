"""The garbage collector's settings for a long-running stage process that allocates per
record in Python (the sessionizer worker; the Delta sink, whose batches are Arrow's, measured
no gain from them: 147-179k rows/s with them against 166-173k without, same session).

A stage decodes a batch of records into many small objects, keeps them while it works
and drops them together. CPython's defaults (collect the youngest generation every 700
net allocations; full collections scan everything alive, the framework and modules
included) make that pay again and again for objects that are about to die or never
will. :func:`tune_gc` is called once, when the process has built its app and before it
serves.
"""

from __future__ import annotations

import gc

# The youngest generation's threshold, against CPython's 700: a batch allocates millions.
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Collect garbage as a batch job should: everything alive now (modules, the framework's
    services, the app) moves to the permanent generation, so full collections stop
    scanning it (``gc.freeze``), and the youngest generation is collected per
    ``GC_GEN0_THRESHOLD`` allocations instead of 700. Cycles are still collected; a
    generation holds at most that many more objects (a few MB) before they are.

    Measured on the sessionizer's processor alone (``python -m bench.processor``, 50-event
    records): the collector's share of CPU fell from about 5% to 1%."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
