"""Security headers on every HTTP answer of the web application (ASVS 4.0 V14.4).

One ``before_send`` hook of the Litestar application, so that it also covers what no
route handler produced (a 404 of the router, a 405, a static file, the OpenAPI pages):

- ``Content-Security-Policy``: own origin only, no inline script, no framing, forms
  posted to our origin only. The Swagger page alone (``/schema``) may carry inline
  *styles*, which Swagger UI sets on its elements; never inline scripts.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
  ``X-Frame-Options: DENY`` (for browsers that ignore ``frame-ancestors``).
- ``Strict-Transport-Security`` when the cookies are ``Secure`` (the deployment is HTTPS).
- ``Cache-Control: no-store`` on everything but ``/static/``: pages show one person's
  data and an API answer one token's; a shared computer's back button must not show them.
  A handler that serves public data to anyone (the stations' open data) says so with its
  own ``Cache-Control: public, …``, which is kept.
"""

from __future__ import annotations

from typing import Any

from litestar.datastructures import MutableScopeHeaders

from app.settings import Settings

__all__ = ["CONTENT_SECURITY_POLICY", "security_headers_hook"]

_BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _policy(**overrides: str) -> str:
    return "; ".join(f"{k} {v}" for k, v in {**_BASE, **overrides}.items())


CONTENT_SECURITY_POLICY = _policy()
_SCHEMA_POLICY = _policy(**{"style-src": "'self' 'unsafe-inline'"})


def security_headers_hook(settings: Settings) -> Any:
    """The ``before_send`` hook adding the headers to every ``http.response.start``."""
    fixed = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
    }
    if settings.secure_cookies:
        fixed["strict-transport-security"] = "max-age=31536000; includeSubDomains"

    async def hook(message: Any, scope: Any) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        path: str = scope.get("path", "")
        for name, value in fixed.items():
            headers[name] = value
        headers["content-security-policy"] = _SCHEMA_POLICY if path.startswith("/schema") else CONTENT_SECURITY_POLICY
        if not path.startswith("/static/") and not headers.get("cache-control", "").startswith("public"):
            headers["cache-control"] = "no-store"

    return hook
