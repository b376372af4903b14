"""Domain errors shared by services, portals and the API."""

from __future__ import annotations

__all__ = ["Forbidden", "NotFound", "ValidationFailed"]


class ValidationFailed(ValueError):
    """Bad input: one French message per field; nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(LookupError):
    """Absent, or present in a tenant the caller may not see (the two look alike)."""


class Forbidden(PermissionError):
    """The caller sees the resource but its role does not allow the action."""
