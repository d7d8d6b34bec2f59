"""Standard JSON for the hook hot path, without importing :mod:`json`.

Guarantee: :func:`loads` and :func:`dumps` behave like ``json.loads`` / ``json.dumps``
with ``ensure_ascii=True`` and compact separators (the output is one ASCII line with no
raw newline, which the spool relies on). They call the C accelerator ``_json`` that
``json`` itself uses; importing ``json`` would also import ``re`` and ``enum`` (~8 ms
here, most of the hook's budget). Where ``_json`` is missing they fall back to ``json``.

Failure: :func:`loads` raises :class:`ValueError` (``json.JSONDecodeError`` is a
subclass) on anything that is not exactly one JSON document; :func:`dumps` raises
:class:`TypeError` on values JSON cannot represent and :class:`ValueError` on NaN/inf.
"""

from __future__ import annotations

import os

try:
    import _json
except ImportError:  # pragma: no cover - non-CPython interpreters
    _json = None  # type: ignore[assignment]

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


def _reject(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


if _json is not None:
    _scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
    _encode = _json.make_encoder(
        {}, _reject, _json.encode_basestring_ascii, None, ":", ",", False, False, False
    )

    def loads(text: str | bytes) -> object:
        """Parse exactly one JSON document (bytes are decoded as UTF-8)."""
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8")
        start = len(text) - len(text.lstrip(_WS))
        try:
            value, end = _scan(text, start)
        except StopIteration as exc:
            raise ValueError(f"Expecting value at char {exc.value}") from None
        if text[end:].strip(_WS):
            raise ValueError(f"Extra data at char {end}")
        return value

    def dumps(value: object) -> str:
        """One compact ASCII line: no spaces, no raw newlines, NaN/inf refused."""
        return "".join(_encode(value, 0))

else:  # pragma: no cover
    import json as _std

    def loads(text: str | bytes) -> object:
        return _std.loads(text)

    def dumps(value: object) -> str:
        return _std.dumps(value, separators=(",", ":"), allow_nan=False)


def read_object(path: str | os.PathLike[str]) -> dict | None:
    """The JSON object in the file at ``path``; ``None`` when the file is missing or
    unreadable, or holds anything but one JSON object (a broken file reads as none)."""
    try:
        with open(path, "rb") as f:
            value = loads(f.read())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
