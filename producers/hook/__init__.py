"""The Claude Code hook path: runs on every tool call, so stdlib-only and fast
(capture, the durable spool, the SessionStart skill pull)."""
