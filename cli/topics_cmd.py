"""``hivemind topics`` (create/list), ``hivemind settings``, ``hivemind schemas``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("topics", help="create the Hivemind topics (idempotent) and list them")
    p.set_defaults(run=run_topics)
    p = sub.add_parser("settings", help="print every HIVEMIND_* setting with secrets masked")
    p.set_defaults(run=run_settings)
    p = sub.add_parser("schemas", help="print (or --write) the JSON Schemas of every contract")
    p.add_argument("--write", metavar="DIR", help="write <Contract>.json files into DIR")
    p.set_defaults(run=run_schemas)


def run_topics(args, settings) -> int:
    from hivemind_kafka.runtime.kafka import ensure_topics, resolve_bootstrap
    from hivemind_kafka.schemas.topics import topic_specs

    created = ensure_topics(settings)
    print(f"kafka: {resolve_bootstrap(settings)}")
    for spec in topic_specs(settings.topics, max_record_bytes=settings.sessionizer.max_record_bytes):
        mark = "created" if spec.name in created else "exists"
        compact = " compacted" if spec.compacted else ""
        configs = " ".join(f"{k}={v}" for k, v in sorted(spec.configs.items()))
        print(f"  {spec.name:<32} key={spec.key:<26} value={spec.value}{compact} [{mark}]"
              + (f"\n  {'':<32} {configs}" if configs else ""))
    return 0


def run_settings(args, settings) -> int:
    for env, value, field in settings.describe():
        print(f"{env:<40} {value:<30} ({field})")
    return 0


def run_schemas(args, settings) -> int:
    from hivemind_kafka.schemas.export import json_schemas

    schemas = json_schemas()
    if args.write:
        out = Path(args.write)
        out.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas.items():
            (out / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        print(f"wrote {len(schemas)} schemas to {out}")
    else:
        print(json.dumps(schemas, indent=2, sort_keys=True))
    return 0
