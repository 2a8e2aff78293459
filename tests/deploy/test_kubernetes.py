"""Kubernetes manifests rendered from bots.yaml, validated against the Kubernetes schemas."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from context_service.credentials import token_hash, token_weakness
from context_service.fleet import cli
from context_service.fleet.kubernetes import render_manifests, render_secrets
from context_service.fleet.model import FleetFileError, load_fleet
from deploy.fleet_helpers import edit_fleet

K8S_VERSION = "1.30.0"


def _render(project: Path) -> tuple[list[dict], list[dict]]:
    assert cli.main(["--root", str(project), "render", "--target", "kubernetes"]) == 0
    out = project / "docker/generated/kubernetes"
    docs = list(yaml.safe_load_all((out / "fleet.yaml").read_text()))
    secrets = list(yaml.safe_load_all((out / "secrets.yaml").read_text()))
    assert stat.S_IMODE((out / "secrets.yaml").stat().st_mode) == 0o600
    return docs, secrets


def _by(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_manifest_passes_the_strict_kubernetes_schema(project: Path) -> None:
    docs, secrets = _render(project)
    for doc in docs + secrets:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    kinds = {d["kind"] for d in docs}
    assert kinds >= {
        "Namespace", "StatefulSet", "Deployment", "Service", "ConfigMap", "NetworkPolicy",
        "PersistentVolumeClaim",
    }  # fmt: skip


def test_the_schema_check_can_fail(project: Path) -> None:
    docs, _ = _render(project)
    broken = _by(docs, "Deployment")["bot-btc-trend"]
    broken["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    typo = _by(docs, "Service")["sidecar"]
    typo["spec"]["selectr"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSION, strict=True)


def test_one_bot_deployment_per_bot_with_one_replica_and_probes(project: Path) -> None:
    docs, _ = _render(project)
    deployments = _by(docs, "Deployment")
    assert set(deployments) == {"sidecar", "bot-btc-trend", "bot-alt-swing"}
    for name in ("bot-btc-trend", "bot-alt-swing"):
        spec = deployments[name]["spec"]
        assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
        (container,) = spec["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/ping"
        assert container["resources"]["limits"] == {"cpu": "1000m", "memory": "1Gi"}
        assert {"secretRef": {"name": name}} in container["envFrom"]
        assert spec["template"]["spec"]["automountServiceAccountToken"] is False
    config = _by(docs, "ConfigMap")["bot-btc-trend-config"]["data"]["bot.json"]
    assert '"account": "ctxbtc01"' in config


def test_sidecar_replicas_and_redis_kept_internal(project: Path) -> None:
    edit_fleet(project, lambda data: data["sidecar"].update(replicas=3))
    docs, _ = _render(project)
    sidecar = _by(docs, "Deployment")["sidecar"]["spec"]
    assert sidecar["replicas"] == 3
    (container,) = sidecar["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # the dashboard's monitor reads the fleet file, mounted from a ConfigMap
    fleet_file = yaml.safe_load(_by(docs, "ConfigMap")["fleet-file"]["data"]["bots.yaml"])
    assert [b["id"] for b in fleet_file["bots"]] == ["btc-trend", "alt-swing"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CTX_FLEET_FILE"] == "/app/fleet/bots.yaml"
    policies = _by(docs, "NetworkPolicy")
    assert policies["default-deny"]["spec"]["policyTypes"] == ["Ingress", "Egress"]
    redis_policy = policies["redis-from-sidecar-only"]["spec"]
    (rule,) = redis_policy["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "sidecar"}}}
    ]
    assert redis_policy["egress"] == []
    assert _by(docs, "Service")["redis"]["spec"]["type"] == "ClusterIP"


def test_secrets_carry_the_env_files_and_nothing_else_does(project: Path) -> None:
    _, secrets = _render(project)
    names = {s["metadata"]["name"] for s in secrets}
    assert names == {"fleet-shared", "sidecar", "bot-btc-trend", "bot-alt-swing"}
    by_name = {s["metadata"]["name"]: s["stringData"] for s in secrets}
    # the operator token reaches the sidecar only; every bot has its own token
    assert "CTX_API_TOKEN" not in by_name["fleet-shared"]
    operator = by_name["sidecar"]["CTX_API_TOKEN"]
    bot_tokens = {bot: by_name[f"bot-{bot}"]["CTX_BOT_TOKEN"] for bot in ("btc-trend", "alt-swing")}
    assert len({operator, *bot_tokens.values()}) == 3
    assert all(token_weakness(t) is None for t in bot_tokens.values())
    manifests = (project / "docker/generated/kubernetes/fleet.yaml").read_text()
    assert not any(t in manifests for t in (operator, *bot_tokens.values()))
    # the sidecar gets their hashes, mounted where CTX_BOT_TOKENS_FILE points
    docs = list(yaml.safe_load_all(manifests))
    hashes_map = _by(docs, "ConfigMap")["bot-token-hashes"]["data"]["bot-tokens.json"]
    assert json.loads(hashes_map) == {bot: token_hash(t) for bot, t in bot_tokens.items()}
    (sidecar,) = _by(docs, "Deployment")["sidecar"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in sidecar["env"]}
    mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    assert Path(env["CTX_BOT_TOKENS_FILE"]) == Path(mounts["bot-tokens"]) / "bot-tokens.json"
    # rendering again keeps the tokens (running bots keep working)
    _, again = _render(project)
    assert {s["metadata"]["name"]: s["stringData"] for s in again} == by_name


def test_an_external_sentinel_redis_replaces_the_rendered_one(project: Path) -> None:
    url = "redis+sentinel://:pw@sentinel-0.redis:26379,sentinel-1.redis:26379/ctx/0"
    edit_fleet(project, lambda data: data["redis"].update(url=url))
    docs, secrets = _render(project)
    assert "redis" not in _by(docs, "StatefulSet")
    shared = next(s for s in secrets if s["metadata"]["name"] == "fleet-shared")
    assert shared["stringData"]["CTX_REDIS_URL"] == url
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert ":pw@" not in (project / "docker/generated/kubernetes/fleet.yaml").read_text()


@pytest.mark.parametrize(
    "url", ["mongodb://x", "redis+sentinel://h:26379", "redis://h:6379/0 x", "redis+cluster://h:0"]
)
def test_a_bad_external_redis_url_is_refused(project: Path, url: str) -> None:
    edit_fleet(project, lambda data: data["redis"].update(url=url))
    with pytest.raises(FleetFileError, match=r"redis\.url"):
        load_fleet(project / "bots.yaml")
    edit_fleet(project, lambda data: data["redis"].pop("url"))
    fleet = load_fleet(project / "bots.yaml")  # the next good file still works
    assert render_manifests(fleet, project) and render_secrets(fleet, project)
