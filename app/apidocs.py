"""The API reference page (``/schema``), served from our own origin.

Litestar's Swagger plugin loads Swagger UI from a CDN and starts it with an inline
script; both are refused by our Content-Security-Policy (app/headers.py), and a
third-party script on the portal's origin could read every page. Swagger UI is
vendored under ``frontend/static/vendor/swagger-ui`` (swagger-ui-dist, Apache-2.0,
its LICENSE and NOTICE beside it) and started by ``/static/js/swagger-init.js``,
which reads the document's address from a ``data-`` attribute.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

__all__ = ["LocalSwaggerPlugin"]

_VENDOR = "/static/vendor/swagger-ui"


class LocalSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI with every asset on our origin and no inline script."""

    def __init__(self, *, path: str = "/swagger") -> None:
        super().__init__(path=path, favicon=f'<link rel="icon" type="image/png" href="{_VENDOR}/favicon-32x32.png">',
                         style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec_url = escape(self.get_openapi_json_route(request), quote=True)
        return f"""<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · référence</title>
  {self.favicon}
  <link rel="stylesheet" href="{_VENDOR}/swagger-ui.css">
  <script src="{_VENDOR}/swagger-ui-bundle.js" defer></script>
  <script src="{_VENDOR}/swagger-ui-standalone-preset.js" defer></script>
  <script src="/static/js/swagger-init.js" defer></script>
</head>
<body>
  <main id="swagger-container" data-spec-url="{spec_url}"></main>
</body>
</html>
""".encode()
