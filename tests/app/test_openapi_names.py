"""The OpenAPI document (``/schema/openapi.json``) has one schema per class name: when two components declare API
shapes of the same name (two ``StepIn``, two ``ProfileOut``), Litestar renames both after their modules
(``quotes_api_StepIn``, ``csms_web_smart_charging_ProfileOut``), and the names a client generator sees change with
an unrelated component. Each shape says its scope instead (``QuoteStepIn``, ``ChargingProfileOut``)."""

from __future__ import annotations

import re

from app.web import create_app
from tests.conftest import make_settings

#: A class name as written: what Litestar keeps when no other schema has the same name.
CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def test_no_two_components_share_an_api_schema_name(tmp_path):
    doc = create_app(make_settings(tmp_path)).openapi_schema.to_schema()
    names = sorted(doc["components"]["schemas"])
    assert len(names) > 100  # every component's API is in the document
    renamed = [name for name in names if not CLASS_NAME.match(name)]
    assert renamed == [], f"schemas renamed by Litestar after their module (two classes of one name): {renamed}"
    for expected in ("QuoteStepIn", "BadgeRequestStepIn", "SlipDecisionIn", "PenaltyDecisionIn",
                     "AmendmentObservationsIn", "PenaltyObservationsIn", "ChargingProfileOut", "ProfileOut",
                     "ChargingStatementOut"):
        assert expected in names, expected
