"""Shared readers for the deploy/ static checks (no Docker engine or cluster needed)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"

# Env names: HIVEMIND_* and ANTHROPIC_* tokens anywhere in a deploy file.
ENV_NAME = re.compile(r"\b((?:HIVEMIND|ANTHROPIC)_[A-Z0-9_]+)\b")

# How a worker's command names its component in runtime.metrics.PORT_OFFSETS.
COMMAND_COMPONENTS = {
    ("worker", "sessionizer"): "sessionizer",
    ("worker", "sink"): "sink",
    ("worker", "codifier"): "codifier",
    ("report", "--every"): "measure",
}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def k8s_documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def k8s_kind(kind: str) -> list[dict]:
    return [d for _, d in k8s_documents() if d.get("kind") == kind]


def component_of(command: list[str]) -> str | None:
    return COMMAND_COMPONENTS.get(tuple(command[:2]))


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def image_name() -> str:
    """The image both compose and Kubernetes must run: <repo>:<project version>."""
    return f"ghcr.io/hivemind-kafka/hivemind:{project()['project']['version']}"


def env_names_used(paths: list[Path]) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in paths:
        for name in ENV_NAME.findall(path.read_text()):
            used.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return used
