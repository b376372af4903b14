"""Fixtures shared with csms: the CPAM fleet of registered chargers."""

from tests.csms.conftest import fleet, password_hash  # noqa: F401 (fixtures)
