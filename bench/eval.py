"""``make eval``: the guard-corpus rates, the attribution simulator's rates and the
red-team corpus figures (bench.eval_redteam), in one run."""

from __future__ import annotations

import sys

from bench import eval_attribution, eval_guards, eval_redteam, eval_secrets


def main() -> int:
    print("== codify guards on their labelled corpora ==", flush=True)
    guards = eval_guards.run()
    print("\n== secrets: edge redaction and the codifier's guard on the secrets corpus ==",
          flush=True)
    secrets = eval_secrets.run()
    print("\n== attribution on the fleet simulator ==", flush=True)
    attribution = eval_attribution.run()
    print("\n== red-team corpus (tests/redteam), through the real hook, SDK and resolve() ==",
          flush=True)
    redteam = eval_redteam.run()
    print("\n== figures ==")
    for name, figures in (("guards", guards), ("secrets", secrets),
                          ("attribution", attribution), ("redteam", redteam)):
        for key, value in figures.items():
            print(f"{name:<12} {key:<48} {value:>10.3f}")
    return 0


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    sys.exit(main())
