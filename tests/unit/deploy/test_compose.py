"""Static checks of deploy/compose.yaml and deploy/Dockerfile (no Docker engine here).

The compose-spec JSON Schema is vendored beside this file: compose-spec.schema.json,
from the compose-spec project (github.com/compose-spec/compose-spec, Apache-2.0) as
shipped in check-jsonschema 0.39.0's vendored schemas (sha256 d549057e...e10e64).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from hivemind_kafka.runtime.metrics import PORT_OFFSETS
from hivemind_kafka.runtime.settings import env_names

from .deploy_files import (
    COMPOSE,
    DEPLOY,
    DOCKERFILE,
    REPO,
    component_of,
    compose,
    env_names_used,
    image_name,
    project,
)

SCHEMA = Path(__file__).with_name("compose-spec.schema.json")
WORKERS = ("sessionizer", "sink", "codifier")


def test_compose_validates_against_the_compose_spec_schema():
    schema = json.loads(SCHEMA.read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose()), key=lambda e: e.path)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_check_catches_a_broken_compose_file():
    """The validator is not vacuous: a misspelt key is rejected."""
    schema = json.loads(SCHEMA.read_text())
    broken = compose()
    broken["services"]["sink"]["restrat"] = "always"
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_kafka_kraft_env_is_complete_with_replication_factors_at_one():
    env = compose()["services"]["kafka"]["environment"]
    for key in ("KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "KAFKA_CONTROLLER_QUORUM_VOTERS",
                "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "KAFKA_CONTROLLER_LISTENER_NAMES",
                "KAFKA_INTER_BROKER_LISTENER_NAME", "CLUSTER_ID"):
        assert env.get(key), f"kafka service lacks {key}: the image drops its defaults"
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert str(env[key]) == "1", key
    node_id = str(env["KAFKA_NODE_ID"])
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert voters == [f"{node_id}@kafka:9093"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = {lst.split("://")[0] for lst in env["KAFKA_LISTENERS"].split(",")}
    protocol_map = dict(kv.split(":") for kv in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert listeners <= set(protocol_map)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    advertised = dict(a.split("://") for a in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised


def test_workers_reach_kafka_on_its_advertised_internal_listener():
    doc = compose()
    advertised = dict(a.split("://") for a in
                      doc["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(","))
    for name in (*WORKERS, "topics", "measure"):
        env = doc["services"][name]["environment"]
        assert env["HIVEMIND_BOOTSTRAP"] == advertised["PLAINTEXT"], name


def test_broker_accepts_the_largest_record_the_producers_send():
    from hivemind_kafka.runtime.kafka import producer_config
    from hivemind_kafka.runtime.settings import Settings

    env = compose()["services"]["kafka"]["environment"]
    producer_max = producer_config(Settings().replace(kafka={"bootstrap": "x:1"}))["message.max.bytes"]
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= producer_max


def test_worker_services_run_the_worker_commands_and_wait_for_topics():
    services = compose()["services"]
    assert services["topics"]["command"] == ["topics"]
    for name in WORKERS:
        svc = services[name]
        assert svc["command"] == ["worker", name]
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def metrics_port(env: dict, component: str) -> int:
    return int(env["HIVEMIND_METRICS_PORT"]) + PORT_OFFSETS[component]


def test_health_checks_and_exposed_ports_follow_port_offsets():
    services = compose()["services"]
    for name, svc in services.items():
        component = component_of(svc.get("command", []))
        if component is None:
            continue
        env = svc["environment"]
        assert env["HIVEMIND_METRICS_HOST"] == "0.0.0.0", f"{name}: probes cannot reach 127.0.0.1"
        port = metrics_port(env, component)
        assert svc["expose"] == [str(port)], name
        if "healthcheck" in svc:
            assert f"127.0.0.1:{port}/readyz" in " ".join(svc["healthcheck"]["test"]), name


def test_prometheus_scrapes_every_compose_worker_on_its_metrics_port():
    services = compose()["services"]
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]}
    for name, svc in services.items():
        component = component_of(svc.get("command", []))
        if component is not None:
            assert f"{name}:{metrics_port(svc['environment'], component)}" in targets, name
    for target in targets - {"localhost:9090"}:
        assert target.split(":")[0] in services, f"prometheus scrapes unknown service {target}"


def test_mounted_paths_exist_and_prometheus_grafana_use_the_shared_files():
    services = compose()["services"]
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts missing {source}"
    prom_mounts = [v.split(":")[:2] for v in services["prometheus"]["volumes"]]
    assert ["./prometheus", "/etc/prometheus"] in prom_mounts
    graf_mounts = [v.split(":")[:2] for v in services["grafana"]["volumes"]]
    assert ["./grafana/provisioning", "/etc/grafana/provisioning"] in graf_mounts
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/hivemind.yml").read_text())
    dash_dir = provider["providers"][0]["options"]["path"]
    assert ["./grafana/dashboards", dash_dir] in graf_mounts
    build = services["topics"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_every_env_name_in_deploy_is_one_the_code_reads():
    known = env_names()
    files = [COMPOSE, DOCKERFILE, *sorted((DEPLOY / "k8s").glob("*.yaml"))]
    used = env_names_used(files)
    unknown = {name: where for name, where in used.items() if name not in known}
    assert not unknown, f"deploy files set variables no code reads: {unknown}"
    assert "HIVEMIND_BOOTSTRAP" in used and "ANTHROPIC_API_KEY" in used


def test_compose_and_kubernetes_run_the_same_image_as_the_project_version():
    from .deploy_files import k8s_kind

    images = {svc["image"] for svc in compose()["services"].values()
              if "hivemind" in svc.get("image", "") and "/kafka" not in svc["image"]}
    pods = [d["spec"]["template"] for d in k8s_kind("Deployment")]
    pods += [j["spec"]["jobTemplate"]["spec"]["template"] for j in k8s_kind("CronJob")]
    k8s_images = {c["image"] for pod in pods for c in pod["spec"]["containers"]}
    assert images == k8s_images == {image_name()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_builds_from_python_311_slim_with_hivemind_entrypoint():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("ENTRYPOINT", '["hivemind"]') in instructions
    assert any(w == "RUN" and "pip install ." in r for w, r in instructions)
    user = [r for w, r in instructions if w == "USER"]
    assert user and not user[-1].startswith(("0", "root"))


def test_dockerfile_copies_every_package_the_wheel_builds():
    copied = {re.sub(r"/$", "", r.split()[0]) for w, r in dockerfile_instructions() if w == "COPY"}
    packages = project()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    missing = set(packages) - copied
    assert not missing, f"Dockerfile does not COPY {missing}"
    for path in copied - {"pyproject.toml", "README.md"}:
        assert (REPO / path).exists(), path


def test_dockerfile_env_defaults_are_container_friendly():
    env = " ".join(r for w, r in dockerfile_instructions() if w == "ENV")
    assert "HIVEMIND_METRICS_HOST=0.0.0.0" in env
    base = int(re.search(r"HIVEMIND_METRICS_PORT=(\d+)", env).group(1))
    exposed = {int(p) for w, r in dockerfile_instructions() if w == "EXPOSE" for p in r.split()}
    assert {base + off for off in PORT_OFFSETS.values()} <= exposed


@pytest.mark.parametrize("name", WORKERS)
def test_worker_module_entry_points_exist(name):
    """The module fallbacks (`python -m ...`) of the worker commands are importable."""
    import importlib.util

    module = {"sessionizer": "hivemind_kafka.streams.sessionizer", "sink": "hivemind_kafka.sinks",
              "codifier": "hivemind_kafka.streams.codifier"}[name]
    assert importlib.util.find_spec(f"{module}.__main__") is not None


def cli_parser():
    import argparse
    import importlib

    from hivemind_kafka.cli.main import COMMAND_MODULES

    parser = argparse.ArgumentParser(prog="hivemind")
    sub = parser.add_subparsers(dest="command")
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name).register(sub)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return parser, set(sub.choices)


def deploy_commands() -> list[tuple[str, list[str]]]:
    from .deploy_files import k8s_kind

    found = [(f"compose {name}", svc["command"]) for name, svc in compose()["services"].items()
             if "hivemind" in svc.get("image", "") and "command" in svc]
    for dep in k8s_kind("Deployment"):
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        found.append((f"k8s {dep['metadata']['name']}", c["args"]))
    for job in k8s_kind("CronJob"):
        (c,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        found.append((f"k8s {job['metadata']['name']}", c["args"]))
    return found


@pytest.mark.parametrize(("where", "argv"), deploy_commands(), ids=lambda v: str(v))
def test_every_deploy_command_parses_with_the_cli(where, argv):
    parser, commands = cli_parser()
    if argv[0] not in commands:
        pytest.skip(f"`hivemind {argv[0]}` is not registered in cli.main yet ({where})")
    try:
        parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `hivemind {' '.join(argv)}` does not parse")
