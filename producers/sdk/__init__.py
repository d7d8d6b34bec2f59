"""The SDK for agents other than Claude Code (support bots, SDR/voice agents)."""

from hivemind_kafka.producers.sdk.fleet import (
    DeliveryFailed,
    Fleet,
    SessionRecorder,
    ToolCall,
)

__all__ = ["DeliveryFailed", "Fleet", "SessionRecorder", "ToolCall"]
