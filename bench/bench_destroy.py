"""The destruction of a tenant at scale on PostgreSQL (issue 16 §4): how long erasing the CPAM tenant of the demo
plus N meter values takes, and that nothing of it is left.

    .venv/bin/python bench/bench_destroy.py [--meter-values 1000000]

Builds the database as ``bench_export.py`` does (the demo, then ``--meter-values`` meter values on the CPAM tenant's
first charger), records a confirmed destruction whose cooling-off is over, runs ``destroy_tenant`` (the command
line's path, on the owner's connection), checks that no table of the registry holds a row of the tenant and that the
certificate verifies, prints the seconds, rows erased and rows per second, then drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(1, str(HERE))

import bench_export  # noqa: E402
import bench_ocpp  # noqa: E402


async def destroy(name: str, var_dir: Path) -> dict[str, object]:
    from sqlalchemy import text

    from app.db import TENANT_TABLES, Database, utcnow
    from app.settings import Settings
    from app.signing import verify_document
    from tenants.reversibility.destruction import COOLING_OFF, destroy_tenant
    from tenants.reversibility.models import TenantDestruction

    admin = bench_ocpp.pg_url(name, "postgres")
    settings = Settings(database_url=bench_ocpp.pg_url(name, bench_ocpp.APP_ROLE), database_admin_url=admin,
                        secret_key="bench-" + "x" * 40, var_dir=var_dir)
    db = Database(admin, pool_size=1)
    try:
        async with db.transaction(actor={"user_id": None, "label": "bench"}) as session:
            tenant_id = uuid.UUID(str(await session.scalar(text("SELECT id FROM tenants WHERE name LIKE 'CPAM%'"))))
            now = utcnow()
            session.add(TenantDestruction(tenant_id=tenant_id, tenant_name="CPAM", requested_by="bench",
                                          requested_at=now - COOLING_OFF, not_before=now - dt.timedelta(seconds=1)))
        started = time.perf_counter()
        row = await destroy_tenant(settings, tenant_id, operator="bench", confirm=str(tenant_id))
        seconds = time.perf_counter() - started
        async with db.engine.connect() as conn:
            left = {t: n for t in TENANT_TABLES
                    if (n := await conn.scalar(text(f'SELECT count(*) FROM "{t}" WHERE tenant_id = :t'),  # noqa: S608
                                               {"t": tenant_id}))}
    finally:
        await db.dispose()
    document = json.loads(row.certificate)["document"]
    return {"seconds": round(seconds, 2), "rows": document["erased"]["rows"],
            "meter_values": document["erased"]["tables"]["meter_values"],
            "rows_per_second": round(document["erased"]["rows"] / seconds),
            "rows_left": left, "certificate_verifies": verify_document(row.certificate.encode()).ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meter-values", type=int, default=1_000_000)
    args = parser.parse_args()
    name = "bench_destroy"
    bench_export.build(name, args.meter_values)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-destroy-") as tmp:
            figures = asyncio.run(destroy(name, Path(tmp)))
    finally:
        bench_ocpp.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(figures))  # noqa: T201
    return 0 if not figures["rows_left"] and figures["certificate_verifies"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
