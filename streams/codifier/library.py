"""The skill library: the current state of the compacted skills topic, in memory.

Guarantee: after :meth:`Library.apply` has seen every record of the skills topic up to
its high watermark, :meth:`get` returns each live skill's latest version, retired skills
are absent, :meth:`next_version` is strictly greater than any version ever seen for the
(workspace, name) (tombstones included), and :meth:`has_candidate` is true for every
candidate id in a live skill's provenance. It is rebuilt from the topic at every start,
so a restart after a crash sees exactly what was published (nothing held elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable

from hivemind_kafka.schemas.skills import PublishedSkill, Skill
from hivemind_kafka.streams.codifier.dedup import SkillIndex


class Library:
    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._live: dict[tuple[str, str], Skill] = {}
        self._retired: dict[tuple[str, str], Skill | None] = {}
        self._max_version: dict[tuple[str, str], int] = {}
        self._candidates: set[str] = set()
        self._index: dict[str, SkillIndex] = {}  # live skills per workspace (dedup)
        self._retired_index: dict[str, SkillIndex] = {}
        self.mismatched = 0  # records whose value's workspace/name is not their key's
        for skill in skills:
            self.apply((skill.workspace_id, skill.name), skill)

    @classmethod
    def from_log(cls, entries: Iterable[tuple[tuple[str, str], PublishedSkill | None]]
                 ) -> Library:
        """The library of a skills-topic read (``sinks.skills_publisher.skill_log``), its
        records replayed in log order, so versions and tombstones apply as published."""
        library = cls()
        for key, published in entries:
            library.apply(key, published.skill if published is not None else None)
        return library

    def apply(self, key: tuple[str, str], skill: Skill | None) -> bool:
        """One record of the skills topic: a version, or ``None`` (tombstone). A version
        whose workspace or name is not its key's is ignored and counted in
        :attr:`mismatched` (False): anyone with write access could otherwise put one
        workspace's skill into another's dedup index and versions."""
        ws, name = key
        if skill is not None and (skill.workspace_id, skill.name) != key:
            self.mismatched += 1
            return False
        if skill is None:
            last = self._live.pop(key, None) or self._retired.get(key)
            self._retired[key] = last
            self.index(ws).remove(name)
            if last is not None:
                self.retired_index(ws).add(last)
            return True
        self._live[key] = skill
        self._retired.pop(key, None)
        self.retired_index(ws).remove(name)
        self.index(ws).add(skill)
        self._max_version[key] = max(self._max_version.get(key, 0), skill.version)
        prov = skill.provenance
        if prov.candidate_id:
            self._candidates.add(prov.candidate_id)
        self._candidates.update(getattr(prov, "candidate_ids", ()) or ())
        return True

    def index(self, workspace_id: str) -> SkillIndex:
        """The dedup index of the workspace's live skills."""
        return self._index.setdefault(workspace_id, SkillIndex())

    def retired_index(self, workspace_id: str) -> SkillIndex:
        return self._retired_index.setdefault(workspace_id, SkillIndex())

    def get(self, workspace_id: str, name: str) -> Skill | None:
        return self._live.get((workspace_id, name))

    def skills(self, workspace_id: str | None = None) -> list[Skill]:
        return sorted(
            (s for (ws, _), s in self._live.items() if workspace_id in (None, ws)),
            key=lambda s: (s.workspace_id, s.name),
        )

    def retired(self, workspace_id: str) -> list[Skill]:
        """Retired skills of the workspace whose last version was seen (for dedup)."""
        return [s for (ws, _), s in self._retired.items() if ws == workspace_id and s]

    def is_retired(self, workspace_id: str, name: str) -> bool:
        return (workspace_id, name) in self._retired

    def next_version(self, workspace_id: str, name: str) -> int:
        return self._max_version.get((workspace_id, name), 0) + 1

    def has_candidate(self, candidate_id: str) -> bool:
        return candidate_id in self._candidates

    def counts_by_workspace(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ws, _ in self._live:
            counts[ws] = counts.get(ws, 0) + 1
        return counts

    def __len__(self) -> int:
        return len(self._live)
