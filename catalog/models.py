"""The tables of ``catalog``: price schedules (BPU) and the catalog (issue 14 §1). The badge requests' are in
``catalog/badges/models.py``."""

from __future__ import annotations
