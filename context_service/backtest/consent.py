"""Consent to spend: no LLM money is spent by a backtest or evaluation nobody agreed to.

After the estimate is printed, a run whose chain spends money goes on only when

* the model is free (a local server priced ``{"free": true}``) or every call is in the replay
  cache (the estimate is $0), or
* ``--yes`` was given, or
* a per-run cap is set (``--max-usd X`` or ``CTX_BACKTEST_MAX_USD``): the run then stops
  calling the LLM once X is spent, or
* on a terminal, the user answers ``y`` to the question.

Otherwise it stops before any call with one line saying what to add, and exit code 2. A plug-in
provider that spends money in its own way cannot be priced or capped here: it needs ``--yes``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from context_service.settings import MAX_RUN_USD

if TYPE_CHECKING:
    from context_service.backtest.estimate import SpendEstimate

MAX_MASK_SAMPLE = 1000
_USD = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")
_COUNT = re.compile(r"[0-9]{1,7}")


class SpendProblem(Exception):
    """The run would spend money it may not; the message (one line) says what to add."""


def max_usd_arg(text: str) -> Decimal:
    """``--max-usd``: a positive, finite number of USD (argparse type)."""
    value = Decimal(text) if _USD.fullmatch(text) else None
    if value is None or value <= 0 or value > MAX_RUN_USD:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of USD up to {MAX_RUN_USD} (like 2.50), got {text[:40]!r}"
        )
    return value


def mask_sample_arg(text: str) -> int:
    """``--mask-sample``: how many candles to ask masked and unmasked, 0 to MAX (0: off)."""
    value = int(text) if _COUNT.fullmatch(text) else None
    if value is None or value > MAX_MASK_SAMPLE:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 (off) to {MAX_MASK_SAMPLE}, got {text[:40]!r}"
        )
    return value


def add_spend_options(parser: argparse.ArgumentParser) -> None:
    """``--yes`` and ``--max-usd`` (the same for ``backtest`` and ``evaluate``)."""
    parser.add_argument(
        "--yes", action="store_true", help="accept the printed LLM spend estimate without asking"
    )
    parser.add_argument(
        "--max-usd",
        type=max_usd_arg,
        default=None,
        help="cap this run's LLM spend (USD; default CTX_BACKTEST_MAX_USD): once spent, the "
        "chain falls back to the rules",
    )


@dataclass(frozen=True)
class SpendOptions:
    """What the user said about spending."""

    yes: bool = False
    max_usd: Decimal | None = None
    interactive: bool = False


def consent(
    estimate: SpendEstimate | None,
    unpriced: list[str],
    options: SpendOptions,
    ask: Callable[[str], str],
) -> str:
    """How the run may spend (``free``, ``nothing to call``, ``--yes``, ``cap``, ``answered
    yes``), or :class:`SpendProblem`. ``ask`` puts a question to the user (terminals only)."""
    if unpriced and not options.yes:
        raise SpendProblem(
            f"verdict provider(s) {', '.join(unpriced)} spend money in their own way (no price, "
            "no cap here): add --yes to run them"
        )
    if estimate is None or estimate.free:
        return "--yes" if unpriced else "free"
    if estimate.calls == 0:
        return "nothing to call: every ask is in the replay cache"
    if options.yes:
        return "--yes"
    if options.max_usd is not None:
        return "cap"
    bound = f"${estimate.usd_no_cache:,.4f}"
    if options.interactive:
        answer = ask(f"Spend up to {bound} on {estimate.calls} LLM calls? [y/N] ")
        if answer.strip().lower() in ("y", "yes"):
            return "answered yes"
    raise SpendProblem(
        f"this run would make {estimate.calls} LLM calls for up to {bound} (estimate above) and "
        "nothing was called: add --yes to accept, or --max-usd X (CTX_BACKTEST_MAX_USD) to cap "
        "the run's LLM spend"
    )
