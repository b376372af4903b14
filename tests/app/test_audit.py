"""``make audit`` (scripts/audit.py): findings fail unless waived with a reason and an
expiry; an audit that audited nothing never passes as clean.

The reports below are the JSON that pip-audit 2.10 and npm 11 print (the advisory
databases are the edge of the world: this sandbox cannot reach them)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("audit_script", ROOT / "scripts" / "audit.py")
audit = importlib.util.module_from_spec(spec)
sys.modules["audit_script"] = audit  # dataclasses resolve their module
spec.loader.exec_module(audit)

PIP_REPORT = {"dependencies": [
    {"name": "Jinja2", "version": "3.1.2", "vulns": [
        {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"], "description": "xmlattr XSS"}]},
    {"name": "click", "version": "8.1.7", "vulns": []},
]}
NPM_REPORT = {"vulnerabilities": {
    "ws": {"name": "ws", "severity": "high", "range": "8.0.0 - 8.17.0",
           "via": [{"source": 1098392, "title": "ws DoS", "url": "https://github.com/advisories/GHSA-3h5v-q93c-6h6q"}]},
    "ocpp-rpc": {"name": "ocpp-rpc", "severity": "high", "range": "*", "via": ["ws"]},
}}
TODAY = dt.date(2026, 12, 3)


def test_unwaived_findings_fail_with_package_version_and_advisory():
    findings = audit.parse_pip_audit(PIP_REPORT) + audit.parse_npm_audit(NPM_REPORT)
    failures, _ = audit.judge(findings, [], TODAY)
    assert failures == ["vulnerable: python jinja2 3.1.2: CVE-2024-22195, GHSA-h5c8-rqwp-cp95 xmlattr XSS",
                        "vulnerable: node ws 8.0.0 - 8.17.0: GHSA-3h5v-q93c-6h6q high"]


def test_a_waiver_needs_reason_and_expiry_and_stops_working_when_it_expires(tmp_path):
    allow = tmp_path / "allow.toml"
    allow.write_text('[[allow]]\nid = "CVE-2024-22195"\npackage = "jinja2"\n'
                     'reason = "no xmlattr filter in our templates"\nexpires = 2026-12-31\n')
    waivers = audit.load_allowlist(allow)
    findings = audit.parse_pip_audit(PIP_REPORT)
    assert audit.judge(findings, waivers, TODAY) == (
        [], ["waived until 2026-12-31: python jinja2 3.1.2: CVE-2024-22195, GHSA-h5c8-rqwp-cp95 xmlattr XSS "
             "(no xmlattr filter in our templates)"])
    failures, _ = audit.judge(findings, waivers, dt.date(2027, 1, 1))
    assert failures and failures[0].startswith("waiver expired on 2026-12-31")
    allow.write_text('[[allow]]\nid = "CVE-2024-22195"\npackage = "jinja2"\nexpires = 2026-12-31\n')
    with pytest.raises(SystemExit, match="lacks reason"):
        audit.load_allowlist(allow)


def test_an_audit_that_reached_no_database_is_not_a_pass():
    skipped = {"dependencies": [{"name": "click", "skip_reason": "Dependency not found on PyPI and could not be audited"}]}
    with pytest.raises(audit.AuditError, match="audited none of 1"):
        audit.parse_pip_audit(skipped)
    with pytest.raises(audit.AuditError, match="405"):
        audit.parse_npm_audit({"message": "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
                               "error": {"summary": "", "detail": ""}})


def test_the_project_allowlist_is_valid_and_nothing_in_it_has_expired():
    for waiver in audit.load_allowlist():
        assert waiver.expires >= dt.date.today(), f"{waiver.id} ({waiver.package}) expired on {waiver.expires}"
