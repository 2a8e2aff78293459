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
import os

from pydantic import ValidationError

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
    parser.add_argument(
        "--workers", type=int, help="worker processes, each a replica (default CTX_WORKERS, 1)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from context_service.api.logs import configure_logging

    configure_logging(args.log_level.upper())
    try:
        settings = get_settings()
    except ValidationError as exc:  # one readable line per bad setting, not a traceback
        problems = "; ".join(
            f"CTX_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        log.error(json.dumps({"event": "refused_to_start", "reason": problems}))
        return 2
    host = args.host or settings.host
    port = args.port or settings.port
    workers = settings.workers if args.workers is None else args.workers
    problem = check_bind(settings, host)
    if problem is None and not 1 <= workers <= 32:
        problem = f"--workers must be between 1 and 32, got {workers}"
    if problem is None and workers > 1 and not settings.redis_url:
        # Each worker would start an embedded Redis of its own: memories that never meet.
        problem = "several workers need one shared Redis: set CTX_REDIS_URL"
    if problem:
        log.error(json.dumps({"event": "refused_to_start", "reason": problem}))
        return 2
    import uvicorn

    from context_service.api.app import create_app

    log.info(json.dumps({"event": "serving", "host": host, "port": port, "workers": workers}))
    common = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "log_level": args.log_level,
    }
    if workers == 1:
        tune_gc()
        uvicorn.run(create_app(settings), **common)
    else:
        from context_service.api.app import WORKER_LOG_LEVEL

        os.environ[WORKER_LOG_LEVEL] = args.log_level.upper()
        # Each worker process builds its own app from the same environment: a replica on the
        # same Redis, as several sidecar pods would be (tests/redis_ha/test_two_sidecars.py).
        uvicorn.run(
            "context_service.api.app:app_from_environment", factory=True, workers=workers, **common
        )
    return 0
