"""The incidents demo: each demo tenant has its agreement's policy and tickets at every step of the
workflow, loaded once (a second load changes nothing)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from app.composition import load_demo
from incidents.models import SlaPolicyVersion, Ticket


async def test_the_demo_tickets_cover_the_workflow_and_load_once(settings, db, demo):
    ids = {k: uuid.UUID(v) for k, v in demo["tenant_ids"].items()}
    assert demo["tickets"] == 9
    async with db.transaction(list(ids.values()), actor={"user_id": None, "label": "test"}) as session:
        templates = dict((await session.execute(select(SlaPolicyVersion.tenant_id, SlaPolicyVersion.template))).all())
        rows = list(await session.scalars(select(Ticket).where(Ticket.origin.like("demo:%"))))
    assert templates == {ids["cpam"]: "cpam-irve", ids["chr"]: "caih-maintenance-ho", ids["commune"]: "canut-iot",
                         ids["tj"]: "tgd-terminaux"}
    by_title = {t.title: t for t in rows}
    assert {t.status for t in rows} == {"new", "acknowledged", "in_progress", "waiting", "resolved", "closed"}
    # CAIH 10 h GTR: the mail server repaired on the third day is late; the disk changed within 4 h is not.
    assert by_title["Serveur de messagerie arrêté"].breached
    assert not by_title["Disque en défaut sur la baie de stockage"].breached
    # CANUT: an unlisted priority follows the incident type (Bloquant = P0).
    assert by_title["Passerelle LoRaWAN injoignable"].level == "P0"
    assert by_title["Point de charge 2 hors service"].affected_points == 1

    again = await load_demo(settings, db)
    assert again["tickets"] == 0
    async with db.transaction(list(ids.values()), actor={"user_id": None, "label": "test"}) as session:
        assert await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.origin.like("demo:%"))) == 9


def test_the_caih_demo_verdicts_do_not_depend_on_the_day_the_demo_is_loaded():
    """A demo loaded on 2026-12-07 put the mail-server ticket's start on a Friday night: its two days and
    four hours of repair held only ten business hours and the late ticket was on time. The CAIH tickets
    start on a Tuesday morning whatever the day of loading."""
    import datetime as dt

    from incidents.demo import DEMO_TICKETS

    anchored = [t for t in DEMO_TICKETS["chr"] if t.weekday is not None]
    assert {t.title for t in anchored} == {"Serveur de messagerie arrêté", "Disque en défaut sur la baie de stockage"}
    for day in range(7):
        now = dt.datetime(2026, 12, 7, 1, 41, tzinfo=dt.UTC) + dt.timedelta(days=day)
        for spec in anchored:
            reported = spec.reported(now)
            assert (reported.weekday(), reported.hour, reported.minute) == (1, 8, 30)
            assert now - spec.ago - dt.timedelta(days=6) <= reported <= now - spec.ago + dt.timedelta(days=6)
