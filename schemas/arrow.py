"""Arrow schemas generated from the msgspec contracts (never written by hand twice).

``arrow_schema(TurnEvent)`` maps each field's annotation to an Arrow type: str/enum →
string, int → int64, float → float64, bool → bool, aware datetime → timestamp[us, UTC],
bytes → binary, list[str] → list<string>, dict[str, int] → map<string, int64>, nested
structs → JSON text (string). Optional fields are nullable; required ones are not.
"""

from __future__ import annotations

import datetime as _dt
import enum
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import msgspec
import pyarrow as pa

_json = msgspec.json.Encoder()


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(base type, nullable)."""
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        nullable = len(args) < len(get_args(hint))
        base, _ = _unwrap(args[0]) if len(args) == 1 else (str, True)
        return base, nullable
    return hint, False


def arrow_type(hint: Any) -> pa.DataType:
    base, _ = _unwrap(hint)
    origin = get_origin(base)
    if origin is list:
        (item,) = get_args(base)
        item_base, _ = _unwrap(item)
        if isinstance(item_base, type) and issubclass(item_base, msgspec.Struct):
            return pa.string()  # list of structs: JSON text
        return pa.list_(arrow_type(item))
    if origin is dict:
        k, v = get_args(base)
        return pa.map_(arrow_type(k), arrow_type(v))
    if isinstance(base, type):
        if issubclass(base, bool):
            return pa.bool_()
        if issubclass(base, enum.Enum) or issubclass(base, str):
            return pa.string()
        if issubclass(base, int):
            return pa.int64()
        if issubclass(base, float):
            return pa.float64()
        if issubclass(base, bytes):
            return pa.binary()
        if issubclass(base, _dt.datetime):
            return pa.timestamp("us", tz="UTC")
        if issubclass(base, _dt.date):
            return pa.date32()
        if issubclass(base, msgspec.Struct):
            return pa.string()
    raise TypeError(f"no Arrow mapping for {hint!r}")


def _is_struct_field(hint: Any) -> bool:
    base, _ = _unwrap(hint)
    if isinstance(base, type) and issubclass(base, msgspec.Struct):
        return True
    if get_origin(base) is list:
        item, _ = _unwrap(get_args(base)[0])
        return isinstance(item, type) and issubclass(item, msgspec.Struct)
    return False


def arrow_schema(struct_type: type[msgspec.Struct], *, exclude: Iterable[str] = (),
                 extra: Sequence[pa.Field] = ()) -> pa.Schema:
    """The Arrow schema of ``struct_type``'s fields, minus ``exclude``, plus ``extra``."""
    skip = set(exclude)
    fields = []
    for name, hint in get_type_hints(struct_type, include_extras=True).items():
        if name in skip:
            continue
        _, nullable = _unwrap(hint)
        has_default = name in _defaults(struct_type)
        fields.append(pa.field(name, arrow_type(hint), nullable=nullable or has_default))
    return pa.schema([*fields, *extra])


def _defaults(struct_type: type[msgspec.Struct]) -> set[str]:
    info = msgspec.inspect.type_info(struct_type)
    return {f.name for f in info.fields if not f.required}  # type: ignore[attr-defined]


def table_from_structs(struct_type: type[msgspec.Struct], rows: Sequence[msgspec.Struct],
                       schema: pa.Schema, *, extra_columns: dict[str, list] | None = None
                       ) -> pa.Table:
    """Columns straight from attributes (no per-row dicts): the sink's hot path."""
    hints = get_type_hints(struct_type, include_extras=True)
    arrays = []
    extra_columns = extra_columns or {}
    for field in schema:
        if field.name in extra_columns:
            values = extra_columns[field.name]
        else:
            values = [getattr(r, field.name) for r in rows]
            if _is_struct_field(hints[field.name]):
                values = [None if v is None else _json.encode(v).decode() for v in values]
            elif pa.types.is_map(field.type):
                values = [None if v is None else list(v.items()) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
