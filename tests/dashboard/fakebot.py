"""A tiny stand-in for one bot's Freqtrade REST API (the shapes of freqtrade/rpc/api_server)."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USERNAME = "operator"
PASSWORD = "bot-api-password"


@dataclass
class FakeBot:
    """Answers like Freqtrade; edit ``state``/``trades``/``profit``/``today`` between polls."""

    name: str
    state: str = "running"
    dry_run: bool = True
    trades: list[dict[str, Any]] = field(default_factory=list)
    profit_closed: float = 0.0
    winrate: float = 0.0
    max_drawdown_abs: float = 0.0
    today: float = 0.0
    closed_trades: int = 0
    log_rows: list[list] = field(default_factory=list)  # Freqtrade /logs rows
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def routes(self) -> dict[str, Any]:
        return {
            "/api/v1/ping": {"status": "pong"},
            "/api/v1/show_config": {
                "version": "2026.9", "api_version": 2.4, "dry_run": self.dry_run,
                "trading_mode": "spot", "margin_mode": "", "short_allowed": False,
                "stake_currency": "USDT", "stake_amount": "unlimited",
                "stake_currency_decimals": 3, "max_open_trades": 2, "minimal_roi": {},
                "stoploss": -0.05, "stoploss_on_exchange": False, "timeframe": "1h",
                "timeframe_ms": 3600000, "timeframe_min": 60, "exchange": "kucoin",
                "demo_trading": False, "strategy": "ContextGatedStrategy",
                "force_entry_enable": False, "exit_pricing": {}, "entry_pricing": {},
                "bot_name": self.name, "state": self.state, "runmode": "dry_run",
                "position_adjustment_enable": False, "max_entry_position_adjustment": -1,
            },
            "/api/v1/status": self.trades,
            "/api/v1/count": {"current": len(self.trades), "max": 2, "total_stake": 25.0},
            "/api/v1/profit": {
                "profit_closed_coin": self.profit_closed, "profit_all_coin": self.profit_closed
                + sum(t.get("profit_abs", 0) for t in self.trades),
                "trade_count": self.closed_trades + len(self.trades),
                "closed_trade_count": self.closed_trades, "winrate": self.winrate,
                "max_drawdown_abs": self.max_drawdown_abs, "winning_trades": 0,
                "losing_trades": 0,
            },
            "/api/v1/logs": {"log_count": len(self.log_rows), "logs": self.log_rows},
            "/api/v1/daily": {
                "data": [{"date": "2026-11-21", "abs_profit": self.today, "rel_profit": 0.0,
                          "starting_balance": 50.0, "fiat_value": 0.0, "trade_count": 1}],
                "fiat_display_currency": "", "stake_currency": "USDT",
            },
        }  # fmt: skip

    def start(self, port: int = 0) -> FakeBot:
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
                routes = bot.routes()
                if path != "/api/v1/ping" and self.headers.get("Authorization") != (
                    f"Basic {expected}"
                ):
                    self._send(401, {"detail": "Unauthorized"})
                elif path in routes:
                    self._send(200, routes[path])
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:  # Freqtrade's bot-control routes
                expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._send(401, {"detail": "Unauthorized"})
                elif self.path == "/api/v1/stopbuy":
                    bot.state = "paused"
                    self._send(200, {"status": "paused, no more entries will occur from now."})
                elif self.path == "/api/v1/start":
                    bot.state = "running"
                    self._send(200, {"status": "starting trader ..."})
                else:
                    self._send(404, {"detail": "Not Found"})

            def _send(self, code: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def open_trade(pair: str, profit_abs: float, profit_pct: float, trade_id: int = 1) -> dict:
    return {
        "trade_id": trade_id, "pair": pair, "open_date": "2026-11-21 04:00:00",
        "stake_amount": 25.0, "profit_pct": profit_pct, "profit_abs": profit_abs,
        "is_open": True,
    }  # fmt: skip
