"""The rule set: gitleaks' rules translated faithfully (producers/gitleaks_sync.py), the
generated module consistent with its upstream record, and every rule's ``lead``/``width``
(what lets the detector try it only at keyword positions) true of its pattern."""

from __future__ import annotations

import re

import pytest

from producers import gitleaks_sync, secret_rules
from producers.gitleaks_sync import convert_rule, literal_prefixes, max_width, translate
from producers.redact import LOCAL_RULES, Redactor

ALL_RULES = [(*r, "", False) for r in secret_rules.RULES] + list(LOCAL_RULES)


def test_mid_pattern_case_flag_scopes_to_the_end_of_its_group():
    rx = translate(r"\b(p8e-(?i)[a-z0-9]{4})(?:x|y)")
    assert rx == r"\b(p8e-(?i:[a-z0-9]{4}))(?:x|y)"
    assert re.fullmatch(rx, "p8e-AbC1x") and not re.fullmatch(rx, "P8E-abc1x")


def test_mid_pattern_case_flag_is_reopened_after_each_alternative():
    # Go: flags set inside a group hold across '|' until the group closes.
    rx = translate(r"(a(?i)b|c)d")
    assert re.fullmatch(rx, "aBd") and re.fullmatch(rx, "Cd") and not re.fullmatch(rx, "aBD")


def test_re2_only_syntax_is_spelled_out_for_python():
    assert translate(r"x\z") == r"x\Z"
    assert translate(r"[[:alnum:]]{3}") == "[A-Za-z0-9]{3}"
    assert re.fullmatch(translate(r"[[\]a]+"), "[a]")  # a literal '[' inside a class


def test_semi_generic_rule_loses_its_left_context_and_leads_with_its_keyword():
    # gitleaks' generated shape (cmd/generate/config/utils.GenerateSemiGenericRegex)
    regex = (r"""(?i)[\w.-]{0,50}?(?:acme)(?:[ \t\w.-]{0,20})[\s'"]{0,3}"""
             r"""(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}([a-z0-9]{32})"""
             r"""(?:[\x60'"\s;]|\\[nr]|$)""")
    rule = {"id": "acme", "regex": regex, "keywords": ["acme"], "entropy": 3}
    rid, src, group, keywords, entropy, lead, width, _ = convert_rule(rule)
    assert (rid, keywords, entropy, lead, group) == ("acme", ("acme",), 3.0, True, -1)
    assert 0 < width < 200
    token = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    m = re.compile(src).match(f"ACME_KEY={token},next")
    assert m and m.group(1) == token  # a token ended by ',' is still one


def test_generated_module_records_its_upstream_and_every_rule_left_out():
    up = secret_rules.UPSTREAM
    assert up["project"] == "gitleaks" and up["version"] and len(up["sha256"]) == 64
    assert len(secret_rules.RULES) >= 200
    ids = {r[0] for r in secret_rules.RULES}
    assert not ids & set(secret_rules.SKIPPED)
    for rid in gitleaks_sync.REPLACED:
        assert rid in secret_rules.SKIPPED  # a replaced rule says which of ours covers it


@pytest.mark.parametrize("rule", ALL_RULES, ids=[f"{r[0]}-{i}" for i, r in enumerate(ALL_RULES)])
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
