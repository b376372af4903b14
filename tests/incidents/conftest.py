"""Fixtures shared with csms: the CPAM fleet of registered chargers, the real ingress, its stations and the
outbox relay."""

from tests.csms.conftest import fleet, ingress, password_hash, relay, stations  # noqa: F401 (fixtures)


async def without_tickets(db, demo):
    """The demo's accounts and stations without its tickets and policies, for the tests that count what they
    open."""
    import uuid

    from sqlalchemy import delete

    from incidents.models import SlaPolicyVersion, Ticket, TicketCounter

    ids = [uuid.UUID(t) for t in demo["tenant_ids"].values()]
    async with db.transaction(ids, actor={"user_id": None, "label": "test"}) as session:
        for model in (Ticket, TicketCounter, SlaPolicyVersion):
            await session.execute(delete(model).where(model.tenant_id.in_(ids)))
    return demo
