"""The ``backtest`` command: a real, offline-capable Freqtrade backtest of the strategy."""
