"""The Anthropic codifier: one Messages API call per candidate, a tool-shaped answer.

Guarantee: :meth:`AnthropicCodifier.draft` never raises for API trouble; it returns a
:class:`Draft`, a final :class:`Rejection` (the model said SKIP) or a *retryable*
Rejection the job parks (timeout, 429 / 5xx / overloaded after the client's retries,
a connection error, or a malformed answer twice). Retries: our own capped exponential back-off
(honouring ``retry-after`` up to 60 s) up to ``settings.codifier.max_retries`` for
408/409/429/5xx/529, timeouts and connection errors; a malformed answer is asked once more.
Each request is bounded by ``settings.codifier.timeout_s``. The fixed system prompt
carries ``cache_control`` (prompt caching). Tokens, cost, latency and call outcomes are
counted in :mod:`hivemind_kafka.streams.codifier.metrics`; logs carry the candidate id, never text.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from hivemind_kafka.runtime.settings import CodifierSettings
from hivemind_kafka.schemas.sessions import Candidate
from hivemind_kafka.schemas.skills import Decision
from hivemind_kafka.streams.codifier import metrics
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.logic import Draft, Rejection, Usage
from hivemind_kafka.streams.codifier.prompt import (
    DECISION_TOOL,
    TOOL_NAME,
    parse_answer,
    render_candidate,
    system_blocks,
)

log = logging.getLogger(__name__)

# USD per million tokens: (input, output). Cache writes cost 1.25x input, reads 0.1x.
PRICES = {
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
}
UNKNOWN_MODEL_PRICE = (3.0, 15.0)  # an unknown model is costed like a Sonnet, not as free


def price_of(model: str) -> tuple[float, float]:
    for prefix in sorted(PRICES, key=len, reverse=True):
        if model.startswith(prefix):
            return PRICES[prefix]
    return UNKNOWN_MODEL_PRICE


def usage_of(message, model: str) -> Usage:
    u = getattr(message, "usage", None)
    if u is None:
        return Usage()
    inp = int(getattr(u, "input_tokens", 0) or 0)
    out = int(getattr(u, "output_tokens", 0) or 0)
    cread = int(getattr(u, "cache_read_input_tokens", 0) or 0)
    cwrite = int(getattr(u, "cache_creation_input_tokens", 0) or 0)
    pin, pout = price_of(model)
    cost = (inp * pin + out * pout + cwrite * pin * 1.25 + cread * pin * 0.1) / 1e6
    return Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cread,
                 cache_write_tokens=cwrite, cost_usd=cost)


def _count_usage(usage: Usage) -> None:
    metrics.TOKENS.labels("input").inc(usage.input_tokens)
    metrics.TOKENS.labels("output").inc(usage.output_tokens)
    metrics.TOKENS.labels("cache_read").inc(usage.cache_read_tokens)
    metrics.TOKENS.labels("cache_write").inc(usage.cache_write_tokens)
    metrics.COST.inc(usage.cost_usd)


class AnthropicCodifier:
    name = "anthropic"

    def __init__(self, settings: CodifierSettings, *, client=None) -> None:
        self.settings = settings
        if client is None:
            from anthropic import AsyncAnthropic

            client = AsyncAnthropic(
                api_key=settings.api_key.reveal(), base_url=settings.base_url,
                timeout=settings.timeout_s, max_retries=0,  # retries are ours: _create
            )
        self.client = client

    async def aclose(self) -> None:
        await self.client.close()

    async def draft(self, candidate: Candidate, library: Library) -> Draft | Rejection:

        cfg = self.settings
        request = {
            "model": cfg.model,
            "max_tokens": min(8192, cfg.max_body_chars // 3 + 1024),
            "system": system_blocks(library.skills(candidate.workspace_id)),
            "tools": [DECISION_TOOL],
            "tool_choice": {"type": "tool", "name": TOOL_NAME},
            "messages": [{"role": "user", "content": render_candidate(
                candidate, max_body_chars=cfg.max_body_chars)}],
        }
        total = Usage()
        for attempt in (1, 2):
            started = time.perf_counter()
            message = await self._create(request, candidate)
            if isinstance(message, Rejection):
                return message
            metrics.LATENCY.observe(time.perf_counter() - started)
            usage = usage_of(message, cfg.model)
            _count_usage(usage)
            total = total + usage
            answer = parse_answer(_tool_input(message))
            if answer is None:
                metrics.CALLS.labels("malformed").inc()
                log.warning("malformed codifier answer candidate=%s attempt=%d",
                            candidate.candidate_id, attempt)
                continue
            metrics.CALLS.labels("ok").inc()
            return self._to_result(answer, candidate, library, total)
        return Rejection(reason="malformed answer twice", stage="malformed", retryable=True,
                         codifier=self.name, usage=total)

    async def _create(self, request: dict, candidate: Candidate):
        """One Messages call with our own capped exponential back-off on 408/409/429/5xx/
        529, timeouts and connection errors (the client's retries are off: it would honour
        any ``retry-after``, even hours). Returns the message or a retryable Rejection."""
        import anthropic

        started = time.perf_counter()
        retries = max(0, self.settings.max_retries)
        for attempt in range(retries + 1):
            try:
                return await self.client.messages.create(**request)
            except anthropic.APITimeoutError:
                stage, status, after = "timeout", None, None
            except anthropic.APIStatusError as exc:
                status = exc.status_code
                if status not in (408, 409, 429) and status < 500:
                    stage = "api_error"  # 400/401/403/404: retrying the same call won't help
                    return self._failed(stage, candidate, started, status)
                stage = {429: "rate_limited", 529: "overloaded"}.get(status, "api_error")
                after = _retry_after(exc.response)
            except anthropic.APIConnectionError:
                stage, status, after = "api_error", None, None
            if attempt < retries:
                await asyncio.sleep(backoff_s(attempt, after))
        return self._failed(stage, candidate, started, status)

    def _failed(self, stage: str, candidate: Candidate, started: float,
                status: int | None = None) -> Rejection:
        metrics.LATENCY.observe(time.perf_counter() - started)
        metrics.CALLS.labels(stage).inc()
        log.warning("codifier call failed candidate=%s stage=%s status=%s",
                    candidate.candidate_id, stage, status)
        reason = f"{stage}" + (f" (HTTP {status})" if status else "")
        return Rejection(reason=reason, stage=stage, retryable=True, codifier=self.name)

    def _to_result(self, answer, candidate: Candidate, library: Library,
                   usage: Usage) -> Draft | Rejection:
        model = self.settings.model
        if answer.decision is Decision.SKIP:
            return Rejection(reason=answer.reason[:500] or "SKIP", stage="skip",
                             codifier=self.name, usage=usage)
        if answer.decision is Decision.MERGE:
            target = library.get(candidate.workspace_id, answer.existing_skill)
            description = answer.description or (target.description if target else "")
            return Draft(decision=Decision.MERGE, name=answer.existing_skill,
                         description=description, body=answer.body, reason=answer.reason,
                         merge_target=answer.existing_skill, codifier=self.name, model=model,
                         usage=usage, citations=answer.citations)
        return Draft(decision=Decision.KEEP, name=answer.name, description=answer.description,
                     body=answer.body, reason=answer.reason, codifier=self.name, model=model,
                     usage=usage, citations=answer.citations)


BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0
RETRY_AFTER_CAP_S = 60.0


def backoff_s(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before retry number ``attempt + 1``: the server's ``retry-after`` when
    given (capped at 60 s), else 0.5 s doubling per attempt up to 20 s, with jitter."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, RETRY_AFTER_CAP_S)
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt) * (0.75 + random.random() / 4)


def _retry_after(response) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is not None:
            try:
                return float(raw) * scale
            except ValueError:
                return None
    return None


def _tool_input(message) -> object:
    for block in getattr(message, "content", None) or []:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", "") == TOOL_NAME:
            return getattr(block, "input", None)
    return None
