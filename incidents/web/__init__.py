"""The incidents component's web parts (portal pages and API handlers)."""
