"""A real backtest with the news and Fear & Greed archives in context (shared data needed):
news reaches the decisions' manifests, never before its time, and the summary counts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import redis

from context_service.backtest.run import parse_args
from context_service.backtest.summary import format_summary
from context_service.client.stats import GatingStats
from context_service.keys import Keyspace
from context_service.memory.audit import AuditTrail
from context_service.memory.evidence import RedisKnowledgeStore
from context_service.settings import REPO_ROOT

TIMERANGE = "20220501-20220615"  # the LUNA collapse and the Celsius freeze


def test_evidence_argument() -> None:
    assert parse_args(["--evidence", "news,sentiment"]).evidence == ["news", "sentiment"]
    assert parse_args(["--evidence", "news,news"]).evidence == ["news"]
    for bad in ("tweets", ",", "news,tweets", "news\n", " news", ""):
        with pytest.raises(SystemExit):
            parse_args(["--evidence", bad])


def test_summary_line_per_lane() -> None:
    stats = GatingStats(bot_id="backtest", evidence=["news"])
    stats.verdicts_by_source["rules"] = 2
    stats.contexts = 2
    stats.lane_items.update({"news-sentiment": 5, "market-events": 1, "memory": 0})
    stats.contexts_with_news = 2
    summary = {
        "trades": 0,
        "profit_total_pct": 0.0,
        "profit_total_abs": 0.0,
        "buy_and_hold_pct": None,
        "max_drawdown_pct": 0.0,
        "budget": 100,
        "peak_stake_in_use": 0.0,
        "budget_held": True,
        "runtime_s": 1.0,
        "gating": stats.as_dict(),
    }
    text = format_summary(summary)
    assert "evidence in context: news | items per decision by lane: " in text
    assert "news-sentiment 2.50, market-events 0.50 | decisions with news 2" in text
    assert "memory" not in text.split("evidence in context")[1].split("\n")[0]  # 0: left out


@pytest.mark.slow
@pytest.mark.shared_data
def test_backtest_with_news_in_context(
    tmp_path: Path,
    shared_data: Path,
    markets_snapshot: Path,
    news_archive,
    sentiment_archive,
    redis_url,
) -> None:
    keyspace = Keyspace(prefix=f"t{uuid.uuid4().hex[:12]}")
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"context": {"key_prefix": keyspace.prefix}}))
    env = {
        **os.environ,
        "CTX_REDIS_URL": redis_url,
        "CTX_DATA_DIR": str(shared_data),
        "CTX_MARKETS_SNAPSHOT": str(markets_snapshot),
        "CTX_NEWS_ARCHIVE": str(news_archive),
        "CTX_SENTIMENT_ARCHIVE": str(sentiment_archive),
    }
    (tmp_path / "results").mkdir()
    command = [
        sys.executable, "-m", "context_service", "backtest",
        "--timerange", TIMERANGE, "--pairs", "BTC/USDT", "SOL/USDT", "--markets", "snapshot",
        "--evidence", "news,sentiment", "--summary-json", str(tmp_path / "summary.json"),
        "--", "--config", str(overlay), "--backtest-directory", str(tmp_path / "results"),
    ]  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    try:
        done = subprocess.run(
            command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        assert "importing the news archive" in done.stdout
        gating = json.loads((tmp_path / "summary.json").read_text())["gating"]
        assert gating["evidence"] == ["news", "sentiment"]
        assert gating["context_items_per_decision"]["news-sentiment"] > 0
        assert gating["context_items_per_decision"]["market-events"] > 0
        assert gating["decisions_with_news"] > 0
        # the audit trail: which news each decision's manifest held, never before its time
        market = RedisKnowledgeStore(client, keyspace.market())
        entries = AuditTrail(client, keyspace.bot("backtest")).query(kind="verdict", limit=5000)
        assert entries
        seen_news = 0
        for entry in entries:
            as_of = datetime.fromisoformat(entry.payload["as_of"])
            for object_id in entry.payload["manifest"]["included"]:
                if object_id.startswith(("news:", "fng:")):
                    obj = market.get(object_id)
                    assert obj is not None and obj.observed_at <= as_of, (object_id, as_of)
                    seen_news += object_id.startswith("news:")
        assert seen_news > 0
    finally:
        keys = list(client.scan_iter(match=keyspace.pattern, count=1000))
        if keys:
            client.delete(*keys)
        client.close()
