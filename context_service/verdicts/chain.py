"""The verdict provider chain: replay -> llm -> rules -> hold.

A chain is an ordered list of provider names; ``hold`` always ends it, so every request gets a
verdict. A chain may start anywhere (``settings.verdict_provider``), or a caller may pass its own
list (``["rules"]`` for offline backtests, ``["replay", "rules"]`` to replay dry-run verdicts).
"""

from __future__ import annotations

from collections.abc import Sequence

CHAIN: tuple[str, ...] = ("replay", "llm", "rules", "hold")


class ProviderSkipped(Exception):
    """A provider gave no verdict; the chain moves on and records ``reason``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def resolve_chain(providers: Sequence[str] | None, start: str) -> list[str]:
    """The providers to try in order, always ending with ``hold``."""
    if providers is None:
        if start not in CHAIN:
            raise ValueError(f"unknown verdict provider {start!r}; use one of {', '.join(CHAIN)}")
        return list(CHAIN[CHAIN.index(start) :])
    names = list(dict.fromkeys(providers))
    unknown = [n for n in names if n not in CHAIN]
    if unknown:
        raise ValueError(
            f"unknown verdict provider(s) {', '.join(unknown)}; use some of {', '.join(CHAIN)}"
        )
    if "hold" in names:
        names.remove("hold")
    return [*names, "hold"]
