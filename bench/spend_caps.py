"""LLM spend against the hard caps when the endpoint over-reports usage, 100 calls at once.

A loopback OpenAI-compatible stub answers every chat completion with a valid verdict after
``--delay-ms`` and reports usage ``factor`` times the true size of what it received (prompt
tokens counted with o200k_base over every message and the tool schemas; completion = the
request's ``max_tokens``). The sidecar's service runs in this process against a private
redis-server. For each factor (1.0 as the control, then 1.5 and 10), 100 verdict requests from
10 bots are sent at once with the global daily cap at ``--cap`` USD. Prints, per factor: LLM
calls made, calls refused, spend recorded in the ledger, spend / cap, and whether the caps were
closed. ``--json`` prints the rows. ``--code-dir`` runs another checkout's service (to compare
with an older version).

    python bench/spend_caps.py [--cap 0.05] [--factors 1 1.5 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import (  # noqa: E402
    REPO,
    free_port,
    reply_json,
    start_redis,
    verdict_completion,
)

CALLS = 100
BOTS = 10


def stub_server(factor: float, delay_s: float) -> ThreadingHTTPServer:
    import tiktoken

    encoding = tiktoken.get_encoding("o200k_base")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            sent = sum(
                len(encoding.encode(str(m.get("content") or ""))) for m in request["messages"]
            )
            sent += len(encoding.encode(json.dumps(request.get("tools", []))))
            time.sleep(delay_s)
            arguments = {
                "action": "buy",
                "confidence": 0.8,
                "rationale": "trend and momentum agree",
                "evidence_ids": [],
            }
            usage = {
                "prompt_tokens": int(sent * factor),
                "completion_tokens": int(request["max_tokens"] * factor),
                "total_tokens": int((sent + request["max_tokens"]) * factor),
            }
            body = json.dumps(verdict_completion(request["model"], arguments, usage)).encode()
            reply_json(self, body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def one_factor(factor: float, cap: Decimal, redis_url: str, delay_s: float) -> dict:
    import redis

    from context_service.keys import Keyspace
    from context_service.llm.client import LLMClient
    from context_service.service import ContextService
    from context_service.settings import Settings

    stub = stub_server(factor, delay_s)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_url,
        llm_enabled=True,
        llm_base_url=f"http://127.0.0.1:{stub.server_address[1]}/v1",
        llm_api_key="bench",
        llm_max_retries=0,
        verdict_provider="replay",
        rate_bot_per_minute=10_000,
        rate_global_per_minute=10_000,
        cap_bot_daily_usd=Decimal("100"),
        cap_global_daily_usd=cap,
        cap_monthly_usd=Decimal("100"),
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    service = ContextService(
        settings, client, Keyspace(prefix="spend"), llm=LLMClient.from_settings(settings)
    )
    from verdicts import verdict_body

    from context_service.verdicts.models import VerdictRequest

    requests = []
    for i in range(CALLS):
        body = verdict_body(i, f"bot-{i % BOTS}")
        body["as_of"] = None
        requests.append(VerdictRequest.model_validate(body))
    try:
        with ThreadPoolExecutor(max_workers=CALLS) as pool:
            verdicts = list(pool.map(service.decide, requests))
    finally:
        stub.shutdown()
        service.close()
    now = service.clock()
    ledger = getattr(service, "components", service).ledger  # older versions: on the service
    status = ledger.status(None, now)["global-daily"]
    by_llm = [v for v in verdicts if v.source == "llm"]
    return {
        "factor": factor,
        "cap_usd": float(cap),
        "llm_calls": len(by_llm),
        "refused": CALLS - len(by_llm),
        "spent_usd": round(float(status["spent_usd"]), 6),
        "spent_over_cap": round(float(status["spent_usd"]) / float(cap), 3),
        "reserved_left_usd": status["reserved_usd"],
        "caps_closed": status.get("closed", "n/a"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cap", type=Decimal, default=Decimal("0.05"))
    parser.add_argument("--factors", type=float, nargs="+", default=[1.0, 1.5, 10.0])
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--code-dir", type=Path, default=REPO)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.code_dir.resolve()))
    if (REPO.parent / "shared" / "tiktoken").is_dir():
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(REPO.parent / "shared" / "tiktoken"))
    rows = []
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_redis(port, Path(data_dir))
        try:
            for factor in args.factors:
                print(f"factor {factor:g}: {CALLS} concurrent verdicts", file=sys.stderr)
                rows.append(
                    one_factor(factor, args.cap, f"redis://127.0.0.1:{port}/0", args.delay_ms / 1e3)
                )
        finally:
            server.kill()
            server.wait()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    import context_service

    print(f"code: {Path(context_service.__file__).parent.parent}")
    header = f"{'factor':>6} {'cap $':>7} {'calls':>6} {'refused':>8} {'spent $':>9}"
    print(f"{header} {'spent/cap':>10} closed")
    for r in rows:
        print(
            f"{r['factor']:>6g} {r['cap_usd']:>7g} {r['llm_calls']:>6} {r['refused']:>8} "
            f"{r['spent_usd']:>9.6f} {r['spent_over_cap']:>10} {r['caps_closed']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
