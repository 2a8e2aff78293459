"""Prometheus rules and config checked by promtool; the Grafana dashboard checked statically.

promtool comes from Debian's ``prometheus`` package (scripts/ensure-test-tools.sh installs it).
Every PromQL expression of the dashboard is also parsed by promtool (as a recording rule), and
every metric that the rules and the dashboard name must be one the sidecar exports.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from fastapi.testclient import TestClient

from context_service.api import create_app
from context_service.fleet.compose import render_compose
from context_service.fleet.model import load_fleet

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "docker" / "prometheus"
GRAFANA = REPO / "docker" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "context-service.json"
PROMQL_FUNCTIONS = {"sum", "rate", "histogram_quantile", "vector", "on", "by", "group_left",
                    "and", "or", "up", "increase", "time"}  # fmt: skip


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool missing: apt-get install prometheus (scripts/ensure-test-tools.sh)")
    return path


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_alert_rules_pass_promtool_check() -> None:
    done = run_promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


def test_alert_rules_fire_on_the_right_series(tmp_path: Path) -> None:
    """docker/prometheus/alerts.test.yml: caps at 80/100 %, breaker, bot down, loss, Redis."""
    done = run_promtool("test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "alerts.yml"
    broken.write_text(
        (PROMETHEUS / "alerts.yml").read_text().replace("ctx_llm_cap_used_ratio >= 1", "ctx_x > 1")
    )
    shutil.copy(PROMETHEUS / "alerts.test.yml", tmp_path)
    failed = run_promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert failed.returncode != 0  # the unit tests do catch a wrong rule


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    config = (PROMETHEUS / "prometheus.yml").read_text()
    # inside the container the rules are at /etc/prometheus/alerts.yml (compose mounts them)
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "token").write_text("operator-token")
    config = config.replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml"))
    config = config.replace("/etc/prometheus/sidecar-token", str(tmp_path / "token"))
    (tmp_path / "prometheus.yml").write_text(config)
    done = run_promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "time", "templating"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos", "targets", "datasource"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "type": {"enum": ["timeseries", "stat", "bargauge", "gauge", "table"]},
                    "gridPos": {
                        "type": "object",
                        "required": ["h", "w", "x", "y"],
                        "properties": {
                            "h": {"type": "integer", "minimum": 1},
                            "w": {"type": "integer", "minimum": 1, "maximum": 24},
                            "x": {"type": "integer", "minimum": 0, "maximum": 23},
                            "y": {"type": "integer", "minimum": 0},
                        },
                    },
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "required": ["refId", "expr"]},
                    },
                },
            },
        },
    },
}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def expressions() -> list[str]:
    return [t["expr"] for panel in dashboard()["panels"] for t in panel["targets"]]


def test_dashboard_json_is_a_valid_grafana_dashboard() -> None:
    data = dashboard()
    jsonschema.validate(data, DASHBOARD_SCHEMA)
    panels = data["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    titles = " | ".join(p["title"] for p in panels)
    for needed in ("spend vs caps", "by source and action", "refusals", "latency", "net of"):
        assert needed in titles.lower(), needed


def test_dashboard_uses_the_provisioned_data_source() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    for panel in dashboard()["panels"]:
        assert panel["datasource"]["uid"] == source["uid"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == source["uid"]
    loader = yaml.safe_load((GRAFANA / "provisioning/dashboards/context-service.yml").read_text())
    assert loader["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    records = [{"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(expressions())]
    rules = {"groups": [{"name": "dashboard", "rules": records}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    done = run_promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', " ", expr)  # selectors, strings, ranges
    expr = re.sub(r"\b(by|on|without|ignoring)\s*\([^)]*\)", " ", expr)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {n for n in names if n not in PROMQL_FUNCTIONS and not n.isdigit()}


def exported_names(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_rules_and_dashboard_only_name_metrics_the_sidecar_exports(make_service) -> None:
    service = make_service(api_token="t0ken-for-metrics")
    with TestClient(create_app(service=service), client=("127.0.0.1", 40000)) as client:
        text = client.get("/metrics").text
    exported = exported_names(text) | {"up"}  # `up` is Prometheus' own
    # counters and histograms are exported under their family name
    series = {*exported}
    for name in exported:
        series |= {f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    used: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= metric_names(rule["expr"])
    for expr in expressions():
        used |= metric_names(expr)
    assert used, "no metrics found"
    assert used <= series, f"not exported by the sidecar: {sorted(used - series)}"


def test_compose_profile_mounts_these_files_and_is_off_by_default(project: Path) -> None:
    doc = render_compose(load_fleet(project / "bots.yaml"), Path("bots.yaml"))
    for name in ("prometheus", "grafana"):
        service = doc["services"][name]
        assert service["profiles"] == ["observability"]
        assert all(p.startswith("127.0.0.1:") for p in service["ports"])
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./") and "docker/generated" not in source:
                assert (REPO / source).exists(), volume
    assert "backend" in doc["services"]["prometheus"]["networks"]  # reaches the sidecar
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (target,) = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert target == "sidecar:8787"


def test_prometheus_gets_the_operator_token_only_for_the_profile(project: Path) -> None:
    from context_service.fleet.envfiles import EnvFileError
    from context_service.fleet.observability import SCRAPE_TOKEN_FILE, write_scrape_token
    from deploy.fleet_helpers import write_env

    fleet = load_fleet(project / "bots.yaml")
    sidecar_env = project / fleet.sidecar.env_file
    token = sidecar_env.read_text().split("CTX_API_TOKEN=")[1].split()[0]
    path = write_scrape_token(fleet, project)
    assert path == project / SCRAPE_TOKEN_FILE and path.read_text() == token
    write_env(sidecar_env, CTX_API_TOKEN="change-me # fill me")
    with pytest.raises(EnvFileError, match="CTX_API_TOKEN not set") as info:
        write_scrape_token(fleet, project)
    assert "change-me" not in str(info.value)
    doc = render_compose(fleet, Path("bots.yaml"))
    mounts = doc["services"]["prometheus"]["volumes"]
    assert f"./{SCRAPE_TOKEN_FILE}:/etc/prometheus/sidecar-token:ro" in mounts
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    auth = config["scrape_configs"][0]["authorization"]
    assert auth == {"type": "Bearer", "credentials_file": "/etc/prometheus/sidecar-token"}
