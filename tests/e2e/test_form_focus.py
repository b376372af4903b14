"""After a failed submission the focus is on the error summary (issue 12 §5), on a full page and
after an HTMX swap; the journal and its export links pass axe (tests/e2e/test_portal_browser.py helpers)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_portal_browser import ADMIN, assert_accessible, field, log_in

pytestmark = pytest.mark.browser


async def _fails_with_focus_on_summary(page: Any, fields: dict[str, str], button: str, message: str) -> None:
    for label, value in fields.items():
        await field(page, label).fill(value)
    await page.get_by_role("button", name=button).click()
    summary = page.locator(".error-summary")
    await expect(summary).to_contain_text(message)
    await expect(summary).to_be_focused()


async def test_the_focus_moves_to_the_error_summary(page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    await log_in(page, ADMIN)
    # A full page: the site form posted with a wrong INSEE code.
    await page.goto(live_server.url(f"/t/{cpam}/sites/nouveau"))
    await _fails_with_focus_on_summary(page, {"Nom du site": "Parking du personnel", "Code commune INSEE": "72000"},
                                       "Créer le site", "Code commune INSEE inconnu")
    # An HTMX swap: the journal's filter with a period that ends before it starts.
    await page.goto(live_server.url(f"/t/{cpam}/journal"))
    await expect(page.get_by_role("link", name="CSV (le journal)")).to_be_visible()
    await assert_accessible(page, "the journal with its export links")
    await _fails_with_focus_on_summary(page, {"Du": "2026-12-10", "Au": "2026-12-01"}, "Filtrer",
                                       "La date de fin précède la date de début.")
