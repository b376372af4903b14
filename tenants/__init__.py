"""Centrals, agreements, beneficiaries (tenants), sites, users, memberships, audit."""
