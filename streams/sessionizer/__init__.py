"""The sessionizer: turn events -> closed sessions and codification candidates.

``logic`` is the pure state machine (no Faust), ``index`` the per-partition deadline index,
``processor`` the adapter that orders sends before state writes, ``app`` the Faust wiring,
``worker`` the blocking entry point (``run_worker``), ``python -m hivemind_kafka.streams.sessionizer`` the
command. Importing this package imports no Faust.
"""
