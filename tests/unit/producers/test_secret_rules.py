"""The rule set (producers/secrets/rules.py): every rule compiles, its ``lead`` and
``width`` (what lets the detector try it only at or near its keywords) are true of its
pattern, and the pre-compiled cache the hook loads holds the same patterns."""

from __future__ import annotations

import re

import pytest

from hivemind_kafka.producers.secrets.redact import LOCAL_RULES, Redactor

MAX_WIDTH = 4096  # a rule that can match more is "unbounded" (searched over the whole text)


def literal_prefixes(src: str) -> set[str] | None:
    """Every literal text a match of ``src`` can start with (lower-cased), or ``None``
    when some match starts with a non-literal (a class, a repeat)."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    def walk(items, prefixes: set[str]) -> tuple[set[str], bool]:
        for op, av in items:
            if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            if op is c.LITERAL:
                prefixes = {p + chr(av).lower() for p in prefixes}
            elif op is c.IN and len(av) <= 8 and all(o is c.LITERAL for o, _ in av):
                prefixes = {p + chr(v).lower() for p in prefixes for _, v in av}
            elif op is c.SUBPATTERN:
                prefixes, complete = walk(av[-1], prefixes)
                if not complete:
                    return prefixes, False
            elif op is c.BRANCH:
                merged: set[str] = set()
                complete = True
                for alt in av[1]:
                    got, done = walk(alt, set(prefixes))
                    merged |= got
                    complete = complete and done
                prefixes = merged
                if not complete:
                    return prefixes, False
            else:
                return prefixes, False
        return prefixes, True

    found, _ = walk(_parser.parse(src), {""})
    return None if "" in found else found


def max_width(src: str) -> int:
    from re import _parser  # type: ignore[attr-defined]

    hi = _parser.parse(src).getwidth()[1]
    return -1 if hi > MAX_WIDTH else int(hi)


def test_no_rule_is_generated_from_an_outside_rule_set():
    import importlib.util

    assert importlib.util.find_spec("hivemind_kafka.producers.secret_rules") is None
    assert importlib.util.find_spec("hivemind_kafka.producers.gitleaks_sync") is None


@pytest.mark.parametrize("rule", LOCAL_RULES, ids=[f"{r[0]}-{i}" for i, r in enumerate(LOCAL_RULES)])
def test_rule_compiles_and_its_lead_and_width_hold(rule):
    _, src, group, keywords, _, lead, width = rule[:7]
    compiled = re.compile(src)
    assert group <= compiled.groups
    assert keywords and all(k == k.lower() for k in keywords)
    computed = max_width(src)
    if width >= 0:  # a bounded window must hold every match
        assert 0 <= computed <= width
    if lead:  # every match starts with one of the rule's keywords
        prefixes = literal_prefixes(src)
        assert prefixes and all(any(p.startswith(k) for k in keywords) for p in prefixes)


def test_every_pattern_compiles_the_same_from_the_cache():
    compiled = Redactor.compile()
    loaded = Redactor.from_compiled(Redactor.compiled_blob())
    assert loaded is not None
    for i in range(len(compiled._compiled)):
        assert loaded._pattern(i).pattern == compiled._pattern(i).pattern
