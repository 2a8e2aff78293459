"""``GET /v1/feeds`` and ``python -m context_service feeds``: status, sources and import."""

from __future__ import annotations

import json

import pytest
import redis
import respx
from fastapi.testclient import TestClient
from verdicts.support import make_service  # noqa: F401  (fixture)

from context_service.api import create_app
from context_service.engine.store import InMemoryStore
from context_service.evidence import cli
from context_service.evidence.poller import FeedPoller, build_jobs
from context_service.evidence.status import RedisStatusStore

from .conftest import FETCHED_AT, FIXTURES, fixture_bytes

TOKEN = "feeds-token"


@pytest.fixture
def service(make_service):  # noqa: F811
    return make_service(llm=False, api_token=TOKEN)


@respx.mock
def test_get_feeds_shows_what_the_poller_recorded(service, components, feed_settings) -> None:
    respx.get("https://cointelegraph.com/rss").respond(
        200, content=fixture_bytes("cointelegraph.rss")
    )
    respx.get("https://decrypt.co/feed").respond(200, content=b"\x00not a feed")
    respx.get("https://api.alternative.me/fng/").respond(
        200, content=fixture_bytes("fng-latest.json")
    )
    respx.get("https://api.coingecko.com/api/v3/global").respond(500)
    jobs, _ = build_jobs(components)
    status = RedisStatusStore(service.components.redis, service.components.keyspace.feeds_status)
    FeedPoller(jobs, InMemoryStore(), feed_settings, status=status).run_due(FETCHED_AT)
    app = create_app(service=service)
    app.state.feed_settings = feed_settings
    with TestClient(app) as client:
        assert client.get("/v1/feeds").status_code == 401
        body = client.get("/v1/feeds", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    sources = {s["name"]: s for s in body["sources"]}
    assert sources["rss-cointelegraph"]["items_stored"] == 3
    assert sources["rss-cointelegraph"]["last_success"] == FETCHED_AT.isoformat()
    assert sources["rss-decrypt"]["last_error"].startswith("malformed")
    assert sources["coingecko"]["last_error"].startswith("http_500")
    assert (
        sources["fear-greed"]["lag_s"] is not None and sources["fear-greed"]["breaker"] == "closed"
    )
    registered = {r["name"]: r for r in body["registered"]}
    assert registered["perigon"]["waiting_for_key"] and not registered["perigon"]["enabled"]
    assert "perigon_api_key" not in json.dumps(body)


def test_cli_sources_and_status(capsys, monkeypatch, redis_url, keyspace) -> None:
    assert cli.main(["sources"]) == 0
    out = capsys.readouterr().out
    assert "perigon" in out and "needs key" in out and "rss" in out
    assert cli.main(["sources", "--json"]) == 0
    assert {r["name"] for r in json.loads(capsys.readouterr().out)} >= {"rss", "fear-greed"}


def test_cli_import_dry_run_and_bad_input(capsys, tmp_path) -> None:
    path = FIXTURES / "cryptonews-extract.csv"
    assert cli.main(["import", "--source", "news", "--file", str(path), "--dry-run", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["rows"] == 40 and report["stored"] == 40 and report["lag_minutes"] == 720
    assert "reading news [" in captured.err  # the progress bar
    bad = tmp_path / "bad.csv"
    bad.write_text("not;an;archive\n")
    for argv in (
        ["import", "--source", "news", "--file", str(bad), "--dry-run"],
        ["import", "--source", "news", "--file", str(tmp_path / "nope.csv"), "--dry-run"],
        ["import", "--source", "news", "--file", str(path), "--lag-minutes", "-5", "--dry-run"],
        ["import", "--source", "news", "--file", str(path), "--lag-minutes", "inf", "--dry-run"],
    ):
        assert cli.main(argv) == 2
        assert capsys.readouterr().err.splitlines()[-1].startswith("feeds: ")
    with pytest.raises(SystemExit):
        cli.main(["import", "--source", "tweets", "--file", str(path)])
    # the next good command still works
    assert (
        cli.main(["import", "--source", "news", "--file", str(path), "--dry-run", "--quiet"]) == 0
    )
    assert "40 rows checked" in capsys.readouterr().out


def test_cli_import_into_the_market_store_is_idempotent(capsys, redis_url, keyspace, monkeypatch):
    monkeypatch.setenv("CTX_REDIS_URL", redis_url)
    from context_service.settings import get_settings

    get_settings.cache_clear()
    try:
        news = FIXTURES / "cryptonews-extract.csv"
        days = FIXTURES / "fear_and_greed-extract.csv"
        argv = ["--quiet", "--json", "--key-prefix", keyspace.prefix]
        assert cli.main(["import", "--source", "news", "--file", str(news), *argv]) == 0
        first = json.loads(capsys.readouterr().out)
        assert cli.main(["import", "--source", "news", "--file", str(news), *argv]) == 0
        assert cli.main(["import", "--source", "sentiment", "--file", str(days), *argv]) == 0
        capsys.readouterr()
        market = cli.market_sink(keyspace.prefix)
        assert first["stored"] == 40 and len(market) == 40 + 40  # the re-import added nothing
        item = market.get("fng:2022-06-12")
        assert item is not None and item.tags["fng_value"] == "14"
    finally:
        get_settings.cache_clear()


def test_cli_status_reads_what_the_poller_wrote(capsys, redis_url, keyspace, monkeypatch):
    from datetime import timedelta

    from context_service.evidence.status import FeedState
    from context_service.settings import get_settings

    status = RedisStatusStore(redis.Redis.from_url(redis_url), keyspace.feeds_status)
    status.save(
        FeedState(
            "rss-coindesk",
            300,
            last_success=FETCHED_AT - timedelta(hours=3),
            last_error="timeout: ReadTimeout",
            last_error_at=FETCHED_AT,
            items_seen=12,
            items_stored=10,
            duplicates=2,
        )
    )
    monkeypatch.setenv("CTX_REDIS_URL", redis_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["status", "--key-prefix", keyspace.prefix]) == 0
        out = capsys.readouterr().out
        assert "rss-coindesk" in out and "timeout: ReadTimeout" in out
        assert cli.main(["status", "--json", "--key-prefix", keyspace.prefix]) == 0
        (row,) = json.loads(capsys.readouterr().out)["sources"]
        assert row["items_stored"] == 10 and row["lag_s"] > 3 * 3600
    finally:
        get_settings.cache_clear()


def test_progress_bar_on_a_log_and_on_a_terminal() -> None:
    import io

    from context_service.evidence.progress import ProgressBar

    log = io.StringIO()
    bar = ProgressBar(100, "reading")
    bar.stream = log
    for done in range(1, 101):
        bar.update(done)
    bar.close()
    lines = log.getvalue().splitlines()
    assert 10 <= len(lines) <= 13 and lines[-1].startswith("reading [") and "100/100" in lines[-1]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    bar = ProgressBar(10, "storing", stream=term)
    bar.update(5)
    bar.close(finished=False)
    assert term.getvalue().startswith("\rstoring [") and term.getvalue().endswith("\n")
