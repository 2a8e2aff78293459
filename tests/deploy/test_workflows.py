"""The CI/CD workflows, checked by actionlint and for what the pipeline must do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _actionlint() -> str:
    beside = Path(sys.executable).with_name("actionlint")
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint not found: it is a dev dependency (make install)")
    return found


def _lint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_actionlint(), "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def _load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _text(workflow: dict) -> str:
    return yaml.safe_dump(workflow)


def test_actionlint_accepts_every_workflow() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "release.yml"}
    result = _lint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The check can fail: an unknown expression and a bad `runs-on` are reported."""
    broken = (
        (WORKFLOWS / "ci.yml")
        .read_text()
        .replace("${{ env.PYTHON_VERSION }}", "${{ env.PYTHON_VERSION.nope( }}", 1)
    )
    target = tmp_path / ".github" / "workflows" / "ci.yml"
    target.parent.mkdir(parents=True)
    target.write_text(broken)
    result = _lint(target)
    assert result.returncode != 0
    assert "ci.yml" in result.stdout


def test_ci_runs_lint_and_the_readme_test_command_on_push_and_pull_request() -> None:
    ci = _load("ci.yml")
    assert "push" in ci["on"] and "pull_request" in ci["on"]
    runs = [step.get("run", "") for step in _steps(ci)]
    assert "make lint" in runs and "make test" in runs
    assert "make test" in (ROOT / "README.md").read_text()


def test_ci_builds_and_scans_both_images_and_the_dependencies() -> None:
    ci = _load("ci.yml")
    images = ci["jobs"]["images"]
    assert images["strategy"]["matrix"]["image"] == ["sidecar", "bot"]
    for name in ("sidecar", "bot"):
        assert (ROOT / "docker" / f"Dockerfile.{name}").is_file()
    uses = [step.get("uses", "") for step in images["steps"]]
    assert any(u.startswith("aquasecurity/trivy-action@") for u in uses)
    scan = next(s for s in images["steps"] if s.get("with", {}).get("exit-code") == "1")
    assert "CRITICAL" in scan["with"]["severity"]
    sbom = [s for s in images["steps"] if s.get("with", {}).get("format") == "cyclonedx"]
    assert sbom and any(u.startswith("actions/upload-artifact@") for u in uses)
    assert "pip-audit" in _text(ci["jobs"]["pip-audit"])


def test_release_pushes_version_and_commit_tags_after_the_checks() -> None:
    release = _load("release.yml")
    assert release["on"]["push"]["tags"] == ["v*.*.*"]
    assert release["jobs"]["checks"]["uses"] == "./.github/workflows/ci.yml"
    publish = release["jobs"]["publish"]
    assert publish["needs"] == "checks"
    assert publish["permissions"]["packages"] == "write"
    meta = next(s for s in publish["steps"] if s.get("id") == "meta")
    assert "type=semver" in meta["with"]["tags"] and "type=sha" in meta["with"]["tags"]
    pushes = [s for s in publish["steps"] if s.get("with", {}).get("push") is True]
    assert pushes and pushes[0]["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
    # the scan runs before the push, and the push carries the commit into the image
    names = [s.get("name", "") for s in publish["steps"]]
    assert names.index("Trivy scan before pushing") < names.index("Push")
    assert "STRATEGY_VERSION=${{ github.sha }}" in pushes[0]["with"]["build-args"]
