"""Every route answers with the shapes docs/service-api.md documents, on the same numbers as the CLI."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Service

ROOT = Path(__file__).resolve().parents[2]
BSC = (ROOT / "examples" / "stacks" / "bsc-rag.yaml").read_text()
SEED_000 = [{"type": "compute", "instance_type": "e2-standard-2", "count": 3}, {"type": "storage", "size_gb": 100}]


def test_health_and_ready(svc: Service) -> None:
    assert svc.client.get("/health").json() == {"status": "ok", "version": "0.1.0"}
    ready = svc.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"keys": "ok", "catalog": "ok"}}


def test_ready_reports_a_dead_redis(make_service: Any) -> None:
    service = make_service(redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    body = service.client.get("/ready")
    assert body.status_code == 503
    assert body.json()["status"] == "not ready"
    assert body.json()["checks"]["redis"].startswith("error")


def test_estimate_resources_matches_the_python_api(svc: Service) -> None:
    from pepperpy.cloud.cost.estimator import CostEstimator

    r = svc.client.post("/v1/estimate", json={"provider": "gcp", "resources": SEED_000}, headers=svc.headers)
    assert r.status_code == 200, r.text
    expected = CostEstimator("gcp").estimate_monthly_cost(SEED_000)
    body = r.json()
    assert Decimal(body["total_monthly"]) == expected.total
    assert body["provider"] == "gcp" and body["region"] == "us-central1"
    assert body["items"][0]["rows"][0]["sku"] == "e2-standard-2"


def test_estimate_unknown_sku_is_unpriced_not_zero(svc: Service) -> None:
    resources = [{"type": "database", "instance_type": "db-standard-1", "size_gb": 50}]
    body = svc.client.post("/v1/estimate", json={"provider": "gcp", "resources": resources},
                           headers=svc.headers).json()
    assert body["complete"] is False
    assert any(item["monthly"] is None for item in body["items"])
    strict = svc.client.post("/v1/estimate", json={"provider": "gcp", "resources": resources, "strict": True},
                             headers=svc.headers)
    assert strict.status_code in (404, 422)
    assert "db-standard-1" in strict.json()["error"]["message"]


def test_estimate_stack_as_yaml_text_and_as_object(svc: Service) -> None:
    import yaml

    as_text = svc.client.post("/v1/estimate", json={"stack": BSC, "provider": "aws"}, headers=svc.headers)
    as_object = svc.client.post("/v1/estimate", json={"stack": yaml.safe_load(BSC), "provider": "aws"},
                                headers=svc.headers)
    assert as_text.status_code == as_object.status_code == 200
    assert as_text.json()["total_monthly"] == as_object.json()["total_monthly"]
    assert Decimal(as_text.json()["total_monthly"]).quantize(Decimal("0.01")) == Decimal("101.15")  # README


def test_estimate_bad_stack_names_the_field(svc: Service) -> None:
    r = svc.client.post("/v1/estimate", json={"stack": {"name": "x", "services": {"app": {"replicas": {"min": 3, "max": 1}}}}},
                        headers=svc.headers)
    assert r.status_code == 422
    assert r.json()["error"]["field"].startswith("services.app.replicas")
    dup = svc.client.post("/v1/estimate", json={"stack": "name: a\nname: b\n"}, headers=svc.headers)
    assert dup.status_code == 422 and "duplicate key" in dup.json()["error"]["message"]


def test_estimate_needs_exactly_one_input(svc: Service) -> None:
    both = svc.client.post("/v1/estimate", json={"stack": BSC, "resources": SEED_000}, headers=svc.headers)
    neither = svc.client.post("/v1/estimate", json={"provider": "aws"}, headers=svc.headers)
    assert both.status_code == neither.status_code == 422
    assert "exactly one" in neither.json()["error"]["message"]


def test_compare_matches_the_cli(svc: Service) -> None:
    r = svc.client.post("/v1/compare", json={"stack": BSC}, headers=svc.headers)
    assert r.status_code == 200, r.text
    rows = {row["provider"]: row for row in r.json()["rows"]}
    assert set(rows) == {"aws", "azure", "gcp"}
    assert Decimal(rows["aws"]["on_demand"]).quantize(Decimal("0.01")) == Decimal("101.15")
    assert rows["aws"]["cheapest"] is True and rows["azure"]["unpriced"] == 3


def test_instances_filters_and_sorts(svc: Service) -> None:
    r = svc.client.get("/v1/instances", params={"vcpus": 8, "memory": 32, "limit": 5, "provider": ["aws", "gcp"]},
                       headers=svc.headers)
    assert r.status_code == 200, r.text
    rows = r.json()["instances"]
    assert r.json()["count"] == len(rows) == 5
    assert all(row["vcpus"] >= 8 and row["memory_gib"] >= 32 and row["provider"] in ("aws", "gcp") for row in rows)
    prices = [Decimal(row["price"]) for row in rows]
    assert prices == sorted(prices)


def test_instances_unknown_gpu_and_provider_are_4xx(svc: Service) -> None:
    gpu = svc.client.get("/v1/instances", params={"gpu": "Z9000"}, headers=svc.headers)
    assert gpu.status_code == 404 and gpu.json()["error"]["field"] == "gpu"
    provider = svc.client.get("/v1/instances", params={"provider": "ibm"}, headers=svc.headers)
    assert provider.status_code == 422 and provider.json()["error"]["field"] == "provider[0]"
    price = svc.client.get("/v1/instances", params={"max_price": "cheap"}, headers=svc.headers)
    assert price.status_code == 422 and price.json()["error"]["field"] == "max_price"


def test_deployments_list_status_scale(svc: Service) -> None:
    assert svc.client.get("/v1/deployments", headers=svc.headers).json() == {"deployments": []}
    status = svc.client.get("/v1/deployments/ghost", headers=svc.headers)
    assert status.status_code == 404 and status.json()["error"]["type"] == "NotFoundError"
    scale = svc.client.post("/v1/deployments/ghost/scale", json={"replicas": 2}, headers=svc.headers)
    assert scale.status_code == 404
    negative = svc.client.post("/v1/deployments/ghost/scale", json={"replicas": -1}, headers=svc.headers)
    assert negative.status_code == 422 and negative.json()["error"]["field"] == "replicas"


def test_metrics_of_unknown_deployment_and_metric(svc: Service) -> None:
    r = svc.client.get("/v1/metrics/ghost", headers=svc.headers)
    assert r.status_code == 404 and "ghost" in r.json()["error"]["message"]
    bad = svc.client.get("/v1/metrics/ghost", params={"metric": "nonsense"}, headers=svc.headers)
    assert bad.status_code in (404, 422)


def test_metrics_of_a_recorded_deployment(svc: Service) -> None:
    import time

    from pepperpy.cloud.monitor import definitions as d
    from pepperpy.cloud.monitor.store import MetricStore

    now = time.time()
    with MetricStore.open() as store:
        store.append([(d.RAW_REPLICAS, {"deployment": "demo"}, now - 60 + i * 10, 1.0) for i in range(5)]
                     + [(d.RAW_CPU, {"deployment": "demo", "replica": "0"}, now - 60 + i * 10, 25.0) for i in range(5)],
                     counters=d.COUNTERS)
    r = svc.client.get("/v1/metrics/demo", params={"since": "1h", "metric": "cpu_usage"}, headers=svc.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resource"] == "demo" and [s["metric"] for s in body["series"]] == ["cpu_usage"]
    assert body["series"][0]["points"] and all(v == 25.0 for _, v in body["series"][0]["points"])


class FakeAnswer:
    def __init__(self, question: str) -> None:
        self.question = question

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return {"question": self.question, "answer": "t3.large", "tools_used": ["search_instances"]}


class FakeAgent:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def ask(self, question: str) -> FakeAnswer:
        self.asked.append(question)
        return FakeAnswer(question)


def test_ask_route_caches_answers_and_logs_tools(svc: Service) -> None:
    agent = FakeAgent()
    svc.app.state.service.extras["agent"] = agent
    first = svc.client.post("/v1/ask", json={"question": "cheapest  8 vCPU?"}, headers=svc.headers)
    again = svc.client.post("/v1/ask", json={"question": " cheapest 8 vCPU? "}, headers=svc.headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == FakeAnswer("cheapest 8 vCPU?").model_dump()
    assert agent.asked == ["cheapest 8 vCPU?"]  # whitespace-normalized, second served from the cache
    assert '"tools_used": ["search_instances"]' in svc.logs.getvalue()


def test_ask_limits_question_length(svc: Service) -> None:
    svc.app.state.service.extras["agent"] = FakeAgent()
    long = svc.client.post("/v1/ask", json={"question": "x" * 2001}, headers=svc.headers)
    empty = svc.client.post("/v1/ask", json={"question": "   "}, headers=svc.headers)
    assert long.status_code == empty.status_code == 422
    assert long.json()["error"]["field"] == "question"


def _real_agent() -> Any:
    try:
        from pepperpy.cloud.agent import Agent

        return Agent()
    except ImportError as exc:
        pytest.skip(f"pepperpy.cloud.agent is not usable yet: {exc}")


def test_ask_with_the_real_agent(svc: Service) -> None:
    _real_agent()
    r = svc.client.post("/v1/ask", json={"question": "What is the cheapest instance with 8 vCPUs and 32 GB?"},
                        headers=svc.headers)
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), dict) and r.json()


def test_openapi_documents_every_route_and_the_key(svc: Service) -> None:
    spec = svc.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/v1/estimate", "/v1/compare", "/v1/instances", "/v1/ask", "/v1/deployments", "/v1/deployments/{name}",
            "/v1/deployments/{name}/scale", "/v1/metrics/{deployment}", "/health", "/ready", "/metrics"} <= paths
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    assert svc.client.get("/docs").status_code == 200


def test_web_dashboard_is_mounted_when_present(home: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from pepperpy.cloud.service.app import create_app
    from tests.service.conftest import make_settings

    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<h1>dashboard</h1>")
    with TestClient(create_app(make_settings(home), web_dir=web)) as client:
        assert client.get("/").text == "<h1>dashboard</h1>"
        assert client.get("/health").json()["status"] == "ok"  # API routes still win
    with TestClient(create_app(make_settings(home), web_dir=tmp_path / "absent")) as client:
        assert client.get("/").status_code == 404


def test_dashboard_and_its_chart_library_are_served_without_a_key(svc: Any) -> None:
    page = svc.client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    plotly = svc.client.get("/vendor/plotly.min.js")
    assert plotly.status_code == 200 and plotly.headers["content-type"].startswith("text/javascript")
    assert "plotly" in plotly.text[:2000].lower()
