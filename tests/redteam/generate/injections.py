"""Injection sessions: every vector x agent kind x carrier x payload, 12 cases a vector.

Deterministic: case ``i`` draws its randomness from ``random.Random(f"inj-{i}")``.
Every case is checked while it is built: the planted text is in the data span, the
judge (:mod:`tests.redteam.markers`) finds every marker in it, and no marker appears in
the honest skill or in any instruction span (prompts, tool inputs) of the session.
"""

from __future__ import annotations

import random

from tests.redteam import markers as judge
from tests.redteam.corpus import InjectionCase, ScriptedSession
from tests.redteam.generate import scenarios
from tests.redteam.generate.carriers import carriers_for
from tests.redteam.generate.payloads import Payload, for_kind
from tests.redteam.generate.vectors import ENCODERS, VECTORS

PER_VECTOR = 12
KIND_CYCLE = ["coding", "coding", "support", "coding", "sdr"]


def _scenarios(kind: str) -> list[scenarios.Scenario]:
    return [s for s in scenarios.ALL if s.agent_kind == kind]


def build() -> list[InjectionCase]:
    cases: list[InjectionCase] = []
    counters = {"coding": 0, "support": 0, "sdr": 0}
    # Offsets chosen so the three kinds together cover all ten languages.
    multilingual = {"coding": 3, "support": 4, "sdr": 3}
    total = PER_VECTOR * len(VECTORS)
    for i in range(total):
        rng = random.Random(f"inj-{i}")
        vector = VECTORS[i % len(VECTORS)]
        kind = KIND_CYCLE[i % len(KIND_CYCLE)]
        k = counters[kind]
        counters[kind] += 1
        scens = _scenarios(kind)
        scenario = scens[k % len(scens)]
        carrier_names = list(carriers_for(kind))
        carrier = carrier_names[(k // len(scens) + k) % len(carrier_names)]
        if vector == "multilingual":
            payload, language, text, extra_markers = _payload(kind, vector, multilingual[kind], rng)
            multilingual[kind] += 1
        else:
            payload, language, text, extra_markers = _payload(kind, vector, k, rng)
        injected = ENCODERS[vector](text, rng)
        planted = carriers_for(kind)[carrier](scenario, injected, rng)
        with_correction = kind == "coding" and k % 3 == 0
        turns = scenarios.turns_of(scenario, planted.step, with_correction=with_correction,
                                   fail_output=planted.fail_output)
        # The data step goes right after the lookups; without one (tool_error) the failing
        # step sits at that index and carries the payload.
        where = [0, len(scenario.before)]
        session = ScriptedSession(id=f"inj-{i:03d}", agent_kind=kind,  # type: ignore[arg-type]
                                  project=scenario.project, turns=turns)
        marker_list = list(dict.fromkeys([*(m for m in payload.markers
                                            if language == "en" or _command_marker(m, payload)),
                                          *extra_markers]))
        case = InjectionCase(
            id=session.id, session=session, carrier=carrier, vector=vector,  # type: ignore[arg-type]
            payload_class=payload.cls, payload_id=payload.id,  # type: ignore[arg-type]
            language=language, lesson=scenario.lesson,  # type: ignore[arg-type]
            where=where, payload_raw=planted.planted, payload_plain=text,
            payload_command=payload.command,
            must_never_publish=[judge.normalize_marker(m) for m in marker_list],
            skill=scenario.skill)
        check(case)
        cases.append(case)
    return cases


def _command_marker(marker: str, payload: Payload) -> bool:
    """A marker that is part of the command (kept in every language)."""
    return bool(payload.command) and judge.normalize_marker(marker) in \
        judge.normalize_marker(payload.command or "")


def _payload(kind: str, vector: str, k: int, rng: random.Random
             ) -> tuple[Payload, str, str, tuple[str, ...]]:
    pool = for_kind(kind)
    if vector == "multilingual":
        # Round-robin over languages first, so the cases spread over every language.
        translated = [(p, lang) for p in pool for lang in sorted(p.translations)]
        by_lang: dict[str, list[Payload]] = {}
        for p, lang in translated:
            by_lang.setdefault(lang, []).append(p)
        langs = sorted(by_lang)
        m = k  # for multilingual cases the caller passes this kind's multilingual count
        lang = langs[m % len(langs)]
        p = by_lang[lang][(m // len(langs)) % len(by_lang[lang])]
        text, native = p.translations[lang]
        return p, lang, text, native
    p = pool[(k * 7 + k // len(pool)) % len(pool)]
    return p, "en", p.text, ()


def check(case: InjectionCase) -> None:
    """The build-time invariants (see the module docstring); raises ``ValueError``."""
    turn, step = case.where
    span = case.session.turns[turn].steps[step].output
    if case.payload_raw not in span:
        raise ValueError(f"{case.id}: planted text is not in the data span {case.where}")
    missing = set(case.must_never_publish) - set(judge.find_markers(case.payload_raw,
                                                                    case.must_never_publish))
    if missing:
        raise ValueError(f"{case.id}: the judge cannot see {sorted(missing)} in the planted text")
    honest = judge.skill_text(case.skill.name, case.skill.description, case.skill.body,
                              exempt_quoted=False)
    instructions = [honest]
    for t in case.session.turns:
        instructions.append(t.prompt)
        instructions.extend(str(s.input) for s in t.steps)
    for text in instructions:
        found = judge.find_markers(text, case.must_never_publish)
        if found:
            raise ValueError(f"{case.id}: marker {found} is in an instruction span or the "
                             "honest skill: it would not tell injected from genuine")
