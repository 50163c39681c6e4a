"""Seed 000's deployment snippet and the rag-app, deployed for real on LocalProvider."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.resources import server_home

ROOT = Path(__file__).resolve().parents[2]
APP = '''
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"pepperpy app ok"})
'''


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:  # overrides the per-test home: one home, one build cache, for the module
    with server_home() as folder, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEPPERPY_CLOUD_HOME", str(folder))
        try:
            yield folder
        finally:
            from pepperpy.cloud.providers.local.supervisor import Supervisor

            Supervisor(folder).shutdown()


def cli(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pepperpy.cloud.cli.main", *args], input=stdin,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PEPPERPY_CLOUD_HOME": str(home)})


def test_seed_000_deployment_snippet_runs_on_local_provider(home: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    app_dir = tmp_path / "my-pepperpy-app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP)
    (app_dir / "requirements.txt").write_text("uvicorn\n")
    monkeypatch.chdir(tmp_path)
    from pepperpy.cloud.deploy.secrets import SecretStore

    SecretStore.open().set("openai-api-key", "sk-test-not-a-real-key")

    from pepperpy.cloud import CloudDeployment, DeploymentConfig, LocalProvider, ScalingConfig

    deployment = CloudDeployment(
        provider=LocalProvider(),
        name="pepperpy-rag-app",
        config=DeploymentConfig(
            instance_type="t3.medium",
            memory="4Gi",
            cpu="2",
            min_replicas=1,
            max_replicas=5,
            environment_variables={
                "OPENAI_API_KEY": "${SECRET:openai-api-key}",
                "LOG_LEVEL": "INFO"
            }
        )
    )
    scaling_config = ScalingConfig(
        metric="cpu_utilization",
        target_value=70,
        cooldown_seconds=300
    )
    deployment.set_scaling_config(scaling_config)
    deployment_result = deployment.deploy(
        source_dir="./my-pepperpy-app",
        entry_point="app.py",
        requirements_file="requirements.txt"
    )
    print(f"Aplicação implantada: {deployment_result.url}")
    assert httpx.get(deployment_result.url + "/", timeout=10).text == "pepperpy app ok"
    down = cli("down", "pepperpy-rag-app", home=home)
    assert down.returncode == 0, down.stderr


def test_rag_app_answers_through_the_load_balancer(home: Path) -> None:
    from pepperpy.cloud import DatabaseResource, LocalProvider, ResourceManager

    manager = ResourceManager(provider=LocalProvider())
    db = manager.create_resource(DatabaseResource(name="rag-vectors", type="postgres", extensions=["pgvector"]))
    try:
        stored = cli("secrets", "set", "rag-database-url", "--value-stdin", home=home, stdin=db.connection_string)
        assert stored.returncode == 0, stored.stderr
        up = cli("up", str(ROOT / "examples" / "rag-app"), "-d", "--json", home=home)
        assert up.returncode == 0, up.stderr[-3000:]
        url = __import__("json").loads(up.stdout)[0]["url"]
        with httpx.Client(base_url=url, timeout=20) as client:
            ingest = client.post("/ingest", json={"documents": [
                {"id": "pg", "text": "pgvector adds vector similarity search to PostgreSQL"},
                {"id": "k8s", "text": "Kubernetes runs containers in pods on nodes"}]})
            assert ingest.status_code < 300, ingest.text
            answer = client.get("/ask", params={"q": "vector search in postgres", "top_k": 1})
            assert answer.status_code == 200, answer.text
            assert "pgvector" in answer.text
            replicas = {client.get("/health").status_code for _ in range(4)}
            assert replicas == {200}
        status = cli("status", "rag-app", "--json", home=home)
        assert status.returncode == 0 and db.connection_string.split("@")[0] not in status.stdout
        logs = cli("logs", "rag-app", "-n", "200", home=home)
        password = db.connection_string.split(":")[2].split("@")[0]
        assert password not in logs.stdout
    finally:
        cli("down", "rag-app", home=home)
        with contextlib.suppress(Exception):
            manager.delete_resource("rag-vectors")
