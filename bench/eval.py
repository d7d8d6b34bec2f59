"""``make eval``: the guard-corpus rates and the attribution simulator's rates, in one run."""

from __future__ import annotations

import sys

from bench import eval_attribution, eval_guards, eval_secrets


def main() -> int:
    print("== codify guards on their labelled corpora ==", flush=True)
    guards = eval_guards.run()
    print("\n== secrets: edge redaction and the codifier's guard on the secrets corpus ==",
          flush=True)
    secrets = eval_secrets.run()
    print("\n== attribution on the fleet simulator ==", flush=True)
    attribution = eval_attribution.run()
    print("\n== figures ==")
    for name, figures in (("guards", guards), ("secrets", secrets),
                          ("attribution", attribution)):
        for key, value in figures.items():
            print(f"{name:<12} {key:<48} {value:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
