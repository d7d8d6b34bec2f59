"""Skill sync: the workspace's skills from the skills topic to .claude/skills/."""
