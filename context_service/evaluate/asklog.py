"""The asks a variant's verdict chain received, kept to be asked again (the masked sample).

Each :class:`~context_service.verdicts.provider.Ask` is copied with a portable synthesis: its
text and a manifest holding only the included entries (what the replay key and a verdict's
evidence ids need), so the copy pickles back from a forked worker and never changes afterwards.
"""

from __future__ import annotations

from typing import Any

from context_service.engine.manifest import Manifest, Synthesis
from context_service.verdicts.provider import Ask


def portable(ask: Ask) -> Ask:
    """A self-contained copy of ``ask`` (its synthesis without the engine's lazy entries)."""
    manifest = ask.synthesis.manifest
    fields = manifest.model_dump(exclude={"entries"})
    fields["entries"] = [entry.model_dump() for entry in manifest.included_entries()]
    synthesis = Synthesis(ask.synthesis.text, Manifest.model_validate(fields))
    return Ask(ask.request, synthesis, ask.now, dict(ask.replay_params))


def capture_asks(ctx: Any) -> list[Ask]:
    """Keep a portable copy of every ask of the strategy context's in-process service."""
    service = getattr(getattr(ctx, "client", None), "engine", None)
    providers = getattr(service, "providers", None)
    log: list[Ask] = []
    if providers is None:
        return log
    original = providers.run

    def run(names: list[str], ask: Ask, *more: Any) -> Any:
        log.append(portable(ask))
        return original(names, ask, *more)

    providers.run = run
    return log
