"""Seed 000's "Monitoramento e Custos" snippet and its "Exemplo Completo", run as written against the
rag-app deployed on LocalProvider, with an embedded PostgreSQL + pgvector behind it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.resources import server_home
from tests.seed_snippets import COMPLETE_EXAMPLE as SEED_COMPLETE_EXAMPLE
from tests.seed_snippets import on_local_provider

ROOT = Path(__file__).resolve().parents[2]
RAG_APP = ROOT / "examples" / "rag-app"

COMPLETE_EXAMPLE = on_local_provider(SEED_COMPLETE_EXAMPLE)

SEED_MONITORING = '''
from pepperpy.cloud import (
    CloudMonitor,
    CostEstimator,
    TimeRange
)

# Configurar monitor de nuvem
monitor = CloudMonitor(provider=gcp_provider)

# Obter métricas de uso
metrics = monitor.get_metrics(
    resource_name="pepperpy-rag-app",
    metrics=["cpu_usage", "memory_usage", "requests_count"],
    time_range=TimeRange.LAST_24_HOURS
)

# Visualizar métricas
monitor.plot_metrics(metrics)

# Estimar custos
cost_estimator = CostEstimator(provider=gcp_provider)
estimated_cost = cost_estimator.estimate_monthly_cost(
    resources=[
        {"type": "compute", "instance_type": "e2-standard-2", "count": 3},
        {"type": "storage", "size_gb": 100},
        {"type": "database", "instance_type": "db-standard-1", "size_gb": 50}
    ]
)

print(f"Custo mensal estimado: ${estimated_cost:.2f}")

# Obter custos reais
actual_costs = cost_estimator.get_actual_costs(
    time_range=TimeRange.LAST_MONTH,
    group_by="service"
)

for service, cost in actual_costs.items():
    print(f"{service}: ${cost:.2f}")
'''

DOCUMENTS = [
    {"id": "pg", "text": "pgvector adds vector similarity search to PostgreSQL tables."},
    {"id": "k8s", "text": "Kubernetes schedules containers in pods across the nodes of a cluster."},
]


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:  # one home (and build cache, and PostgreSQL) for the module
    with server_home() as folder, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEPPERPY_CLOUD_HOME", str(folder))
        mp.setenv("PEPPERPY_SCRAPE_INTERVAL", "1")
        for var in [v for v in os.environ if v.startswith("PEPPERPY_SMTP_")]:
            mp.delenv(var)
        try:
            yield folder
        finally:
            from pepperpy.cloud.providers.local.supervisor import Supervisor

            Supervisor(folder).shutdown()


def cli(*args: str, home: Path, stdin: str | None = None, cwd: Path | None = None,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pepperpy.cloud.cli.main", *args], input=stdin, cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PEPPERPY_CLOUD_HOME": str(home), **(extra_env or {})})


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def test_seed_000_monitoring_and_costs_snippet_on_the_live_rag_app(home: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from pepperpy.cloud import DatabaseResource, LocalProvider, ResourceManager

    manager = ResourceManager(provider=LocalProvider())
    db = manager.create_resource(DatabaseResource(name="watched-vectors", type="postgres", extensions=["pgvector"]))
    app_dir = tmp_path / "rag-app"
    shutil.copytree(RAG_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    stack = app_dir / "pepperpy.yaml"
    stack.write_text(stack.read_text().replace("name: rag-app", "name: pepperpy-rag-app"))
    try:
        assert cli("secrets", "set", "rag-database-url", "--value-stdin", home=home,
                   stdin=db.connection_string).returncode == 0
        up = cli("up", str(app_dir), "-d", "--json", home=home)
        assert up.returncode == 0, up.stderr[-3000:]
        url = json.loads(up.stdout)[0]["url"]
        sent = 0
        with httpx.Client(base_url=url, timeout=20) as client:
            assert client.post("/ingest", json={"documents": DOCUMENTS}).status_code == 200
            sent += 1
            for _ in range(20):
                assert client.get("/ask", params={"q": "vector search in postgres"}).status_code == 200
                sent += 1

        from pepperpy.cloud import CloudMonitor, TimeRange

        def measured() -> bool:
            got = CloudMonitor().get_metrics("pepperpy-rag-app", ["requests_count", "cpu_usage"], TimeRange.LAST_HOUR)
            return float(got["requests_count"].values.sum()) == sent and len(got["cpu_usage"]) > 0

        wait_for(f"the collector to count {sent} requests", measured)

        gcp_provider = LocalProvider(price_as="gcp", price_region="us-central1")
        namespace: dict[str, Any] = {"gcp_provider": gcp_provider}
        exec(SEED_MONITORING, namespace)  # seed 000, "Monitoramento e Custos", as written
        metrics, actual_costs = namespace["metrics"], namespace["actual_costs"]

        assert float(metrics["requests_count"].values.sum()) == sent  # every request, measured once
        assert metrics["memory_usage"].last > 50 * 2**20  # two FastAPI replicas
        assert metrics["cpu_usage"].unit == "percent" and len(metrics["cpu_usage"]) > 0
        plots = sorted((home / "plots").glob("pepperpy-rag-app-*"))
        assert {p.suffix for p in plots} == {".png", ".html"}
        assert actual_costs and all(isinstance(c, Decimal) and c > 0 for c in actual_costs.values())
        out = capsys.readouterr().out
        assert "Custo mensal estimado: $" in out and "Compute Engine: $" in out
    finally:
        cli("down", "pepperpy-rag-app", home=home)
        with contextlib.suppress(Exception):
            manager.delete_resource("watched-vectors")


def test_seed_000_complete_example_runs_as_written_on_local_provider(home: Path, tmp_path: Path) -> None:
    from pepperpy.cloud.deploy.secrets import SecretStore

    SecretStore.open().set("openai-api-key", "sk-test-not-a-real-key-0042")
    shutil.copytree(RAG_APP, tmp_path / "rag-app", ignore=shutil.ignore_patterns("__pycache__", "pepperpy.yaml"))
    (tmp_path / "deploy_rag.py").write_text(COMPLETE_EXAMPLE)
    env = {**os.environ, "PEPPERPY_CLOUD_HOME": str(home), "PYTHONPATH": str(tmp_path / "rag-app")}
    try:
        run = subprocess.run([sys.executable, "deploy_rag.py"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=600, env=env)
        assert run.returncode == 0, run.stderr[-4000:]
        lines = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
        url = lines["URL da aplicação"]
        with httpx.Client(base_url=url, timeout=20) as client:
            assert client.get("/ready").json() == {"status": "ready"}  # the DB from app_config.yaml answers
            assert client.post("/ingest", json={"documents": DOCUMENTS}).status_code == 200
            best = client.get("/ask", params={"q": "containers in pods", "top_k": 1}).json()["results"][0]
            assert best["doc_id"] == "k8s"
        dashboard = Path(lines["Dashboard de monitoramento"].removeprefix("file://"))
        assert dashboard.is_file() and (dashboard.parent / "grafana.json").is_file()
        import yaml

        rules = yaml.safe_load((home / "monitor" / "alerts" / "pepperpy-rag-service.rules.yml").read_text())
        rule = rules["groups"][0]["rules"][0]
        assert rule["alert"] == "high-cpu-alert" and rule["for"] in ("300s", "5m")
        assert "outbox" in run.stderr  # no SMTP server configured: said, not silent
        assert Path(lines["- Bucket de documentos"].removeprefix("file://")).is_dir()
        assert "sk-test-not-a-real-key-0042" not in run.stdout + run.stderr
        status = cli("status", "pepperpy-rag-service", "--json", home=home)
        assert json.loads(status.stdout)["revision"] == 1 and len(json.loads(status.stdout)["replicas"]) == 2
    finally:
        cli("down", "pepperpy-rag-service", home=home)
        from pepperpy.cloud import LocalProvider, ResourceManager

        manager = ResourceManager(provider=LocalProvider())
        for name in ("pepperpy-rag-vectors", "pepperpy-rag-documents"):
            with contextlib.suppress(Exception):
                manager.delete_resource(name)
