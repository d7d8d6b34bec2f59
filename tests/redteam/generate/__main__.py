"""``python -m tests.redteam.generate [--check]``: write the corpus files, or check that the
committed ones are exactly what the generator writes (exit 1 and name them if not)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from msgspec import Struct

from tests.redteam.corpus import DATA_DIR, encode_line
from tests.redteam.generate import drafts, injections, lookalikes, secrets


def render() -> dict[str, bytes]:
    parts: dict[str, Sequence[Struct]] = {
        "injections.jsonl": injections.build(),
        "secrets.jsonl": secrets.build(),
        "lookalikes.jsonl": lookalikes.build(),
        "draft_sessions.jsonl": drafts.sessions(),
        "drafts.jsonl": drafts.build(),
    }
    return {name: b"".join(encode_line(v) for v in values) for name, values in parts.items()}


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [n for n, data in files.items()
                 if not (DATA_DIR / n).exists() or (DATA_DIR / n).read_bytes() != data]
        if stale:
            print(f"stale corpus files: {', '.join(stale)}; run python -m tests.redteam.generate")
            return 1
        print("corpus files are up to date")
        return 0
    DATA_DIR.mkdir(exist_ok=True)
    for name, data in files.items():
        (DATA_DIR / name).write_bytes(data)
        print(f"wrote {DATA_DIR / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
