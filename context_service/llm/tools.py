"""The function-calling tools the LLM answers with, and strict parsing of its tool calls.

``submit_verdict`` is the only way the model can give a verdict; ``suggest_adjustment`` lets it
propose a strategy parameter change (logged and shown; applied only when enabled and in bounds).
A missing, malformed or invalid tool call is a failure of the call, never guessed at.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from context_service.contract import Action

SUBMIT_VERDICT = "submit_verdict"
SUGGEST_ADJUSTMENT = "suggest_adjustment"

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
                "Optionally propose a change to one strategy parameter. A human or a bounded "
                "policy decides whether it is applied; it never changes this verdict."
            ),
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {
                    "parameter": {"type": "string"},
                    "value": {"type": "number"},
                    "reason": {"type": "string"},
                },
                "required": ["parameter", "value", "reason"],
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
    model_config = ConfigDict(extra="forbid")

    parameter: str = Field(min_length=1, max_length=64)
    value: float
    reason: str = Field(max_length=2000)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call as the API returned it (arguments still a JSON string)."""

    name: str
    arguments: str


@dataclass(slots=True)
class ParsedAnswer:
    verdict: VerdictArgs
    adjustments: list[AdjustmentArgs] = field(default_factory=list)
    unknown_evidence_ids: list[str] = field(default_factory=list)


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
    adjustments = []
    for call in calls:
        if call.name == SUGGEST_ADJUSTMENT:
            try:
                adjustments.append(AdjustmentArgs.model_validate(_load(call)))
            except (ValidationError, ToolCallError):
                continue  # a bad suggestion is ignored; it never invalidates the verdict
    unknown = [i for i in verdict.evidence_ids if i not in known_ids]
    verdict.evidence_ids = [i for i in dict.fromkeys(verdict.evidence_ids) if i in known_ids]
    return ParsedAnswer(verdict, adjustments, unknown)


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    )
