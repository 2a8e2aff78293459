"""NetworkPolicies of the Kubernetes fleet, and the labels every object carries.

Everything is denied by default; then Redis is reachable from the sidecar only, the sidecar
from the bots, the bots' REST API from the sidecar (the dashboard's monitor), the bots reach
anything (the exchange), and the sidecar reaches the outside only when ``sidecar.egress`` is on
or Redis is external.
"""

from __future__ import annotations

from typing import Any

from context_service.fleet.compose import SIDECAR_PORT
from context_service.fleet.model import BOT_API_PORT_IN_CONTAINER, Fleet

REDIS_PORT = 6379
PART_OF = "context-service"


def labels_of(component: str, bot_id: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/component": component}
    if bot_id:
        labels["ctx/bot"] = bot_id
    return labels


def meta(name: str, fleet: Fleet, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": fleet.project, "labels": labels}


def _policy(fleet: Fleet, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, fleet, labels_of("network")),
        "spec": spec,
    }


def _from(component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/component": component}}}


def _dns() -> dict[str, Any]:
    return {
        "to": [{"namespaceSelector": {}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def network_policies(fleet: Fleet) -> list[dict[str, Any]]:
    policies = [
        _policy(fleet, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(fleet, "redis-from-sidecar-only", {
            "podSelector": _from("redis")["podSelector"],
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [_from("sidecar")], "ports": [{"port": REDIS_PORT}]}],
            "egress": [],
        }),
        _policy(fleet, "sidecar-from-bots", {
            "podSelector": _from("sidecar")["podSelector"],
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [_from("bot")], "ports": [{"port": SIDECAR_PORT}]}],
        }),
        _policy(fleet, "bot-api-from-sidecar", {
            "podSelector": _from("bot")["podSelector"],
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [_from("sidecar")], "ports": [{"port": BOT_API_PORT_IN_CONTAINER}]}
            ],
        }),
        # bots: the exchange (anywhere), the sidecar and DNS
        _policy(fleet, "bot-egress", {
            "podSelector": _from("bot")["podSelector"],
            "policyTypes": ["Egress"],
            "egress": [{}],
        }),
    ]  # fmt: skip
    sidecar_egress: list[dict[str, Any]] = [_dns()]
    if fleet.sidecar.egress or fleet.redis.url:
        sidecar_egress.append({})  # the LLM API, webhooks, or an external Redis
    else:
        sidecar_egress.append({"to": [_from("redis"), _from("bot")]})
    policies.append(
        _policy(
            fleet,
            "sidecar-egress",
            {
                "podSelector": _from("sidecar")["podSelector"],
                "policyTypes": ["Egress"],
                "egress": sidecar_egress,
            },
        )
    )
    return policies
