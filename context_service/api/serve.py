"""``python -m context_service serve [--host H] [--port N]``: run the sidecar with uvicorn.

Without ``CTX_API_TOKEN`` the service refuses to start unless it binds to a loopback address:
an open API must never be reachable from another machine.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import logging

from context_service.settings import Settings, get_settings

log = logging.getLogger("context_service.serve")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> str | None:
    """Why the service must not start on ``host``, or None when it may."""
    from context_service.credentials import TokenBook, token_weakness

    try:
        book = TokenBook(settings)
    except ValueError as exc:
        return f"bot tokens unusable: {exc}"
    if book.open and not is_loopback(host):
        return (
            f"refusing to serve on {host} without an API token: set CTX_API_TOKEN, "
            "or bind to 127.0.0.1"
        )
    if settings.api_token is not None:
        weakness = token_weakness(settings.api_token.get_secret_value())
        if weakness:
            return f"CTX_API_TOKEN is too weak: {weakness}"
    if settings.api_token is not None and not book.per_bot:
        log.warning(
            json.dumps(
                {
                    "event": "shared_token",
                    "message": "no per-bot tokens (CTX_BOT_TOKENS_FILE / CTX_BOT_TOKEN_HASHES): "
                    "every bot uses the operator token and can act for the others",
                }
            )
        )
    return None


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server.

    The service keeps thousands of long-lived objects (parsed evidence, the engine's table,
    cached verdicts); with CPython's default thresholds full collections over them showed up
    as 100-500 ms latency spikes (bench/verdicts.py). Objects alive at start-up are frozen out
    of collection and the young generation is collected less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m context_service serve", description="Run the sidecar HTTP service."
    )
    parser.add_argument("--host", help="bind address (default CTX_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default CTX_PORT, 8787)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from context_service.api.logs import configure_logging

    configure_logging(args.log_level.upper())
    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    problem = check_bind(settings, host)
    if problem:
        log.error(json.dumps({"event": "refused_to_start", "reason": problem}))
        return 2
    import uvicorn

    from context_service.api.app import create_app

    log.info(json.dumps({"event": "serving", "host": host, "port": port}))
    tune_gc()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        log_level=args.log_level,
    )
    return 0
