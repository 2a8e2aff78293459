"""Routers of the HTTP API; each module is one resource."""
