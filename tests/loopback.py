"""Loopback helpers shared by the tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port with nothing listening on it (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
