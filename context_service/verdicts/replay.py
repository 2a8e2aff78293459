"""The replay cache: recorded verdicts keyed by a hash of everything that shaped them.

The key covers the model, the sampling parameters, the prompt template version, the tool schema
version, the content hash of the synthesized context, the pair, the candle time and the request
itself (candidate, indicators, open position). The same decision asked again costs nothing and
returns the identical verdict. The cache exports to and imports from JSONL, so verdicts recorded
in dry-run can be replayed in a backtest.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import redis
from pydantic import ValidationError

from context_service.contract import Verdict, VerdictRequest, request_line
from context_service.keys import Keyspace
from context_service.redis_text import as_text

KEY_LENGTH = 64


class ReplayImportError(ValueError):
    """A replay file with a bad line; nothing was imported."""


def replay_key(params: dict[str, Any], context_hash: str, request: VerdictRequest) -> str:
    """sha256 hex of everything that shaped the verdict. ``params`` are the answering model's
    call parameters (``context_service.llm.params.replay_params``), given by the composition so
    this module needs nothing of the LLM package."""
    document = {
        "params": params,
        "context_hash": context_hash,
        "pair": request.pair,
        "candle_time": request.candle_time.isoformat(),
        "request": request_line(request),
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


class ReplayCache:
    """Per-bot verdict cache in Redis (``BotKeys.verdict_cache``), fronted by a small
    in-process LRU: an entry never changes meaning (its key hashes everything that shaped it),
    so hits need no Redis round trip."""

    def __init__(
        self, redis_client: redis.Redis, keyspace: Keyspace, local_entries: int = 10_000
    ) -> None:
        self.redis = redis_client
        self.keyspace = keyspace
        self._local: OrderedDict[tuple[str, str], Verdict] = OrderedDict()
        self._local_entries = local_entries
        self._lock = threading.Lock()

    def _remember(self, bot_id: str, key: str, verdict: Verdict) -> None:
        with self._lock:
            self._local[(bot_id, key)] = verdict
            self._local.move_to_end((bot_id, key))
            while len(self._local) > self._local_entries:
                self._local.popitem(last=False)

    def get(self, bot_id: str, key: str) -> Verdict | None:
        with self._lock:
            hit = self._local.get((bot_id, key))
        if hit is not None:
            return hit
        raw = self.redis.hget(self.keyspace.bot(bot_id).verdict_cache, key)
        if raw is None:
            return None
        verdict = Verdict.model_validate_json(raw)
        self._remember(bot_id, key, verdict)
        return verdict

    def put(self, bot_id: str, key: str, verdict: Verdict) -> None:
        self.redis.hset(self.keyspace.bot(bot_id).verdict_cache, key, verdict.model_dump_json())
        self._remember(bot_id, key, verdict)

    def size(self, bot_id: str) -> int:
        return int(self.redis.hlen(self.keyspace.bot(bot_id).verdict_cache))

    def entries(self, bot_id: str) -> Iterator[tuple[str, Verdict]]:
        """Every cached verdict, sorted by key (stable exports)."""
        raw = self.redis.hgetall(self.keyspace.bot(bot_id).verdict_cache)
        for key in sorted(raw, key=as_text):
            yield as_text(key), Verdict.model_validate_json(raw[key])

    def export(self, bot_id: str, out: TextIO) -> int:
        """Write the cache as JSONL (``{"key": ..., "verdict": {...}}`` per line)."""
        count = 0
        for key, verdict in self.entries(bot_id):
            line = {"key": key, "verdict": verdict.model_dump(mode="json")}
            out.write(json.dumps(line, sort_keys=True) + "\n")
            count += 1
        return count

    def import_lines(self, bot_id: str, lines: Iterable[str]) -> int:
        """Validate every line, then store them all at once; a bad line imports nothing."""
        parsed: dict[str, str] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key = item["key"]
                if not isinstance(key, str) or len(key) != KEY_LENGTH:
                    raise ValueError(f"key must be a {KEY_LENGTH}-character sha256 hex string")
                int(key, 16)
                verdict = Verdict.model_validate(item["verdict"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, ValidationError) as exc:
                raise ReplayImportError(f"line {number}: {exc}") from None
            parsed[key] = verdict.model_dump_json()
        if parsed:
            self.redis.hset(self.keyspace.bot(bot_id).verdict_cache, mapping=parsed)
        return len(parsed)
