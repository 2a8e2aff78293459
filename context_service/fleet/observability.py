"""The optional Prometheus and Grafana services of the compose file (profile "observability").

Off by default: ``make up`` starts neither; ``python -m context_service fleet up
--observability`` (or ``docker compose --profile observability up``) does. Prometheus scrapes
the sidecar's /metrics (which also carries the bots' state, the sidecar polls them) and
evaluates docker/prometheus/alerts.yml; Grafana shows docker/grafana/dashboards. Both listen on
127.0.0.1 only. Grafana starts with its own admin/admin login and makes you change it at the
first login.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from context_service.fleet.envfiles import EnvFileError, is_set, read_env_file
from context_service.fleet.model import Fleet

PROFILE = "observability"
# The operator token for Prometheus' scrapes (/metrics is open to loopback clients only).
SCRAPE_TOKEN_FILE = "docker/generated/prometheus-token"
# Exact tags: an image update is a deliberate change here, like the Freqtrade release.
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.2"
GRAFANA_IMAGE = "grafana/grafana:11.2.0"
PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000


def _wget_check(url: str) -> dict[str, Any]:
    # Both images ship busybox wget (no Python, no curl).
    return {
        "test": ["CMD", "wget", "-q", "--spider", url],
        "interval": "30s",
        "timeout": "5s",
        "retries": 3,
        "start_period": "30s",
    }


def observability_services(limits: Any, hardening: dict[str, Any]) -> dict[str, Any]:
    """``prometheus`` and ``grafana`` service entries; ``limits(cpus, memory)`` as in compose."""
    prometheus = {
        "image": PROMETHEUS_IMAGE,
        "profiles": [PROFILE],
        "command": [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=30d",
        ],
        "volumes": [
            "./docker/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
            "./docker/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro",
            f"./{SCRAPE_TOKEN_FILE}:/etc/prometheus/sidecar-token:ro",
            "prometheus-data:/prometheus",
        ],
        "depends_on": {"sidecar": {"condition": "service_healthy"}},
        # backend: to scrape the sidecar; egress: to publish the port to the host
        "networks": ["backend", "egress"],
        "ports": [f"127.0.0.1:{PROMETHEUS_PORT}:{PROMETHEUS_PORT}"],
        "healthcheck": _wget_check(f"http://127.0.0.1:{PROMETHEUS_PORT}/-/healthy"),
        "restart": "unless-stopped",
        **hardening,
        **limits(0.5, "512m"),
    }
    grafana = {
        "image": GRAFANA_IMAGE,
        "profiles": [PROFILE],
        "environment": {
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
            "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": (
                "/var/lib/grafana/dashboards/context-service.json"
            ),
        },
        "volumes": [
            "./docker/grafana/provisioning:/etc/grafana/provisioning:ro",
            "./docker/grafana/dashboards:/var/lib/grafana/dashboards:ro",
            "grafana-data:/var/lib/grafana",
        ],
        "depends_on": ["prometheus"],
        "networks": ["egress"],
        "ports": [f"127.0.0.1:{GRAFANA_PORT}:{GRAFANA_PORT}"],
        "healthcheck": _wget_check(f"http://127.0.0.1:{GRAFANA_PORT}/api/health"),
        "restart": "unless-stopped",
        **hardening,
        **limits(0.5, "256m"),
    }
    return {"prometheus": prometheus, "grafana": grafana}


OBSERVABILITY_VOLUMES = {"prometheus-data": {}, "grafana-data": {}}


def write_scrape_token(fleet: Fleet, root: Path) -> Path:
    """Give Prometheus the operator token (from the sidecar's env file) to scrape /metrics.

    Written only for ``fleet up --observability``, into the git-ignored generated folder, and
    readable by the Prometheus container's user like the env files are by compose.
    """
    values = read_env_file(root / fleet.sidecar.env_file)
    if not is_set(values, "CTX_API_TOKEN"):
        raise EnvFileError(
            f"CTX_API_TOKEN not set in {fleet.sidecar.env_file}: Prometheus needs the operator "
            "token to scrape the sidecar's /metrics"
        )
    path = root / SCRAPE_TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(values["CTX_API_TOKEN"], encoding="utf-8")
    path.chmod(0o644)
    return path
