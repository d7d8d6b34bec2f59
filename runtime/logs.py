"""Logging set-up, done once at the entry point. Modules only call getLogger(__name__)."""

from __future__ import annotations

import logging
import sys


def configure(level: str = "INFO", *, component: str = "") -> None:
    prefix = f"{component} " if component else ""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    # Faust/aiokafka/mode are chatty at INFO; their warnings still show.
    for noisy in ("faust", "mode", "aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
