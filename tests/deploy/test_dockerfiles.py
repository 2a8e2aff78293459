"""The Dockerfiles, checked statically: pinned bases, non-root, healthchecks, no secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
SECRET_WORDS = {"KEY", "SECRET", "PASSWORD", "TOKEN", "WEBHOOK"}


def _instructions(name: str) -> list[tuple[str, str]]:
    text = (DOCKER / name).read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _last_stage(name: str) -> list[tuple[str, str]]:
    steps = _instructions(name)
    start = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[start:]


def test_bot_image_is_the_pinned_official_freqtrade_release() -> None:
    from importlib.metadata import version

    (base,) = [rest for word, rest in _instructions("Dockerfile.bot") if word == "FROM"]
    assert base == f"freqtradeorg/freqtrade:{version('freqtrade')}"


def test_sidecar_image_is_python_311_slim_pinned_by_exact_tag_or_digest() -> None:
    bases = [
        rest.split()[0] for word, rest in _instructions("Dockerfile.sidecar") if word == "FROM"
    ]
    exact = re.compile(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?$")
    assert bases and all(exact.match(b) for b in bases), bases


@pytest.mark.parametrize(
    ("name", "lock"),
    [("Dockerfile.sidecar", "sidecar.lock"), ("Dockerfile.bot", "bot-image.lock")],
)
def test_images_install_from_their_hash_checked_lock(name: str, lock: str) -> None:
    runs = " ".join(" ".join(rest.split()) for word, rest in _instructions(name) if word == "RUN")
    assert "--require-hashes -r /" in runs and f"requirements/{lock}" in runs
    # the package itself adds nothing unlocked
    assert re.search(r"pip install (--user )?(--no-cache-dir )?--no-deps /", runs), runs
    copies = " ".join(rest for word, rest in _instructions(name) if word == "COPY")
    assert f"requirements/{lock}" in copies


def test_bot_image_checks_that_freqtrades_pins_still_agree() -> None:
    runs = " ".join(
        " ".join(rest.split()) for word, rest in _instructions("Dockerfile.bot") if word == "RUN"
    )
    assert "--no-deps --require-hashes" in runs and runs.rstrip().endswith("pip check")


@pytest.mark.parametrize("name", ["Dockerfile.bot", "Dockerfile.sidecar"])
def test_runs_as_non_root_with_a_healthcheck(name: str) -> None:
    stage = _last_stage(name)
    users = [rest for word, rest in stage if word == "USER"]
    assert users, f"{name}: no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(word == "HEALTHCHECK" for word, _ in stage)


@pytest.mark.parametrize("name", ["Dockerfile.bot", "Dockerfile.sidecar"])
def test_no_secrets_baked_in(name: str) -> None:
    for word, rest in _instructions(name):
        if word in {"ENV", "ARG"}:
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest):
                assert not set(name.upper().split("_")) & SECRET_WORDS, rest
        if word in {"COPY", "ADD"}:
            sources = rest.split()[:-1]
            assert not any(s in {".", "./"} or s.endswith(".env") for s in sources), rest
            assert not any("bots.yaml" in s or "docker/env" in s for s in sources), rest


@pytest.mark.parametrize("name", ["Dockerfile.bot", "Dockerfile.sidecar"])
def test_dockerignore_keeps_env_files_and_runtime_data_out(name: str) -> None:
    patterns = (DOCKER / f"{name}.dockerignore").read_text().splitlines()
    for needed in ("**/*.env", "bots.yaml", "docker/env/", ".git/", "user_data/db/"):
        assert needed in patterns


def test_env_templates_hold_no_real_values() -> None:
    for template in (DOCKER / "env").glob("*.example"):
        for line in template.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition("=")
                assert value in {"", "change-me", "false"}, f"{template.name}: {key}"
