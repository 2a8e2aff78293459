"""The evaluated window against the model's training cutoff (``llm/capabilities.py``).

A window that ends before a model's training cutoff lets the model "remember" what happened
next: its verdicts there are not a test of judgment. The cutoff comes from the capability table
(the one source: the model's longest-prefix entry, corrected by ``CTX_LLM_CAPABILITIES``). A
model the table does not know gets a warning too: its cutoff must be looked up before the
figures can be trusted.
"""

from __future__ import annotations

import json
from datetime import date

from context_service.llm.capabilities import lookup
from context_service.llm_options import CapabilityOverride


def training_cutoff(
    model: str, declared: dict[str, CapabilityOverride] | None = None
) -> date | None:
    """The last month of ``model``'s training data (first day of it), or None when unknown."""
    return lookup(model, declared).training_cutoff


def cutoff_warning(
    model: str, period_end: date, declared: dict[str, CapabilityOverride] | None = None
) -> tuple[date | None, str | None]:
    """The cutoff and a warning when the window does not lie after it (None: no warning)."""
    cutoff = training_cutoff(model, declared)
    if cutoff is None:
        example = json.dumps({model[:60]: {"training_cutoff": "2024-06-01"}})
        return None, (
            f"the training cutoff of {model[:60]!r} is unknown (not in "
            f"context_service/llm/capabilities.py; declare it: CTX_LLM_CAPABILITIES='{example}'): "
            "results may reflect memorization"
        )
    if period_end <= cutoff:
        return cutoff, (
            f"the evaluated window ends {period_end} before {model}'s training cutoff {cutoff}: "
            "the model may know what happened next; results can reflect memorization"
        )
    return cutoff, None
