"""Key portal flows on PostgreSQL, where row-level security is the second wall."""

from __future__ import annotations

import pytest

from tests.tenants.test_portal import create_beneficiary_flow, site_and_audit_flow

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("backend", ["postgres"], indirect=True)]


async def test_site_and_audit_log_on_postgres(client, demo):
    await site_and_audit_flow(client, demo)


async def test_coordinator_creates_a_beneficiary_on_postgres(client, app, db, demo):
    await create_beneficiary_flow(client, app, db, demo)
