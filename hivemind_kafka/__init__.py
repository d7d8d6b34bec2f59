"""Hivemind on Kafka: capture → codify → propagate for fleets of AI agents.

The one import namespace of what users install (the distribution is ``hivemind-kafka``, so
the import name is ``hivemind_kafka``; the PyPI name ``hivemind`` and its import name belong
to an unrelated deep-learning library): ``hivemind_kafka.schemas``, ``.runtime``,
``.producers``, ``.sinks``, ``.streams``, ``.analytics`` and ``.cli``. In the repository the
code lives in the top-level folders the data path names (``producers/``, ``streams/``, ...);
``hivemind_kafka/<folder>`` are symlinks to them, and the wheel maps each folder under
``hivemind_kafka/``, so an application embedding the SDK never gets a top-level
``analytics``, ``cli`` or ``runtime`` that could clash with its own packages.
"""
