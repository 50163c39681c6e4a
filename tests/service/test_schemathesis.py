"""Schemathesis against the OpenAPI document: no generated request gets a 5xx, and 2xx bodies match the schema.

Each operation is fuzzed with Hypothesis (25 examples, positive and negative data) through the ASGI app,
with a valid API key. The pytest plugin's fixture loader does not run on pytest 9, so the operations are
walked with schemathesis' own API instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance  # noqa: E402

from tests.service.conftest import Service  # noqa: E402

OPERATIONS = ["POST /v1/estimate", "POST /v1/compare", "GET /v1/instances", "POST /v1/ask", "GET /v1/deployments",
              "GET /v1/deployments/{name}", "POST /v1/deployments/{name}/scale", "GET /v1/metrics/{deployment}",
              "GET /health", "GET /ready"]


def _agent_usable() -> bool:
    try:
        from pepperpy.cloud.agent import Agent

        Agent()
        return True
    except ImportError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_never_answers_5xx(label: str, home: Path) -> None:
    if label == "POST /v1/ask" and not _agent_usable():
        pytest.skip("pepperpy.cloud.agent is not usable yet")
    service = Service(home)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", service.app)
        operation = schema.find_operation_by_label(label)
        assert operation is not None, f"{label} is not in the OpenAPI document"
        checks = [not_a_server_error, response_schema_conformance, content_type_conformance]

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            response = case.call(headers={"X-API-Key": service.key})
            case.validate_response(response, checks=checks)

        run()
    finally:
        service.close()
