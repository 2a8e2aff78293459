"""The fleet monitor's lifetime: built from the fleet file when the app starts, stopped with it.

The dashboard's routes (``context_service.api.routes.dashboard``) read the monitor from
``app.state.fleet_monitor`` and a fleet-file problem from ``app.state.fleet_error``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from context_service.dashboard.monitor import FleetMonitor
from context_service.fleet.model import FleetFileError, load_fleet
from context_service.risk.critical import AutoStopPolicy

log = logging.getLogger("context_service.dashboard")


def build_monitor(app: FastAPI) -> FleetMonitor | None:
    """A monitor for the fleet file in the settings (None without one, or when invalid)."""
    settings = app.state.settings
    app.state.fleet_error = None
    if settings.fleet_file is None:
        return None
    try:
        fleet = load_fleet(settings.fleet_file)
    except FleetFileError as exc:
        app.state.fleet_error = str(exc)
        log.error("dashboard without bots: %s", exc)
        return None
    password = settings.bot_api_password
    return FleetMonitor(
        fleet.bots,
        app.state.service.components.alerts,
        settings.bot_api_url_template,
        settings.bot_api_username,
        password.get_secret_value() if password else None,
        interval_s=settings.monitor_interval_s,
        auto_stop=AutoStopPolicy(settings.auto_stop_exchange_errors, settings.auto_stop_window_s)
        if settings.auto_stop_enabled
        else None,
    )


@asynccontextmanager
async def monitor_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start polling the bots with the app; stop with it."""
    monitor = build_monitor(app)
    app.state.fleet_monitor = monitor
    if monitor is not None:
        monitor.start()
    try:
        yield
    finally:
        if monitor is not None:
            monitor.stop()
