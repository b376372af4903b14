"""A tenant's reversibility export (issue 16 §1; CCTP CPAM 6-1, CCTP CANUT 5.7, CCP TGD V.4): one ZIP of open
formats, walked from the registry of tenant tables (``app.db.TENANT_TABLES``) and the components' export files.
The reference is ``docs/reversibility.md``."""

from __future__ import annotations

__all__: list[str] = []
