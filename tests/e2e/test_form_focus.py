"""After a failed submission the focus is on the error summary (issue 12 §5), on a full page and
after an HTMX swap; the journal and its export links pass axe (tests/e2e/test_portal_browser.py helpers)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_portal_browser import ADMIN, assert_accessible, field, log_in

pytestmark = pytest.mark.browser


async def test_the_focus_moves_to_the_error_summary(page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    await log_in(page, ADMIN)
    # A full page: the site form posted with a wrong INSEE code.
    await page.goto(live_server.url(f"/t/{cpam}/sites/nouveau"))
    await field(page, "Nom du site").fill("Parking du personnel")
    await field(page, "Code commune INSEE").fill("72000")
    await page.get_by_role("button", name="Créer le site").click()
    summary = page.locator(".error-summary")
    await expect(summary).to_contain_text("Code commune INSEE inconnu")
    await expect(summary).to_be_focused()
    # An HTMX swap: the journal's filter with a period that ends before it starts.
    await page.goto(live_server.url(f"/t/{cpam}/journal"))
    await expect(page.get_by_role("link", name="CSV (le journal)")).to_be_visible()
    await assert_accessible(page, "the journal with its export links")
    await field(page, "Du").fill("2026-12-10")
    await field(page, "Au").fill("2026-12-01")
    await page.get_by_role("button", name="Filtrer").click()
    summary = page.locator(".error-summary")
    await expect(summary).to_contain_text("La date de fin précède la date de début.")
    await expect(summary).to_be_focused()
