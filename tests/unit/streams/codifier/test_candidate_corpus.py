"""Bad-input corpus for the codifier's intake (hypothesis): any bytes and key on the
candidates topic end as a decoded candidate that passes admission, or as exactly one dead
letter with a reason; nothing raises. Written apart from the defences."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from hivemind_kafka.runtime.dlq import decode_or_dead_letter
from hivemind_kafka.schemas.admission import candidate_problem
from hivemind_kafka.schemas.dead_letters import DeadLetter
from hivemind_kafka.schemas.sessions import Candidate, decode_candidate, encode
from tests.unit.streams.codifier.builders import candidate, recovery_session

_good = encode(candidate(recovery_session("ws-a", session_id="a1")))

_values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2, max_value=2**70),
                    st.text(max_size=20), st.just([]), st.just({}),
                    st.sampled_from(["ws-b", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]))


@st.composite
def mutated(draw) -> bytes:
    data = msgspec.json.decode(_good)
    target = data if draw(st.booleans()) else data["sessions"][0]
    field = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        target.pop(field)
    else:
        target[field] = draw(_values)
    return msgspec.json.encode(data)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.just(b"ws-a"), st.binary(max_size=30)),
       st.one_of(st.binary(max_size=300), mutated(), st.just(_good), st.just(_good[:-1])))
def test_any_candidate_record_is_codified_or_dead_lettered_once(key, raw):
    decoded = decode_or_dead_letter(raw, decode_candidate, stage="codifier", topic="c",
                                    partition=0, offset=1, key=key, max_bytes=1 << 20)
    if isinstance(decoded, DeadLetter):
        assert decoded.reason.value in {"undecodable", "contract_violation", "oversized"}
        return
    assert isinstance(decoded, Candidate)
    problem = candidate_problem(decoded, key=key)
    if key != decoded.workspace_id.encode():
        assert problem is not None
