"""Ordering (issue 14): price schedules (BPU) and the catalog, quotes, purchase orders, agents' badge requests."""
