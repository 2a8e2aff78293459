"""The function-calling tools the LLM answers with, and strict parsing of its tool calls.

``submit_verdict`` is the only way the model can give a verdict; ``suggest_adjustment`` lets it
adjust one of three strategy parameters for a while (``context_service.adjustments``; sent only
with ``CTX_APPLY_ADJUSTMENTS``). A missing, malformed or invalid verdict is a failure of the
call, never guessed at; an invalid suggestion is rejected with why and the verdict still stands.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from context_service.adjustments import (
    MAX_REASON_CHARS,
    MAX_SUGGESTED_HOURS,
    PARAMETERS,
    Parameter,
    shape_problem,
)
from context_service.bounds import PAIR_PATTERN
from context_service.contract import Action

SUBMIT_VERDICT = "submit_verdict"
SUGGEST_ADJUSTMENT = "suggest_adjustment"
# What one answer may suggest, and how much of a rejected suggestion is kept to show why.
MAX_SUGGESTIONS = 4
SUGGESTION_EXCERPT = 300

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": SUBMIT_VERDICT,
            "description": (
                "Submit the verdict on the candidate signal. Call exactly once. "
                "'buy' confirms an entry, 'sell' confirms an exit, 'hold' vetoes the candidate."
            ),
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["buy", "sell", "hold"]},
                    "confidence": {
                        "type": "number",
                        "description": "How sure you are, from 0.0 to 1.0.",
                    },
                    "rationale": {
                        "type": "string",
                        "description": "One or two short sentences (at most 500 characters).",
                    },
                    "evidence_ids": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Ids (in square brackets in the data) you relied on.",
                    },
                },
                "required": ["action", "confidence", "rationale", "evidence_ids"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": SUGGEST_ADJUSTMENT,
            "description": (
                "Optionally adjust one strategy parameter for a limited time. It does not "
                "change your verdict; the strategy applies it, within the bot's own limits, to "
                "its decisions from now until it expires. min_confidence: the confidence an "
                "entry needs (value 0..1). stake_fraction: multiplies the entry stake (value "
                "above 0, at most 1). pause_pair: no new entries on pair (value null)."
            ),
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {
                    "parameter": {"type": "string", "enum": list(PARAMETERS)},
                    "value": {
                        "type": ["number", "null"],
                        "description": "The new value; null for pause_pair.",
                    },
                    "pair": {
                        "type": ["string", "null"],
                        "description": "pause_pair only: the pair, e.g. BTC/USDT; else null.",
                    },
                    "expires_in_hours": {
                        "type": "number",
                        "description": "How long it holds (hours; the bot may shorten it).",
                    },
                    "reason": {
                        "type": "string",
                        "description": f"One short sentence (at most {MAX_REASON_CHARS} "
                        "characters).",
                    },
                },
                "required": ["parameter", "value", "pair", "expires_in_hours", "reason"],
                "additionalProperties": False,
            },
        },
    },
]

TOOLS_JSON = json.dumps(TOOLS, sort_keys=True, separators=(",", ":"))


def tools_for(suggestions: bool) -> list[dict[str, Any]]:
    """The tools one call sends: ``suggest_adjustment`` only when suggestions are used."""
    return TOOLS if suggestions else TOOLS[:1]


def verdict_schema() -> dict[str, Any]:
    """The JSON schema of a verdict (``submit_verdict``'s arguments), a fresh copy."""
    return json.loads(json.dumps(TOOLS[0]["function"]["parameters"]))


TOOL_SCHEMA_VERSION = hashlib.sha256(TOOLS_JSON.encode()).hexdigest()[:12]


class ToolCallError(ValueError):
    """The model's answer cannot be used; ``reason`` is the recorded fallback reason."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class VerdictArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(min_length=1, max_length=2000)
    evidence_ids: list[str] = Field(default_factory=list, max_length=64)


class AdjustmentArgs(BaseModel):
    """``suggest_adjustment``'s arguments, strictly: no coercion ("0.7" is no number, true no
    1), finite numbers, a known parameter spelled exactly, a pair by the pair pattern."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    parameter: Parameter
    value: float | None
    pair: str | None = Field(pattern=PAIR_PATTERN, max_length=41)
    expires_in_hours: float = Field(gt=0, le=MAX_SUGGESTED_HOURS)
    reason: str = Field(max_length=MAX_REASON_CHARS)

    @field_validator("reason")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            raise ValueError("control characters are not allowed")
        return value

    @model_validator(mode="after")
    def _shape(self) -> AdjustmentArgs:
        problem = shape_problem(self.parameter, self.value, self.pair)
        if problem:
            raise ValueError(problem)
        return self


@dataclass(frozen=True, slots=True)
class RejectedSuggestion:
    """A ``suggest_adjustment`` call that could not be used: what it said (cut) and why."""

    arguments: str
    why: str

    def as_dict(self) -> dict[str, str]:
        return {"arguments": self.arguments, "why": self.why}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call as the API returned it (arguments still a JSON string)."""

    name: str
    arguments: str


@dataclass(slots=True)
class ParsedAnswer:
    verdict: VerdictArgs
    adjustments: list[AdjustmentArgs] = field(default_factory=list)
    rejected_adjustments: list[RejectedSuggestion] = field(default_factory=list)
    unknown_evidence_ids: list[str] = field(default_factory=list)


def map_suggestion_pairs(calls: list[ToolCall], original: Callable[[str], str]) -> list[ToolCall]:
    """The calls with each suggestion's ``pair`` mapped by ``original`` (masking mode: the
    model named masked labels); anything unreadable is left for the parser to reject."""
    mapped = []
    for call in calls:
        if call.name == SUGGEST_ADJUSTMENT:
            try:
                data = json.loads(call.arguments)
            except (json.JSONDecodeError, TypeError):
                data = None
            if isinstance(data, dict) and isinstance(data.get("pair"), str):
                data["pair"] = original(data["pair"])
                call = ToolCall(call.name, json.dumps(data))
        mapped.append(call)
    return mapped


def _load(call: ToolCall) -> dict[str, Any]:
    try:
        data = json.loads(call.arguments)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ToolCallError(
            "malformed_tool_call", f"{call.name} arguments are not valid JSON: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ToolCallError("malformed_tool_call", f"{call.name} arguments are not an object")
    return data


def parse_answer(calls: list[ToolCall], known_ids: set[str]) -> ParsedAnswer:
    """Validate the tool calls of one answer; raises :class:`ToolCallError`.

    Evidence ids the context did not contain are dropped from the verdict (and reported), so
    the audit trail never claims evidence the model could not have seen.
    """
    verdict_calls = [c for c in calls if c.name == SUBMIT_VERDICT]
    if not verdict_calls:
        names = ", ".join(c.name for c in calls) or "none"
        raise ToolCallError("no_tool_call", f"no {SUBMIT_VERDICT} call (tool calls: {names})")
    if len(verdict_calls) > 1:
        raise ToolCallError("invalid_tool_call", f"{len(verdict_calls)} verdicts in one answer")
    unknown_tools = [c.name for c in calls if c.name not in {SUBMIT_VERDICT, SUGGEST_ADJUSTMENT}]
    if unknown_tools:
        raise ToolCallError("invalid_tool_call", f"unknown tool(s): {', '.join(unknown_tools)}")
    try:
        verdict = VerdictArgs.model_validate(_load(verdict_calls[0]))
    except ValidationError as exc:
        raise ToolCallError("invalid_tool_call", f"{SUBMIT_VERDICT}: {_errors(exc)}") from None
    adjustments: list[AdjustmentArgs] = []
    rejected: list[RejectedSuggestion] = []
    for call in calls:
        if call.name != SUGGEST_ADJUSTMENT:
            continue
        # A bad suggestion is rejected with why; it never invalidates the verdict.
        excerpt = str(call.arguments)[:SUGGESTION_EXCERPT]
        if len(rejected) + len(adjustments) >= MAX_SUGGESTIONS:
            why = f"more than {MAX_SUGGESTIONS} suggestions in one answer"
            rejected.append(RejectedSuggestion(excerpt, why))
            continue
        try:
            adjustments.append(AdjustmentArgs.model_validate(_load(call)))
        except ToolCallError as exc:
            rejected.append(RejectedSuggestion(excerpt, str(exc)))
        except ValidationError as exc:
            rejected.append(RejectedSuggestion(excerpt, _errors(exc)[:SUGGESTION_EXCERPT]))
    unknown = [i for i in verdict.evidence_ids if i not in known_ids]
    verdict.evidence_ids = [i for i in dict.fromkeys(verdict.evidence_ids) if i in known_ids]
    return ParsedAnswer(verdict, adjustments, rejected, unknown)


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    )
