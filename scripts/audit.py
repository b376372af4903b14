"""Supply-chain audit: known vulnerabilities in the pinned dependencies (``make audit``).

- Python: ``pip-audit`` on ``requirements.lock`` (every pin, hashes as locked).
- Node: ``npm audit`` on ``tests/node/package-lock.json`` (the independent OCPP station).

A vulnerability fails the run unless ``audit-allowlist.toml`` lists it with a reason and
an expiry date; an expired entry fails the run too, so that nothing is waived for good.

Exit codes: 0 audited and clean (or every finding waived); 1 a finding is not waived or a
waiver has expired; 3 the advisory databases could not be reached, so nothing was
audited. ``pip-audit`` itself reports "No known vulnerabilities found" when PyPI's JSON
API answers 404 for every package: that case is caught here and is a 3, never a pass.

    python scripts/audit.py [--offline-ok]

``--offline-ok`` turns 3 into 0 with the same message (for machines whose only route to
the internet is a package mirror; the message says what was not audited).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST = ROOT / "audit-allowlist.toml"
NODE_DIR = ROOT / "tests" / "node"

CLEAN, FINDINGS, UNREACHABLE = 0, 1, 3


@dataclass(frozen=True)
class Finding:
    ecosystem: str
    package: str
    version: str
    ids: frozenset[str]
    summary: str

    def line(self) -> str:
        return f"{self.ecosystem} {self.package} {self.version}: {', '.join(sorted(self.ids))} {self.summary}".rstrip()


@dataclass(frozen=True)
class Waiver:
    id: str
    package: str
    reason: str
    expires: dt.date


class AuditError(Exception):
    """A tool ran but its answer is not an audit (no route to the advisory database)."""


def load_allowlist(path: Path = ALLOWLIST) -> list[Waiver]:
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    waivers = []
    for i, entry in enumerate(data.get("allow", []), 1):
        missing = [k for k in ("id", "package", "reason", "expires") if not entry.get(k)]
        if missing:
            raise SystemExit(f"{path.name}: entry {i} lacks {', '.join(missing)}")
        expires = entry["expires"]
        if not isinstance(expires, dt.date):
            raise SystemExit(f"{path.name}: entry {i}: expires must be a date (YYYY-MM-DD)")
        waivers.append(Waiver(str(entry["id"]), str(entry["package"]).lower(), str(entry["reason"]), expires))
    return waivers


def parse_pip_audit(report: dict[str, Any]) -> list[Finding]:
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if deps and not audited:
        raise AuditError(f"pip-audit audited none of {len(deps)} packages: {deps[0]['skip_reason']}")
    return [
        Finding("python", d["name"].lower(), d.get("version", ""), frozenset([v["id"], *v.get("aliases", [])]),
                (v.get("description") or "").splitlines()[0][:120] if v.get("description") else "")
        for d in audited for v in d.get("vulns", [])
    ]


def parse_npm_audit(report: dict[str, Any]) -> list[Finding]:
    if "vulnerabilities" not in report:
        error = report.get("error") or {}
        raise AuditError(f"npm audit: {report.get('message') or error.get('summary') or error.get('detail') or report}")
    findings = []
    for name, vuln in report.get("vulnerabilities", {}).items():
        ids = frozenset(str(v.get("url", "")).rsplit("/", 1)[-1] or str(v.get("source"))
                        for v in vuln.get("via", []) if isinstance(v, dict))
        if ids:  # an entry only "via" other packages is reported under those
            findings.append(Finding("node", name.lower(), vuln.get("range", ""), ids, vuln.get("severity", "")))
    return findings


def judge(findings: list[Finding], waivers: list[Waiver], today: dt.date) -> tuple[list[str], list[str]]:
    """(failures, notes): a finding not waived, or waived by an expired entry, is a failure."""
    failures, notes = [], []
    for finding in findings:
        match = next((w for w in waivers if w.package == finding.package and w.id in finding.ids), None)
        if match is None:
            failures.append(f"vulnerable: {finding.line()}")
        elif match.expires < today:
            failures.append(f"waiver expired on {match.expires}: {finding.line()} (reason was: {match.reason})")
        else:
            notes.append(f"waived until {match.expires}: {finding.line()} ({match.reason})")
    return failures, notes


def _run_json(cmd: list[str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)  # noqa: S603 - fixed argv
    try:
        return json.loads(done.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise AuditError(f"{cmd[0]} gave no JSON (exit {done.returncode}): {done.stderr.strip()[-300:]}") from exc


def audit_python() -> list[Finding]:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    return parse_pip_audit(_run_json([str(pip_audit), "-r", str(ROOT / "requirements.lock"), "--no-deps", "--disable-pip",
                                      "--progress-spinner", "off", "-f", "json"], ROOT))


def audit_node() -> list[Finding]:
    if not (NODE_DIR / "package-lock.json").exists():
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise AuditError("npm not found")
    return parse_npm_audit(_run_json([npm, "audit", "--json", "--package-lock-only"], NODE_DIR))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline-ok", action="store_true", help="unreachable advisory databases are not a failure")
    args = parser.parse_args(argv)
    waivers = load_allowlist()
    findings: list[Finding] = []
    unreachable: list[str] = []
    for name, run in (("python", audit_python), ("node", audit_node)):
        try:
            found = run()
            findings += found
            print(f"audit {name}: {len(found)} known vulnerabilit{'y' if len(found) == 1 else 'ies'}")
        except AuditError as exc:
            unreachable.append(f"{name}: {exc}")
    failures, notes = judge(findings, waivers, dt.date.today())
    for line in notes:
        print(line)
    for line in failures:
        print(line, file=sys.stderr)
    if failures:
        return FINDINGS
    if unreachable:
        print("NOT AUDITED (no route to the advisory database):\n  " + "\n  ".join(unreachable), file=sys.stderr)
        return CLEAN if args.offline_ok else UNREACHABLE
    return CLEAN


if __name__ == "__main__":
    sys.exit(main())
