"""Tenant and coordinator portal pages."""

from __future__ import annotations

from typing import Any

handlers: list[Any] = []
