"""Kubernetes manifests of the fleet, rendered from ``bots.yaml``.

``fleet render --target kubernetes`` writes ``docker/generated/kubernetes/``:

* ``fleet.yaml``: the namespace, Redis (a StatefulSet with a volume, or nothing when
  ``redis.url`` names an external server, Sentinel or Cluster), the sidecar as a Deployment of
  ``sidecar.replicas`` pods behind a Service, one Deployment per bot (one replica, ``Recreate``,
  the sub-account lease as the real guard against two writers), ConfigMaps with each bot's
  Freqtrade config, NetworkPolicies (default deny; Redis reachable from the sidecar only; the
  sidecar from the bots; egress only where compose allows it).
* ``secrets.yaml`` (mode 0600): Secrets built from the env files (the shared logins, the
  sidecar's operator token and LLM key, each bot's own sidecar token and exchange key; a bot
  without a token gets one in its env file, as ``fleet render`` does). Apply it, never commit
  it. The sidecar gets only the hashes of the bot tokens, from a ConfigMap it re-reads when it
  changes (rotation without restarts, see :mod:`context_service.fleet.tokens`).

Apply with ``kubectl apply -f docker/generated/kubernetes/``. Images are the ones compose
builds; push them to a registry and pass ``--image-prefix``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from context_service.fleet.compose import (
    BOT_IMAGE,
    BOT_TOKENS_IN_SIDECAR,
    FLEET_FILE_IN_SIDECAR,
    FREQTRADE_HOME,
    GENERATED_DIR,
    SIDECAR_IMAGE,
    SIDECAR_PORT,
    _sidecar_environment,
    bot_config,
)
from context_service.fleet.envfiles import read_env_file
from context_service.fleet.kubernetes_network import REDIS_PORT, labels_of, meta, network_policies
from context_service.fleet.model import BOT_API_PORT_IN_CONTAINER, BotSpec, Fleet, Resources
from context_service.fleet.tokens import bot_token_hashes, hashes_document

OUT_DIR = GENERATED_DIR / "kubernetes"
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _quantity(resources: Resources) -> dict[str, dict[str, str]]:
    memory = resources.memory[:-1] + {"k": "Ki", "m": "Mi", "g": "Gi"}[resources.memory[-1]]
    cpu = f"{round(resources.cpus * 1000)}m"
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def _http_probe(path: str, port: int, period: int, initial: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "initialDelaySeconds": initial,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def _env(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in sorted(values.items())]


def _pod_spec(containers: list[dict], volumes: list[dict] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers,
    }
    if volumes:
        spec["volumes"] = volumes
    return spec


# -- Redis ----------------------------------------------------------------------------------
def _redis(fleet: Fleet) -> list[dict[str, Any]]:
    labels = labels_of("redis")
    container = {
        "name": "redis",
        "image": fleet.redis.image,
        "args": ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 20},
        "resources": _quantity(fleet.redis.resources),
        "securityContext": {**RESTRICTED, "runAsUser": 999, "readOnlyRootFilesystem": True},
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": meta("redis", fleet, labels),
            "spec": {
                "serviceName": "redis",
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": _pod_spec([container])},
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "2Gi"}},
                        },
                    }
                ],
            },
        },
        _service("redis", fleet, labels, REDIS_PORT),
    ]


def _service(name: str, fleet: Fleet, labels: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, fleet, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [{"name": name, "port": port, "targetPort": port}],
        },
    }


# -- sidecar --------------------------------------------------------------------------------
def _sidecar(
    fleet: Fleet, image: str, fleet_yaml: str, token_hashes: dict[str, str]
) -> list[dict[str, Any]]:
    labels = labels_of("sidecar")
    env = _sidecar_environment(fleet)  # CTX_FLEET_FILE: the dashboard's monitor reads it
    env["CTX_BOT_API_URL_TEMPLATE"] = f"http://bot-{{bot_id}}:{BOT_API_PORT_IN_CONTAINER}"
    env["CTX_JOURNAL_DIR"] = "/app/data/journal"
    if fleet.redis.url:
        env.pop("CTX_REDIS_URL")  # from the shared Secret: it may hold a password
    container = {
        "name": "sidecar",
        "image": image,
        "env": _env(env),
        "envFrom": [{"secretRef": {"name": "fleet-shared"}}, {"secretRef": {"name": "sidecar"}}],
        "ports": [{"name": "http", "containerPort": SIDECAR_PORT}],
        "readinessProbe": _http_probe("/readyz", SIDECAR_PORT, 10, 5),
        "livenessProbe": _http_probe("/healthz", SIDECAR_PORT, 15, 20),
        "resources": _quantity(fleet.sidecar.resources),
        "securityContext": {**RESTRICTED, "readOnlyRootFilesystem": True},
        "volumeMounts": [
            {"name": "data", "mountPath": "/app/data"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "fleet", "mountPath": str(Path(FLEET_FILE_IN_SIDECAR).parent)},
            {"name": "bot-tokens", "mountPath": str(Path(BOT_TOKENS_IN_SIDECAR).parent)},
        ],
    }
    volumes = [
        {"name": "data", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "fleet", "configMap": {"name": "fleet-file"}},
        # a mounted ConfigMap (not a subPath) is updated in place: rotation without restarts
        {"name": "bot-tokens", "configMap": {"name": "bot-token-hashes"}},
    ]
    fleet_file = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("fleet-file", fleet, labels),
        "data": {Path(FLEET_FILE_IN_SIDECAR).name: fleet_yaml},
    }
    hashes = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("bot-token-hashes", fleet, labels),
        "data": {Path(BOT_TOKENS_IN_SIDECAR).name: hashes_document(token_hashes)},
    }
    return [
        fleet_file,
        hashes,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta("sidecar", fleet, labels),
            "spec": {
                "replicas": fleet.sidecar.replicas,
                "selector": {"matchLabels": labels},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": _pod_spec([container], volumes),
                },
            },
        },
        _service("sidecar", fleet, labels, SIDECAR_PORT),
    ]


# -- bots -----------------------------------------------------------------------------------
def _bot(fleet: Fleet, bot: BotSpec, image: str) -> list[dict[str, Any]]:
    labels = labels_of("bot", bot.id)
    home = FREQTRADE_HOME
    container = {
        "name": "freqtrade",
        "image": image,
        "args": [
            "trade",
            "--db-url",
            f"sqlite:///{home}/user_data/db/tradesv3.sqlite",
            "--config",
            f"{home}/config/base.json",
            "--config",
            f"{home}/config/bot.json",
            "--strategy",
            bot.strategy,
        ],
        "env": _env({"CTX_BOT_ID": bot.id, "CTX_SIDECAR_URL": f"http://sidecar:{SIDECAR_PORT}"}),
        "envFrom": [
            {"secretRef": {"name": "fleet-shared"}},
            {"secretRef": {"name": f"bot-{bot.id}"}},
        ],
        "ports": [{"name": "api", "containerPort": BOT_API_PORT_IN_CONTAINER}],
        "readinessProbe": _http_probe("/api/v1/ping", BOT_API_PORT_IN_CONTAINER, 30, 30),
        "livenessProbe": _http_probe("/api/v1/ping", BOT_API_PORT_IN_CONTAINER, 30, 90),
        "resources": _quantity(bot.resources),
        "securityContext": {**RESTRICTED, "runAsUser": 1000},
        "volumeMounts": [
            {"name": "config", "mountPath": f"{home}/config", "readOnly": True},
            {"name": "db", "mountPath": f"{home}/user_data/db"},
        ],
    }
    volumes = [
        {"name": "config", "configMap": {"name": f"bot-{bot.id}-config"}},
        {"name": "db", "persistentVolumeClaim": {"claimName": f"bot-{bot.id}-db"}},
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta(f"bot-{bot.id}-db", fleet, labels),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(f"bot-{bot.id}", fleet, labels),
            "spec": {
                # One pod, and the old one gone before the new one starts; the sub-account lease
                # in Redis is the real guard (a pod that cannot take it does not trade).
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": _pod_spec([container], volumes) | {"terminationGracePeriodSeconds": 30},
                },
            },
        },
        _service(f"bot-{bot.id}", fleet, labels, BOT_API_PORT_IN_CONTAINER),
    ]


def _bot_config_map(fleet: Fleet, bot: BotSpec, base_config: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(f"bot-{bot.id}-config", fleet, labels_of("bot", bot.id)),
        "data": {"base.json": base_config, "bot.json": json.dumps(bot_config(bot), indent=2)},
    }


# -- secrets --------------------------------------------------------------------------------
def _secret(fleet: Fleet, name: str, env_file: Path, root: Path, extra: dict[str, str]):
    path = env_file if env_file.is_absolute() else root / env_file
    values = read_env_file(path) if path.is_file() else {}
    values = {k: v for k, v in values.items() if v} | extra
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name, fleet, labels_of("secret"))
        | {"annotations": {"ctx/source": str(env_file)}},
        "type": "Opaque",
        "stringData": dict(sorted(values.items())),
    }


def render_secrets(fleet: Fleet, root: Path) -> list[dict[str, Any]]:
    shared_extra = {"CTX_REDIS_URL": fleet.redis.url} if fleet.redis.url else {}
    secrets = [
        _secret(fleet, "fleet-shared", fleet.shared_env_file, root, shared_extra),
        _secret(fleet, "sidecar", fleet.sidecar.env_file, root, {}),
    ]
    secrets += [_secret(fleet, f"bot-{b.id}", b.env_file, root, {}) for b in fleet.bots]
    return secrets


# -- the whole fleet ------------------------------------------------------------------------
def render_manifests(fleet: Fleet, root: Path, image_prefix: str = "") -> list[dict[str, Any]]:
    """Every object but the Secrets, in apply order. The sidecar gets the fleet file (its
    dashboard monitor reads it) without ``redis.url``, which may hold a password and reaches
    it through the shared Secret, and the hashes of the bots' tokens (each bot without a token
    gets one in its env file first)."""
    base_path = fleet.base_config if fleet.base_config.is_absolute() else root / fleet.base_config
    base_config = base_path.read_text(encoding="utf-8")
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": fleet.project, "labels": labels_of("namespace")},
        }
    ]
    if not fleet.redis.url:
        docs += _redis(fleet)
    public = fleet.model_dump(mode="json", exclude={"redis": {"url"}})
    fleet_yaml = yaml.safe_dump(public, sort_keys=False)
    token_hashes = bot_token_hashes(fleet, root)
    docs += _sidecar(fleet, image_prefix + SIDECAR_IMAGE, fleet_yaml, token_hashes)
    for bot in fleet.bots:
        docs.append(_bot_config_map(fleet, bot, base_config))
        docs += _bot(fleet, bot, image_prefix + BOT_IMAGE)
    return docs + network_policies(fleet)


def dump_all(docs: list[dict[str, Any]]) -> str:
    header = "# Generated by `python -m context_service fleet render --target kubernetes`.\n"
    return header + yaml.safe_dump_all(docs, sort_keys=False, width=100)


@dataclass(frozen=True)
class RenderedKubernetes:
    manifests: Path
    secrets: Path


def write_kubernetes(fleet: Fleet, root: Path, image_prefix: str = "") -> RenderedKubernetes:
    out = root / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    manifests = out / "fleet.yaml"
    docs = render_manifests(fleet, root, image_prefix)
    manifests.write_text(dump_all(docs), encoding="utf-8")
    secrets = out / "secrets.yaml"
    descriptor = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(dump_all(render_secrets(fleet, root)))
    os.chmod(secrets, 0o600)
    return RenderedKubernetes(manifests, secrets)
