"""Training cutoffs of the LLMs the project is used with (vendor model documentation).

A backtest window before a model's cutoff lets the model "remember" what happened next: its
verdicts there are not a test of judgment. The report states the cutoff and warns.
Unknown models get a warning too: the cutoff must be looked up before trusting the figures.
"""

from __future__ import annotations

from datetime import date

# Model name prefix -> last month of training data (first day of that month); longest prefix wins.
TRAINING_CUTOFFS: dict[str, date] = {
    "gpt-3.5-turbo": date(2021, 9, 1),
    "gpt-4-turbo": date(2023, 12, 1),
    "gpt-4o-mini": date(2023, 10, 1),
    "gpt-4o": date(2023, 10, 1),
    "gpt-4.1": date(2024, 6, 1),
    "gpt-4.5": date(2023, 10, 1),
    "gpt-4": date(2021, 9, 1),
    "o1": date(2023, 10, 1),
    "o3": date(2024, 6, 1),
    "o4-mini": date(2024, 6, 1),
    "gpt-5": date(2024, 9, 30),
}


def training_cutoff(model: str) -> date | None:
    """The cutoff of ``model`` (e.g. ``gpt-4.1-mini-2025-04-14``), or None when not in the table."""
    name = model.strip().lower().removeprefix("openai/")
    matches = [prefix for prefix in TRAINING_CUTOFFS if name.startswith(prefix)]
    return TRAINING_CUTOFFS[max(matches, key=len)] if matches else None


def cutoff_warning(model: str, period_end: date) -> tuple[date | None, str | None]:
    """The cutoff and a warning when the evaluated window does not lie after it."""
    cutoff = training_cutoff(model)
    if cutoff is None:
        return None, (
            f"training cutoff of {model!r} is not in the project's table "
            "(context_service/evaluate/cutoffs.py): results may reflect memorization"
        )
    if period_end <= cutoff:
        return cutoff, (
            f"the evaluated window ends {period_end} before {model}'s training cutoff {cutoff}: "
            "the model may know what happened next; results can reflect memorization"
        )
    return cutoff, None
