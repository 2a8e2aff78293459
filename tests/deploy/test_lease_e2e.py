"""End to end: two bots configured for one sub-account, the strategy's real HTTP client, the
real sidecar app over uvicorn and the real Redis: only the first may trade."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis
from pydantic import SecretStr

from context_service.api.app import create_app
from context_service.client.factory import build_strategy_context
from context_service.fleet.compose import bot_config
from context_service.fleet.model import load_fleet
from context_service.keys import Keyspace
from context_service.service import ContextService
from context_service.settings import Settings
from deploy.live import serve

TOKEN = "lease-e2e-token"


def test_second_bot_on_the_same_sub_account_refuses_to_trade(
    project: Path, redis_client: redis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    settings = Settings(api_token=SecretStr(TOKEN), journal_dir=tmp_path / "journal")
    service = ContextService(settings, redis_client, keyspace)
    first = bot_config(load_fleet(project / "bots.yaml").bot("btc-trend"))
    # The same sub-account started a second time by hand, under another bot id.
    second = {**first, "context": {**first["context"], "bot_id": "btc-trend-copy"}}
    with serve(create_app(service=service)) as url:
        bot_settings = Settings(api_token=SecretStr(TOKEN), sidecar_url=url)
        ctx_first = build_strategy_context(first, in_process=False, settings=bot_settings)
        ctx_second = build_strategy_context(second, in_process=False, settings=bot_settings)
        ctx_first.renew_lease()
        ctx_second.renew_lease()
        assert ctx_first.lease_held is True
        assert ctx_second.lease_held is False  # the strategy refuses entries without it
        assert redis_client.get(keyspace.lease("ctxbtc01")) == "btc-trend"

        ctx_first.renew_lease()  # renewing keeps it
        assert ctx_first.lease_held is True
        released = httpx.delete(  # the first bot goes away and releases its lease
            f"{url}/v1/leases/ctxbtc01",
            params={"holder": "btc-trend"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert released.json()["released"] is True
        ctx_second.renew_lease()
        assert ctx_second.lease_held is True
