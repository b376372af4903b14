"""Station passwords (OCPP security profiles 1 and 2): salted HMAC-SHA-256, legacy argon2id upgraded.

The handshake checks the Basic-auth password of every connection; a boot storm
of thousands of stations must not cost an argon2 computation each (docs/ocpp.md
« Mots de passe des bornes »). Stations are real websockets clients; the fleet of
the conftest is registered with argon2id hashes, i.e. the legacy form.
"""

from __future__ import annotations

import pytest
from ocpp.v16 import call
from sqlalchemy import select
from websockets.exceptions import InvalidStatus

from csms.domain import registry
from csms.domain.models import Charger
from tests.csms.conftest import PASSWORD

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ACTOR = {"user_id": None, "label": "test"}
NEW_PASSWORD = "Nouveau-secret-borne-77"


async def stored_hash(db, tenant_id, charge_box_id: str) -> str:
    async with db.session([tenant_id]) as session:
        return await session.scalar(
            select(Charger.password_hash).where(Charger.tenant_id == tenant_id, Charger.charge_box_id == charge_box_id)
        )


def test_hash_is_salted_hmac_and_verification_is_exact():
    first, second = registry.hash_station_password(NEW_PASSWORD), registry.hash_station_password(NEW_PASSWORD)
    assert first.startswith("hmac-sha256$") and second.startswith("hmac-sha256$")
    assert first != second  # one salt per station: equal passwords do not show in the table
    assert not registry.station_hash_is_legacy(first)
    assert registry.verify_station_password(first, NEW_PASSWORD)
    assert not registry.verify_station_password(first, NEW_PASSWORD + "x")
    assert not registry.verify_station_password(first, NEW_PASSWORD[:-1])
    assert not registry.verify_station_password(first.replace("$", "$zz", 1), NEW_PASSWORD)  # corrupt salt


@pytest.mark.parametrize("backend", BOTH)
async def test_new_station_connects_with_its_password_and_gets_401_otherwise(db, fleet, stations):
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await registry.register_charger(session, fleet.cpam, {"charge_box_id": "CPAM-LM-NEW", "password": NEW_PASSWORD})
    assert (await stored_hash(db, fleet.cpam, "CPAM-LM-NEW")).startswith("hmac-sha256$")

    async with stations.connect("CPAM-LM-NEW", password=NEW_PASSWORD) as (cp, _wire):
        answer = await cp.call(call.Heartbeat())
        assert answer.current_time
    for wrong in (NEW_PASSWORD + "!", NEW_PASSWORD.lower(), stations.password):
        with pytest.raises(InvalidStatus) as caught:
            await stations.socket("CPAM-LM-NEW", password=wrong)
        assert caught.value.response.status_code == 401
        assert caught.value.response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("backend", BOTH)
async def test_legacy_argon2_hash_is_accepted_then_upgraded(db, fleet, stations):
    legacy = await stored_hash(db, fleet.cpam, "CPAM-LM-01")
    assert legacy.startswith("$argon2id$")
    assert registry.station_hash_is_legacy(legacy)

    # A wrong password is refused and leaves the legacy hash alone.
    with pytest.raises(InvalidStatus) as caught:
        await stations.socket("CPAM-LM-01", password="Wrong-password-123456")
    assert caught.value.response.status_code == 401
    assert await stored_hash(db, fleet.cpam, "CPAM-LM-01") == legacy

    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        assert (await cp.call(call.Heartbeat())).current_time
    upgraded = await stored_hash(db, fleet.cpam, "CPAM-LM-01")
    assert upgraded.startswith("hmac-sha256$")
    assert registry.verify_station_password(upgraded, stations.password)

    # The same password keeps working on the new hash; a wrong one still gets 401.
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        assert (await cp.call(call.Heartbeat())).current_time
    with pytest.raises(InvalidStatus) as caught:
        await stations.socket("CPAM-LM-01", password="Wrong-password-123456")
    assert caught.value.response.status_code == 401
    assert await stored_hash(db, fleet.cpam, "CPAM-LM-01") == upgraded
    # Other stations are untouched until they log in themselves.
    assert registry.station_hash_is_legacy(await stored_hash(db, fleet.cpam, "CPAM-LM-02"))


async def test_upgrade_leaves_a_password_changed_meanwhile_alone(db, fleet):
    charger = fleet.chargers["CPAM-LM-02"]
    legacy = await stored_hash(db, fleet.cpam, "CPAM-LM-02")
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        changed = registry.hash_station_password(NEW_PASSWORD)
        (await session.get(Charger, (fleet.cpam, charger.charger_id))).password_hash = changed
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        assert not await registry.upgrade_station_password(session, fleet.cpam, charger.charger_id, legacy, PASSWORD)
    assert await stored_hash(db, fleet.cpam, "CPAM-LM-02") == changed

