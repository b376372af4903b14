"""The semester report's job process imports what the report needs, not the web application (issue 15 « Speed »:
« ≤ 150 MB peak memory for the whole process »): a fresh interpreter importing the job's modules
(``reporting.services`` and its writers) stays without the web shell, Jinja and the ``holidays`` calendars, and
makes no argon2 hash (64 MiB each) at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import reporting.services, reporting.tasks, xlsxwriter, odf.opendocument
# VmHWM, not getrusage's ru_maxrss: Linux carries the parent's peak over a fork and exec (pytest's, here).
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"modules": sorted(sys.modules), "peak_mb": peak / 1024}))
"""


def _probe() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT,
                         check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_report_job_imports_no_web_shell_nor_holiday_calendars() -> None:
    found = _probe()
    modules = set(found["modules"])
    assert {"reporting.services", "reporting.workbook", "reporting.ods", "xlsxwriter"} <= modules
    for heavy in ("app.shell", "jinja2", "jinja2_fragments", "holidays", "fpdf"):
        assert heavy not in modules, f"{heavy} is imported by the report job"
    # Measured 102 MB here (140 MB before: 64 MiB of it the argon2 hash app.security made at import, 17 MB the
    # holidays calendars); the bound leaves room for the report itself under the 150 MB.
    assert found["peak_mb"] < 125, found["peak_mb"]


def test_a_password_check_still_costs_the_same_for_an_unknown_account() -> None:
    """The dummy hash made on first use still stands in for an account that does not exist (same argon2 work)."""
    from app.security import hash_password, verify_password

    assert verify_password(None, "n'importe quel mot de passe") is False
    stored = hash_password("Un mot de passe 2026")
    assert verify_password(stored, "Un mot de passe 2026") is True
    assert verify_password(stored, "un autre") is False
