"""identifiers unique regardless of case and platform-wide (issue 10)

- ``charge_box_routes``: a unique index on ``lower(charge_box_id)``: ``IMP-OK-01`` and
  ``imp-ok-01`` can no longer be two stations.
- ``building_codes``: the platform index of the building codes of each commune (CCTP CPAM
  5-5-1), filled from the existing sites. Where two sites of a commune share a code, the
  older keeps it and the others are given the next free codes (their stations keep the
  identifiers they were registered with; the migration prints what it changed).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import grant_app_role

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("uq_charge_box_routes_lower_charge_box_id", "charge_box_routes", [sa.text("lower(charge_box_id)")],
                    unique=True)
    op.create_table(
        "building_codes",
        sa.Column("insee_code", sa.String(length=5), nullable=False),
        sa.Column("building_code", sa.String(length=4), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                name=op.f("fk_building_codes_tenant_id_site_id_sites"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_building_codes_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("insee_code", "building_code", name=op.f("pk_building_codes")),
        sa.UniqueConstraint("tenant_id", "site_id", name=op.f("uq_building_codes_tenant_id_site_id")),
    )
    bind = op.get_bind()
    sites = bind.execute(sa.text(
        "SELECT tenant_id, id, insee_code, building_code FROM sites ORDER BY created_at, id")).all()
    taken: set[tuple[str, str]] = set()
    for tenant_id, site_id, insee, code in sites:
        if (insee, code) in taken:
            number = 1
            while (insee, f"{number:04d}") in taken:
                number += 1
            new = f"{number:04d}"
            print(f"building_codes: site {site_id} ({insee}) moves from building {code} to {new}")
            bind.execute(sa.text("UPDATE sites SET building_code = :c WHERE tenant_id = :t AND id = :i"),
                         {"c": new, "t": tenant_id, "i": site_id})
            code = new
        taken.add((insee, code))
        bind.execute(sa.text("INSERT INTO building_codes (insee_code, building_code, tenant_id, site_id) "
                             "VALUES (:n, :c, :t, :i)"), {"n": insee, "c": code, "t": tenant_id, "i": site_id})
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    op.drop_table("building_codes")
    op.drop_index("uq_charge_box_routes_lower_charge_box_id", table_name="charge_box_routes")
