"""The sidecar over HTTP (dry-run and live): httpx, short timeouts, strict response checks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from context_service.client.base import ContextUnavailable, LeaseStatus
from context_service.contract import Verdict, VerdictRequest

if TYPE_CHECKING:
    from context_service.memory.models import TradeEvent
    from context_service.models import KnowledgeObject

logger = logging.getLogger(__name__)


def _timeout(total_s: float) -> httpx.Timeout:
    # Connecting to a local sidecar is instant when it is up; do not wait long when it is not.
    return httpx.Timeout(total_s, connect=min(0.5, total_s))


class HttpContextClient:
    """Calls ``POST /v1/verdicts`` (and ``/v1/verdicts/ask``, which never waits),
    ``/v1/trades/events`` and ``/v1/leases/{account}``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | httpx.Auth | None = None,
        timeout_s: float = 2.0,
        transport: httpx.BaseTransport | None = None,
        journal_dir: Path | None = None,
    ) -> None:
        """``journal_dir``: where trade events wait while the sidecar cannot store them
        (replayed in order, before the next event, once it answers again); without it such
        events are logged and lost."""
        self._journal = None
        if journal_dir is not None:
            from context_service.memory.journal import JournaledTradeWriter

            self._journal = JournaledTradeWriter(
                self.store_trade_event, journal_dir, unreachable=(ContextUnavailable,)
            )
        headers = {"Authorization": f"Bearer {token}"} if isinstance(token, str) else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            auth=token if isinstance(token, httpx.Auth) else None,
            timeout=_timeout(timeout_s),
            transport=transport,
        )

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return self._http.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise ContextUnavailable(f"sidecar timeout on {path}") from exc
        except httpx.HTTPError as exc:
            raise ContextUnavailable(f"sidecar unreachable on {path}: {exc}") from exc

    def decide(self, request: VerdictRequest) -> Verdict:
        """The verdict, waiting for it (``CTX_VERDICT_ASYNC=false``): an LLM call slower than
        the timeout is a failure, and the entry is refused."""
        response = self._post("/v1/verdicts", request.model_dump(mode="json"))
        if response.status_code != 200:
            raise _unavailable(response, "/v1/verdicts")
        return self._verdict(response, request)

    def ask(self, request: VerdictRequest) -> Verdict | None:
        """The verdict if the sidecar has it, None while it is pending (``/v1/verdicts/ask``
        answers at once and completes the LLM call in the background); raises
        :class:`ContextUnavailable` on any failure."""
        response = self._post("/v1/verdicts/ask", request.model_dump(mode="json"))
        if response.status_code == 202 and _json_object(response).get("status") == "pending":
            return None
        if response.status_code != 200:
            raise _unavailable(response, "/v1/verdicts/ask")
        return self._verdict(response, request)

    def _verdict(self, response: httpx.Response, request: VerdictRequest) -> Verdict:
        try:
            verdict = Verdict.model_validate_json(response.content)
        except ValidationError as exc:
            verdict = _without_adjustments(response.content, exc)
        if verdict.pair != request.pair or verdict.bot_id != request.bot_id:
            raise ContextUnavailable(
                f"verdict for {verdict.bot_id}/{verdict.pair} answers {request.bot_id}/"
                f"{request.pair}"
            )
        return verdict

    def store_trade_event(self, event: TradeEvent) -> bool:
        """Send one event; True when stored, False when the sidecar already had it or refused
        it as invalid. Raises :class:`ContextUnavailable` when the sidecar could not take it
        (down, timeout, auth, 5xx such as its Redis being down): the event must be kept."""
        response = self._post("/v1/trades/events", event.model_dump(mode="json"))
        if response.status_code in (200, 201, 202):
            return _json_object(response).get("duplicate") is not True
        if response.status_code in (400, 409, 413, 422):
            logger.error(
                "trade event %s refused as invalid: HTTP %s %s",
                event.event,
                response.status_code,
                response.text[:200],
            )
            return False
        raise _unavailable(response, "/v1/trades/events")

    def record_trade_event(self, event: TradeEvent) -> bool:
        if self._journal is not None:
            self._journal.record(event)  # stored, duplicate, or kept for replay: never lost
            return True
        try:
            return self.store_trade_event(event)
        except ContextUnavailable as exc:
            logger.warning("trade event %s not recorded: %s", event.event, exc)
            return False

    def upsert_knowledge(self, bot_id: str, objects: list[KnowledgeObject]) -> int:
        body = {
            "bot_id": bot_id,
            "objects": [obj.model_dump(mode="json", exclude_none=True) for obj in objects],
        }
        response = self._post("/v1/evidence", body)
        if response.status_code != 200:
            raise _unavailable(response, "/v1/evidence")
        return len(objects)

    def acquire_lease(self, account: str, holder: str, ttl_s: int = 90) -> LeaseStatus:
        try:
            response = self._post(f"/v1/leases/{account}", {"holder": holder, "ttl_s": ttl_s})
        except ContextUnavailable as exc:
            return LeaseStatus(False, None, f"lease not confirmed: {exc}")
        body = _json_object(response)
        if response.status_code == 200 and body.get("held") is True:
            return LeaseStatus(True, holder, "lease held")
        if response.status_code == 409:
            other = body.get("holder")
            return LeaseStatus(False, other, f"sub-account {account} is leased by {other!r}")
        return LeaseStatus(
            False, None, f"lease not confirmed: HTTP {response.status_code} {response.text[:200]}"
        )

    def close(self) -> None:
        self._http.close()


def _without_adjustments(content: bytes, exc: ValidationError) -> Verdict:
    """A verdict whose only fault is its adjustments is used with none applied (fail closed
    to the bot's own settings, logged); any other fault makes it no verdict at all."""
    if not all(e["loc"] and e["loc"][0] == "adjustments" for e in exc.errors()):
        raise ContextUnavailable(f"malformed verdict from sidecar: {exc}") from exc
    try:
        verdict = Verdict.model_validate({**json.loads(content), "adjustments": None})
    except (ValueError, TypeError) as again:
        raise ContextUnavailable(f"malformed verdict from sidecar: {again}") from again
    logger.warning(
        "unreadable adjustments in verdict %s: none applied (%s)",
        verdict.verdict_id,
        exc.errors()[0]["msg"],
    )
    return verdict


def _unavailable(response: httpx.Response, path: str) -> ContextUnavailable:
    # The sidecar's errors carry a "message" (what the refusal log should say); else the text.
    message = _json_object(response).get("message")
    said = message if isinstance(message, str) else response.text
    status = response.status_code
    return ContextUnavailable(f"sidecar answered HTTP {status} on {path}: {said[:200]}")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object; empty when it is anything else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
