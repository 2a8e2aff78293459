"""Built-in evidence sources; importing this package registers each of them."""

from context_service.evidence.sources import (  # noqa: F401  (registration on import)
    coingecko,
    coinmarketcap,
    fear_greed,
    perigon,
    rss,
)
