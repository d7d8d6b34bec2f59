"""The corpus generator (``python -m tests.redteam.generate``): templates + fixed seeds in,
``tests/redteam/data/*.jsonl`` out. The data files are committed; the shape test checks
that they are exactly what this generator writes, so nobody edits them by hand."""
