"""The Freqtrade configuration of an evaluation, built the way ``backtest`` builds it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def freqtrade_config(
    config_path: Path,
    overlay: dict[str, Any],
    datadir: Path,
    timeframe: str,
    timerange: str | None,
    workdir: Path,
    protections: bool = True,
) -> dict[str, Any]:
    """Freqtrade's merged configuration (config file, then our overlay) for backtesting."""
    from freqtrade.commands import Arguments
    from freqtrade.commands.optimize_commands import setup_optimize_configuration
    from freqtrade.enums import RunMode

    from context_service.backtest.run import freqtrade_argv

    files = [config_path]
    if overlay:
        overlay_path = workdir / "overlay.json"
        overlay_path.write_text(json.dumps(overlay), encoding="utf-8")
        files.append(overlay_path)
    args = argparse.Namespace(
        analysis=None, timerange=timerange, no_protections=not protections, freqtrade_args=[]
    )
    argv = freqtrade_argv(args, files, datadir, timeframe)
    argv += ["--backtest-directory", str(workdir)]
    parsed = Arguments(argv).get_parsed_arg()
    return setup_optimize_configuration(parsed, RunMode.BACKTEST)
