"""What a feed source needs from its host (settings, HTTP client, item builder), gathered once.

The sidecar builds one :class:`FeedComponents` and every source's ``build`` takes its parts
from it; tests pass their own (a respx-mocked client, a fixed markets snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from context_service.evidence.assets import AssetTagger
from context_service.evidence.config import FeedSettings, get_feed_settings
from context_service.evidence.items import ItemBuilder
from context_service.evidence.scoring import Scorer


@dataclass
class FeedComponents:
    settings: FeedSettings = field(default_factory=get_feed_settings)
    http: httpx.Client | None = None  # None: each source opens its own
    tagger: AssetTagger | None = None
    scorer: Scorer | None = None

    def __post_init__(self) -> None:
        if self.tagger is None:
            self.tagger = AssetTagger.from_markets_snapshot(self.settings.markets_snapshot)
        if self.scorer is None:
            self.scorer = Scorer.from_file(self.settings.rules_file)

    def builder(self, valid_for: timedelta | None = None) -> ItemBuilder:
        assert self.tagger is not None and self.scorer is not None
        return ItemBuilder(
            self.tagger, self.scorer, max_future=self.settings.max_future, valid_for=valid_for
        )


def components_of(host: Any) -> FeedComponents:
    """``host`` itself when it is a :class:`FeedComponents`, else its ``feeds`` attribute, else
    components built from the environment (the service's components pass their settings'
    markets snapshot)."""
    if isinstance(host, FeedComponents):
        return host
    found = getattr(host, "feeds", None)
    if isinstance(found, FeedComponents):
        return found
    settings = get_feed_settings()
    snapshot = getattr(getattr(host, "settings", None), "markets_snapshot", None)
    if settings.markets_snapshot is None and snapshot is not None:
        # the service's markets snapshot (CTX_MARKETS_SNAPSHOT) names the fleet's assets
        settings = settings.model_copy(update={"markets_snapshot": snapshot})
    return FeedComponents(settings)
