"""Fixtures shared with csms: the CPAM fleet of registered chargers, the real ingress, its stations and the
outbox relay."""

from tests.csms.conftest import fleet, ingress, password_hash, relay, stations  # noqa: F401 (fixtures)
