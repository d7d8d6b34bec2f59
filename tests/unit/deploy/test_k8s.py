"""Static checks of deploy/k8s: Kubernetes schemas (kubernetes-validate's bundled OpenAPI
JSON schemas, strict: unknown fields fail), Strimzi topics against schemas/topics.py,
probes against runtime.metrics.PORT_OFFSETS, settings and secrets wiring."""

from __future__ import annotations

import re

import pytest

from hivemind_kafka.runtime.metrics import PORT_OFFSETS
from hivemind_kafka.runtime.settings import Settings, env_names
from hivemind_kafka.schemas.topics import topic_specs

from .deploy_files import K8S, k8s_documents, k8s_kind

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S_VERSION = "1.30.0"  # oldest Kubernetes these manifests are meant for
STRIMZI_GROUP = "kafka.strimzi.io/v1beta2"
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def native_documents():
    return [(p, d) for p, d in k8s_documents()
            if d["apiVersion"] != STRIMZI_GROUP and d["kind"] != "Kustomization"]


def config() -> dict[str, str]:
    (cm,) = k8s_kind("ConfigMap")
    return cm["data"]


def deployments() -> dict[str, dict]:
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d
            for d in k8s_kind("Deployment")}


def test_native_manifests_validate_strictly_against_kubernetes_schemas():
    docs = native_documents()
    assert {d["kind"] for _, d in docs} >= {"Namespace", "ConfigMap", "Secret", "Deployment",
                                            "PodDisruptionBudget", "CronJob"}
    for path, doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_kubernetes_validation_is_not_vacuous():
    dep = next(iter(deployments().values()))
    broken = {**dep, "spec": {**dep["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_file():
    (kust,) = [d for _, d in k8s_documents() if d["kind"] == "Kustomization"]
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_everything_lives_in_the_hivemind_namespace():
    for path, doc in k8s_documents():
        if doc["kind"] in ("Namespace", "Kustomization"):
            continue
        assert doc["metadata"]["namespace"] == "hivemind", path.name


def test_strimzi_topics_match_the_topic_specs():
    settings = Settings.from_env(dict(config()))
    specs = {s.name: s for s in topic_specs(
        settings.topics, max_record_bytes=settings.sessionizer.max_record_bytes)}
    topics = {t["spec"]["topicName"]: t for t in k8s_kind("KafkaTopic")}
    assert set(topics) == set(specs)
    for name, topic in topics.items():
        spec, body = specs[name], topic["spec"]
        assert topic["apiVersion"] == STRIMZI_GROUP
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]
        assert DNS_1123.match(topic["metadata"]["name"]), topic["metadata"]["name"]
        assert body["partitions"] == (spec.partitions or settings.kafka.partitions), name
        assert body["replicas"] == settings.kafka.replication_factor, name
        cfg = body.get("config", {})
        assert all(isinstance(v, str) for v in cfg.values()), f"{name}: config values are strings"
        assert (cfg.get("cleanup.policy") == "compact") == spec.compacted, name
        for key, value in spec.configs.items():
            assert cfg[key] == value, f"{name} {key}"
        assert int(cfg["min.insync.replicas"]) < body["replicas"], name


def test_ticks_are_co_partitioned_with_turns():
    topics = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in k8s_kind("KafkaTopic")}
    names = Settings().topics
    assert topics[names.ticks] == topics[names.turns]


def test_workers_do_not_create_topics_strimzi_owns():
    assert Settings.from_env(dict(config())).kafka.create_topics is False


def test_configmap_parses_as_settings_and_names_only_known_variables():
    data = config()
    assert set(data) <= env_names()
    settings = Settings.from_env(dict(data))  # raises on any bad value
    assert settings.metrics.host == "0.0.0.0" and settings.metrics.port > 0
    assert settings.lake.uri.startswith("s3://")


def test_secrets_hold_the_credentials_and_nothing_else_holds_them():
    (secret,) = k8s_kind("Secret")
    keys = set(secret["stringData"])
    assert {"ANTHROPIC_API_KEY", "HIVEMIND_KAFKA_SASL_USERNAME",
            "HIVEMIND_KAFKA_SASL_PASSWORD"} <= keys <= env_names()
    secret_like = re.compile(r"PASSWORD|SECRET|API_KEY")
    assert not [k for k in config() if secret_like.search(k)]


@pytest.mark.parametrize("component", ["sessionizer", "sink", "codifier", "measure"])
def test_probes_and_scrape_port_follow_port_offsets(component):
    dep = deployments()[component]
    pod = dep["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port = int(config()["HIVEMIND_METRICS_PORT"]) + PORT_OFFSETS[component]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("component", ["sessionizer", "sink", "codifier", "measure"])
def test_workers_take_settings_and_secrets_and_have_resources(component):
    dep = deployments()[component]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    refs = {next(iter(r)) + ":" + next(iter(r.values()))["name"] for r in container["envFrom"]}
    assert refs == {"configMapRef:hivemind-settings", "secretRef:hivemind-credentials"}
    res = container["resources"]
    assert set(res["requests"]) == set(res["limits"]) == {"cpu", "memory"}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert Settings.from_env(dict(config())).kafka.ssl_cafile.rsplit("/", 1)[0] in mounts
    assert Settings.from_env(dict(config())).edge.home in mounts
    expected = {"measure": ["report", "--every"]}.get(component, ["worker", component])
    assert container["args"][: len(expected)] == expected


def test_scaled_workers_fit_the_partition_count():
    partitions = int(config()["HIVEMIND_KAFKA_PARTITIONS"])
    for component, dep in deployments().items():
        assert 1 <= dep["spec"]["replicas"] <= partitions, component


def test_lake_maintenance_jobs_compact_nightly_and_vacuum_with_safe_retention():
    import argparse

    from hivemind_kafka.cli import lake_cmd

    jobs = {j["metadata"]["name"]: j for j in k8s_kind("CronJob")}
    assert set(jobs) == {"hivemind-lake-optimize", "hivemind-lake-vacuum"}
    parser = argparse.ArgumentParser()
    lake_cmd.register(parser.add_subparsers())
    parsed = {}
    for name, job in jobs.items():
        assert job["spec"]["concurrencyPolicy"] == "Forbid", name
        (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        parsed[name] = parser.parse_args(container["args"])  # the CLI accepts them
    assert parsed["hivemind-lake-optimize"].lake_command == "optimize"
    vacuum = parsed["hivemind-lake-vacuum"]
    assert vacuum.lake_command == "vacuum" and vacuum.apply
    assert vacuum.retention_hours >= 168


# The KafkaTopic v1beta2 spec as Strimzi's CRD defines it (partitions >= 1, replicas
# 1..32767, config an object, topicName a string). The API server prunes unknown fields
# silently, so a misspelt key ("partition") is rejected here rather than dropped there.
KAFKA_TOPIC_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": STRIMZI_GROUP},
        "kind": {"const": "KafkaTopic"},
        "metadata": {
            "type": "object", "required": ["name", "labels"],
            "properties": {"labels": {"type": "object", "required": ["strimzi.io/cluster"]}},
        },
        "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["topicName", "partitions", "replicas"],
            "properties": {
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {"type": "object",
                           "additionalProperties": {"type": ["string", "integer", "boolean"]}},
                "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
            },
        },
    },
}


def test_strimzi_topics_are_structurally_valid():
    import jsonschema

    validator = jsonschema.Draft202012Validator(KAFKA_TOPIC_SCHEMA)
    for topic in k8s_kind("KafkaTopic"):
        errors = list(validator.iter_errors(topic))
        assert not errors, f"{topic['metadata']['name']}: {[e.message for e in errors]}"
    broken = {**k8s_kind("KafkaTopic")[0]}
    broken["spec"] = {**broken["spec"], "partition": 6}
    assert list(validator.iter_errors(broken)), "a misspelt spec key must be rejected"
    clusters = {t["metadata"]["labels"]["strimzi.io/cluster"] for t in k8s_kind("KafkaTopic")}
    bootstrap = config()["HIVEMIND_BOOTSTRAP"]
    assert len(clusters) == 1 and bootstrap.startswith(f"{clusters.pop()}-kafka-bootstrap.")
