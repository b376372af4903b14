"""reporting: the coordinator's semester reports (issue 15 §1) and, later, dashboards and the beneficiaries' reports."""
