"""The sidecar's HTTP API (FastAPI). Build the app with :func:`create_app`."""

from context_service.api.app import create_app
from context_service.api.auth import require_token

__all__ = ["create_app", "require_token"]
