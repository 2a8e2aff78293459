"""The dashboard in headless Chromium against fake bot APIs: what an operator actually sees.

Needs a Chromium binary (``scripts/ensure-test-tools.sh`` installs Debian's package); without one
the test is skipped with that reason. A screenshot is left in tests/artifacts/dashboard.png.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from deploy.live import serve

from context_service.api.app import create_app
from dashboard.conftest import TOKEN

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Let the page's fetch and rendering finish before the DOM is dumped.
    "--virtual-time-budget=15000",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium installed: run scripts/ensure-test-tools.sh (Debian package chromium)")


@pytest.fixture
def live_url(seeded_service) -> Iterator[str]:
    """The real sidecar app served by uvicorn on a loopback port."""
    with serve(create_app(service=seeded_service)) as url:
        # First poll of the bots before the browser looks (the monitor thread also polls).
        seeded = httpx.get(
            f"{url}/v1/dashboard/state", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20
        )
        assert seeded.status_code == 200
        yield url


class _Text(HTMLParser):
    """Visible text of the dumped DOM, per element with a data-bot attribute, and overall."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.by_bot: dict[str, list[str]] = {}
        self._stack: list[str | None] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        data = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        inherited = self._stack[-1] if self._stack else None
        self._stack.append(data.get("data-bot", inherited))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if self._skip or not data.strip():
            return
        self.parts.append(data.strip())
        bot = self._stack[-1] if self._stack else None
        if bot:
            self.by_bot.setdefault(bot, []).append(data.strip())


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_dashboard_shows_every_bot_spend_verdicts_alerts_and_comparison(
    live_url: str, tmp_path: Path
) -> None:
    chromium = _chromium()
    page = f"{live_url}/dashboard#token={TOKEN}"
    dumped = _run(chromium, tmp_path / "profile", "--dump-dom", page)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert 'data-loaded="true"' in dumped.stdout, "the page never rendered the fleet state"
    text = _Text()
    text.feed(dumped.stdout)
    everything = " ".join(text.parts)
    assert "3 bot(s), 2 reachable" in everything
    assert 'id="login" hidden' in dumped.stdout  # the token form is gone once signed in

    alpha = " ".join(text.by_bot["alpha"])
    assert "running" in alpha and "dry-run" in alpha
    assert "1 / 2" in alpha  # open trades / max
    assert "BTC/USDT" in alpha and "0.4200" in alpha  # the open trade's profit
    assert "0.4200 / 0.50 USD" in alpha  # LLM spend today vs its cap
    assert "BTC/USDT buy 0.72 via llm" in alpha
    assert "cost cap at 80%" in alpha  # the alpha cap alert on its card

    gamma = " ".join(text.by_bot["gamma"])
    assert "unreachable" in gamma and "connection refused" in gamma
    beta = " ".join(text.by_bot["beta"])
    assert "SOL/USDT hold 0.72 via rules" in beta and "llm:cap" in beta
    assert "log errors" in beta and "Could not fetch ticker for SOL/USDT" in beta

    # comparison table rows: bot, profit, % of budget, win rate, drawdown, LLM cost, net, source
    rows = [p for p in text.parts if p in {"alpha", "beta", "gamma"}]
    assert rows.count("alpha") >= 2  # card title and table row
    assert "2.83" in alpha  # 3.25 profit - 0.42 LLM cost
    assert "60.0 %" in alpha  # win rate
    assert "1.50" in gamma and "memory" in gamma

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    taken = _run(
        chromium,
        tmp_path / "profile2",
        f"--screenshot={shot}",
        "--window-size=1280,1700",
        page,
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_without_a_token_the_page_asks_for_it(live_url: str, tmp_path: Path) -> None:
    dumped = _run(_chromium(), tmp_path / "profile", "--dump-dom", f"{live_url}/dashboard")
    assert dumped.returncode == 0
    assert "Sidecar token (CTX_API_TOKEN)" in dumped.stdout
    assert 'id="login"' in dumped.stdout and 'id="login" hidden' not in dumped.stdout
    assert "alpha" not in dumped.stdout


def test_adjustments_in_force_are_listed_on_their_bots_card(seeded_service, tmp_path: Path) -> None:
    from datetime import timedelta

    from context_service.adjustments import Adjustment

    chromium = _chromium()
    service = seeded_service
    service.settings = service.settings.model_copy(update={"apply_adjustments": True})
    made = service.clock() - timedelta(hours=1)
    pause = Adjustment(
        parameter="pause_pair", pair="BTC/USDT", made_at=made,
        expires_at=made + timedelta(hours=6), verdict_id="v-1", reason="exchange outage",
    )  # fmt: skip
    keys = service.components.keyspace.bot("alpha")
    service.components.redis.zadd(keys.adjustments, {pause.model_dump_json(): made.timestamp()})
    with serve(create_app(service=service)) as url:
        dumped = _run(
            chromium, tmp_path / "profile", "--dump-dom", f"{url}/dashboard#token={TOKEN}"
        )
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    text = _Text()
    text.feed(dumped.stdout)
    alpha = " ".join(text.by_bot["alpha"])
    until = pause.expires_at.isoformat()[:16].replace("T", " ")
    assert "Adjustments in force" in alpha and "pause BTC/USDT" in alpha and until in alpha
    assert "Adjustments in force" not in " ".join(text.by_bot["beta"])
