"""Knowledge objects in bulk: batch validation and the bot's knowledge file.

A batch is validated as a whole and every bad object is named by its index and id, so the HTTP
API and the knowledge file report problems the same way and nothing is half-written.

The knowledge file holds a bot's standing goals, constraints and pinned facts (YAML or JSON)::

    observed_at: 2020-01-01T00:00:00Z   # default for objects without one (see below)
    source: trader                      # default provenance source
    objects:
      - kind: goal
        id: goal-preserve-capital
        priority: p0
        summary: Preserve the sub-account's capital; skip marginal entries.

Standing knowledge needs an ``observed_at``: in as-of mode (backtests) undated objects are
never shown, so the file's default dates them from when the trader adopted them.

An optional ``regime:`` section configures the deterministic responses to volatility regimes
(:class:`~context_service.risk.regime.RegimeConfig`), enforced by the risk layer::

    regime:
      detection: {crash_drawdown: 0.1}       # thresholds of the regime detector
      responses:
        high_volatility: {stake_scale: 0.5, trailing_stop_scale: 0.7}
        crash: {scope: market, pause_entries: true, trailing_stop_scale: 0.5}

An optional ``adjustments:`` section sets the hard limits of the LLM's parameter adjustments
(:class:`~context_service.adjustments.AdjustmentLimits`; used only with
``CTX_APPLY_ADJUSTMENTS``)::

    adjustments:
      min_confidence: [0.55, 0.9]     # [null, 0.9]: only raised from the bot's own threshold
      stake_fraction: [0.25, 1.0]     # false: not adjustable
      pause_pair: {max_hours: 48}
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from context_service.adjustments import AdjustmentLimits
from context_service.models import KNOWLEDGE_ADAPTER, KnowledgeObject, as_utc
from context_service.risk.regime import RegimeConfig

M = TypeVar("M", bound=BaseModel)

TOP_LEVEL_KEYS = {"observed_at", "source", "objects", "regime", "adjustments"}


class KnowledgeFileError(ValueError):
    """The knowledge file cannot be read or holds invalid objects."""


def describe(error: dict[str, Any]) -> str:
    """``summary: String should have at least 1 character``."""
    where = ".".join(str(part) for part in error.get("loc", ())) or "object"
    return f"{where}: {error.get('msg', 'invalid')}"


def validate_objects(raw: list[Any]) -> tuple[list[KnowledgeObject], list[dict[str, Any]]]:
    """Every object validated (``kind`` defaults to evidence); the problems of each bad one,
    as ``{"index", "id", "errors"}``."""
    objects: list[KnowledgeObject] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append({"index": index, "id": None, "errors": ["object: must be a mapping"]})
            continue
        data = {"kind": "evidence", **item}
        try:
            objects.append(KNOWLEDGE_ADAPTER.validate_python(data))
        except ValidationError as exc:
            errors = [
                describe(
                    {
                        # drop the discriminator tag pydantic puts first in the location
                        "loc": e["loc"][1:]
                        if e["loc"] and e["loc"][0] == data["kind"]
                        else e["loc"],
                        "msg": e["msg"],
                    }
                )
                for e in exc.errors()
            ]
            problems.append({"index": index, "id": item.get("id"), "errors": errors})
    return objects, problems


def _read_file(path: Path) -> dict[str, Any]:
    """The knowledge file's top-level mapping; :class:`KnowledgeFileError` when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeFileError(f"cannot read knowledge file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise KnowledgeFileError(f"{path} is not UTF-8 text: {exc.reason}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise KnowledgeFileError(f"{path} is not valid {path.suffix[1:] or 'YAML'}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise KnowledgeFileError(f"{path}: expected a mapping with an 'objects' list")
    unknown = set(data) - TOP_LEVEL_KEYS
    if unknown:
        raise KnowledgeFileError(f"{path}: unknown top-level keys {sorted(map(str, unknown))}")
    return data


def load_regime_config(path: Path) -> RegimeConfig | None:
    """The file's ``regime`` section (detection and responses), None when it has none;
    :class:`KnowledgeFileError` names every bad field with its path in the file."""
    return _section(path, "regime", RegimeConfig)


def load_adjustment_limits(path: Path) -> AdjustmentLimits | None:
    """The file's ``adjustments`` section (the limits of LLM adjustments), None when it has
    none; :class:`KnowledgeFileError` names every bad field with its path in the file."""
    return _section(path, "adjustments", AdjustmentLimits)


def _section(path: Path, name: str, model: type[M]) -> M | None:
    section = _read_file(path).get(name)
    if section is None:
        return None
    if not isinstance(section, dict):
        raise KnowledgeFileError(f"{path}: {name}: must be a mapping")
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        lines = ["  " + describe({"loc": (name, *e["loc"]), "msg": e["msg"]}) for e in exc.errors()]
        raise KnowledgeFileError(
            f"{path}: {len(lines)} invalid {name} settings:\n" + "\n".join(lines)
        ) from exc


def load_knowledge_file(path: Path) -> list[KnowledgeObject]:
    """The objects of a knowledge file; :class:`KnowledgeFileError` names every problem."""
    data = _read_file(path)
    defaults: dict[str, Any] = {"provenance": {"source": str(data.get("source") or path.name)}}
    if data.get("observed_at") is not None:
        try:
            observed = data["observed_at"]
            defaults["observed_at"] = as_utc(
                datetime.fromisoformat(observed) if isinstance(observed, str) else observed
            )
        except (TypeError, ValueError) as exc:
            raise KnowledgeFileError(f"{path}: observed_at: {exc}") from exc
    raw = [{**defaults, **item} if isinstance(item, dict) else item for item in data["objects"]]
    objects, problems = validate_objects(raw)
    if problems:
        lines = [
            f"  objects[{p['index']}] (id {p['id']!r}): {'; '.join(p['errors'])}" for p in problems
        ]
        raise KnowledgeFileError(f"{path}: {len(problems)} invalid objects:\n" + "\n".join(lines))
    ids = [obj.id for obj in objects]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise KnowledgeFileError(f"{path}: ids must be unique; repeated: {', '.join(repeated)}")
    return objects
