"""assets' background jobs:

* the yearly announcement of CAIH 2.1.30 (« les équipements dont la fin de maintenabilité intervient dans
  les 12 mois »), sent once a year per tenant to its admins (recorded in ``asset_announcements``: a second
  run, a restart or another process sends nothing again);
* the destruction of the TGD beneficiary files four months after their closure (CCP TGD annexe 2, 2.4:
  « s'assure de sa destruction définitive en interne quatre mois après la fermeture du dossier »): the
  rows are erased, so a second run finds nothing more to do.
"""

from __future__ import annotations

import datetime as dt
import logging

from app.db import Database, utcnow
from app.jobs import JobContext, actor
from app.mail import deliver_email
from app.schedule import Schedule
from app.settings import Settings
from assets.services import announce_ending_maintainability
from assets.terminals import destroy_due_files
from tenants.services import all_tenant_ids, member_emails

__all__ = ["ANNOUNCEMENT", "SCHEDULES", "TGD_DESTRUCTION", "announce_maintainability", "destroy_tgd_files",
           "run_destruction"]

log = logging.getLogger(__name__)
ANNOUNCEMENT = "assets.maintainability_announcement"
TGD_DESTRUCTION = "assets.tgd_destruction"
SYSTEM = {"user_id": None, "label": "système"}


async def run_announcements(db: Database, settings: Settings | None, today: dt.date) -> list[str]:
    """One pass over every tenant (each in its own transaction); the tenants announced."""
    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    done = []
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor=SYSTEM) as session:
            recipients = await member_emails(session, tenant_id, ["admin"])
            mail = await announce_ending_maintainability(session, tenant_id, today, recipients)
            if mail is None:
                continue
            subject, body, _count = mail
            for to in recipients:
                await deliver_email(session, settings, to=to, subject=subject, body=body, tenant_id=tenant_id)
            done.append(str(tenant_id))
    return done


@actor(ANNOUNCEMENT, time_limit=300_000)
async def announce_maintainability(ctx: JobContext, *, today: str | None = None) -> None:
    day = dt.date.fromisoformat(today) if today else utcnow().date()
    done = await run_announcements(ctx.db, ctx.settings, day)
    if done:
        log.info("maintainability announced to %d tenant(s)", len(done))


async def run_destruction(db: Database, now: dt.datetime) -> dict[str, list[str]]:
    """One pass over every tenant (each in its own transaction): tenant id → references of the files erased."""
    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    done = {}
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor=SYSTEM) as session:
            erased = await destroy_due_files(session, tenant_id, now)
        if erased:
            done[str(tenant_id)] = erased
    return done


@actor(TGD_DESTRUCTION, time_limit=300_000)
async def destroy_tgd_files(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await run_destruction(ctx.db, moment)
    if done:
        log.info("TGD files destroyed: %d", sum(len(v) for v in done.values()))


#: Daily: the first run of each year announces (a tenant whose first equipment nears its end later in
#: the year is announced that day). Hourly: a file is destroyed at most an hour after its four months.
SCHEDULES = [
    Schedule("assets.maintainability-announcement", ANNOUNCEMENT, dt.timedelta(days=1)),
    Schedule("assets.tgd-destruction", TGD_DESTRUCTION, dt.timedelta(hours=1)),
]
