"""What each role may do in a tenant: the registry every component adds its permissions to.

A role is a string (``admin``, ``coordinator``, ``viewer``, ``operator``, ``agent``: the
roles ``tenants`` defines). Each component's manifest lists what it grants to which role
(``Component.permissions``); the composition root calls ``grant`` once per component at
start-up. ``allowed(role, permission)`` is the one check (``TenantContext.can``).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["allowed", "grant", "granted"]

_GRANTED: dict[str, frozenset[str]] = {}


def grant(permissions: Mapping[str, frozenset[str]]) -> None:
    """Add permissions to roles (idempotent)."""
    for role, names in permissions.items():
        _GRANTED[str(role)] = _GRANTED.get(str(role), frozenset()) | frozenset(names)


def granted(role: str) -> frozenset[str]:
    """Everything ``role`` may do."""
    return _GRANTED.get(str(role), frozenset())


def allowed(role: str, permission: str) -> bool:
    return permission in _GRANTED.get(str(role), frozenset())
