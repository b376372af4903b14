"""API v1 resources: tenants, sites, users, audit events."""

from __future__ import annotations

from typing import Any

handlers: list[Any] = []
