"""Contracts: one definition per record; JSON Schema and Arrow schemas are generated.

Imported by every other package; imports none of them (only msgspec, and pyarrow in
``schemas.arrow``). Keep this ``__init__`` empty of imports: the capture hook's start-up
time depends on it.
"""
