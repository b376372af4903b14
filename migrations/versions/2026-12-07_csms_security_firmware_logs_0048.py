"""csms: security events, firmware campaigns, station logs (issue 17 §3 and §5)

``security_events``: the security events stations report (OCPP 1.6 Security Whitepaper ed. 3, 2.0.1 A04);
``firmware_campaigns`` and ``firmware_campaign_stations``: a firmware update across chargers, and each
charger's progress; ``station_logs``: the diagnostics / logs asked of a charger, their one-time upload
token (hash) and the uploaded file. Tenant-owned, with row-level security.

Revision ID: 0048
Revises: 0043
Create Date: 2026-12-07 17:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role

TABLES = ("firmware_campaigns", "firmware_campaign_stations", "security_events", "station_logs")

revision = "0048"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('firmware_campaigns',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('location', sa.String(length=512), nullable=False),
    sa.Column('signing_certificate', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=800), nullable=False),
    sa.Column('model', sa.String(length=50), nullable=False),
    sa.Column('site_id', sa.Uuid(), nullable=True),
    sa.Column('window_start', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('finished_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'site_id'], ['sites.tenant_id', 'sites.id'], name=op.f('fk_firmware_campaigns_tenant_id_site_id_sites')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_firmware_campaigns_tenant_id_tenants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_firmware_campaigns'))
    )
    op.create_table('firmware_campaign_stations',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('campaign_id', sa.Uuid(), nullable=False),
    sa.Column('charger_id', sa.Uuid(), nullable=False),
    sa.Column('charge_box_id', sa.String(length=48), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_status', sa.String(length=50), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('sent_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'campaign_id'], ['firmware_campaigns.tenant_id', 'firmware_campaigns.id'], name=op.f('fk_firmware_campaign_stations_tenant_id_campaign_id_firmware_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'charger_id'], ['chargers.tenant_id', 'chargers.id'], name=op.f('fk_firmware_campaign_stations_tenant_id_charger_id_chargers')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_firmware_campaign_stations_tenant_id_tenants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_firmware_campaign_stations')),
    sa.UniqueConstraint('tenant_id', 'campaign_id', 'charger_id', name=op.f('uq_firmware_campaign_stations_tenant_id_campaign_id_charger_id'))
    )
    with op.batch_alter_table('firmware_campaign_stations', schema=None) as batch_op:
        batch_op.create_index('ix_firmware_campaign_stations_charger', ['tenant_id', 'charger_id', 'state'], unique=False)

    op.create_table('security_events',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('charger_id', sa.Uuid(), nullable=False),
    sa.Column('charge_box_id', sa.String(length=48), nullable=False),
    sa.Column('event_type', sa.String(length=50), nullable=False),
    sa.Column('tech_info', sa.String(length=255), nullable=False),
    sa.Column('critical', sa.Boolean(), nullable=False),
    sa.Column('protocol', sa.String(length=8), nullable=False),
    sa.Column('occurred_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'charger_id'], ['chargers.tenant_id', 'chargers.id'], name=op.f('fk_security_events_tenant_id_charger_id_chargers')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_security_events_tenant_id_tenants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_security_events')),
    sa.UniqueConstraint('tenant_id', 'charger_id', 'event_type', 'occurred_at', name='uq_security_events_replay')
    )
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.create_index('ix_security_events_received', ['tenant_id', 'received_at'], unique=False)

    op.create_table('station_logs',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('charger_id', sa.Uuid(), nullable=False),
    sa.Column('charge_box_id', sa.String(length=48), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('log_type', sa.String(length=20), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_status', sa.String(length=40), nullable=False),
    sa.Column('requested_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'charger_id'], ['chargers.tenant_id', 'chargers.id'], name=op.f('fk_station_logs_tenant_id_charger_id_chargers')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_station_logs_tenant_id_tenants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_station_logs')),
    sa.UniqueConstraint('tenant_id', 'token_hash', name='uq_station_logs_token')
    )
    with op.batch_alter_table('station_logs', schema=None) as batch_op:
        batch_op.create_index('ix_station_logs_charger', ['tenant_id', 'charger_id', 'requested_at'], unique=False)

    for table in TABLES:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table('station_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_station_logs_charger')

    op.drop_table('station_logs')
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.drop_index('ix_security_events_received')

    op.drop_table('security_events')
    with op.batch_alter_table('firmware_campaign_stations', schema=None) as batch_op:
        batch_op.drop_index('ix_firmware_campaign_stations_charger')

    op.drop_table('firmware_campaign_stations')
    op.drop_table('firmware_campaigns')
