"""`hivemind install`: Claude Code hooks in settings.json and git hooks."""
