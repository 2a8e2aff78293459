"""Point-in-time evidence in backtests (``--evidence news,sentiment``).

The archives' items come from the market-wide store where ``feeds import`` put them (tag
``archive``); an archive the store does not hold yet is imported first from its file
(``CTX_NEWS_ARCHIVE`` / ``CTX_SENTIMENT_ARCHIVE``), once, with a progress bar. The run copies
them into its own in-memory market store, which every decision reads as of its candle: an item
takes part only once its ``observed_at`` (stated time plus the availability lag) has passed.
Each decision's context is counted per lane for the summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from context_service.evidence.components import FeedComponents
from context_service.evidence.config import get_feed_settings
from context_service.evidence.importer import ARCHIVE_TAG, import_archive

logger = logging.getLogger(__name__)


class EvidenceProblem(ValueError):
    """The requested evidence cannot be loaded; the message says what to do."""


def archive_items(market: Any, archives: Sequence[str]) -> dict[str, list[Any]]:
    """The stored items of each archive (by their ``archive`` tag)."""
    found: dict[str, list[Any]] = {name: [] for name in archives}
    for obj in market.all():
        name = obj.tags.get(ARCHIVE_TAG)
        if name in found:
            found[name].append(obj)
    return found


def ensure_archives(
    persistent: Any, archives: Sequence[str], show_progress: bool = True
) -> dict[str, list[Any]]:
    """The archives' items in the persistent market store, importing an archive the store
    does not hold yet from its file (once; later runs read the store)."""
    found = archive_items(persistent, archives)
    missing = [name for name, items in found.items() if not items]
    if missing:
        settings = get_feed_settings()
        components = FeedComponents(settings)
        for name in missing:
            path = settings.archive_file(name)
            if path is None or not path.is_file():
                raise EvidenceProblem(
                    f"no {name} evidence stored and no archive file to import: run "
                    f"'python -m context_service feeds import --source {name} --file <csv>' or "
                    f"set CTX_{name.upper()}_ARCHIVE"
                )
            print(f"importing the {name} archive {path} (once; later runs read the store)")
            report = import_archive(name, path, persistent, components, show_progress=show_progress)
            print(f"  {report.stored} items stored in {report.seconds:.1f} s")
        found = archive_items(persistent, archives)
    return found


def prepare_evidence(key_prefix: str, archives: Sequence[str]) -> None:
    """Before a backtest starts: make sure the store holds the archives (imports them if not),
    so the run itself only copies them."""
    from context_service.keys import Keyspace
    from context_service.memory import Memory, connect
    from context_service.settings import get_settings

    settings = get_settings()
    ensure_archives(Memory(connect(settings), Keyspace(key_prefix), settings).market, archives)


def load_archives(service: Any, archives: Sequence[str], show_progress: bool = True) -> int:
    """Put the archives' items into the service's (in-memory) market store; returns how many."""
    started = time.perf_counter()
    found = ensure_archives(service.components.memory.market, archives, show_progress)
    items = [obj for name in archives for obj in found[name]]
    service.components.market.upsert_many(items)
    counts = ", ".join(f"{name} {len(found[name])}" for name in archives)
    logger.info("evidence for this run: %s (%.1f s)", counts, time.perf_counter() - started)
    print(f"evidence in context: {counts} items, each visible from its observed_at")
    return len(items)


def attach_evidence(
    client: Any, archives: Sequence[str], bot_id: str, on_context: Callable[[Any], None]
) -> None:
    """Load the archives into an in-process client's service; ``on_context`` gets each of the
    bot's syntheses (the run's statistics count what they included, per lane)."""
    service = getattr(client, "engine", None)
    if service is None or not hasattr(service, "components"):
        raise EvidenceProblem("evidence in context needs the in-process engine (a backtest)")
    load_archives(service, archives)
    service.engine(bot_id).add_listener("synthesized", on_context)
