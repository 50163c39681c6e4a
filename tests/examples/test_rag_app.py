"""examples/rag-app served by uvicorn against a real PostgreSQL resource (embedded, with pgvector)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pepperpy.cloud.providers.local import LocalProvider
from pepperpy.cloud.resources.manager import ResourceManager
from pepperpy.cloud.resources.models import DatabaseResource
from tests.resources import server_home

APP_DIR = Path(__file__).resolve().parents[2] / "examples" / "rag-app"

DOCUMENTS = [
    {"id": "postgres", "text": "PostgreSQL stores rows in tables. The pgvector extension adds a vector column type "
                               "and nearest neighbour search with cosine distance."},
    {"id": "kubernetes", "text": "Kubernetes schedules containers in pods across nodes. A Deployment keeps replicas "
                                 "running and a Service routes traffic to them."},
    {"id": "pricing", "text": "Cloud pricing depends on instance type, region and commitment. Spot instances are "
                              "cheaper but can be interrupted."},
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class App:
    """One uvicorn process serving the example; stdout (the JSON logs) goes to a file."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.stdout = workdir / f"app-{self.port}.out"
        self.stderr = workdir / f"app-{self.port}.err"
        env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(APP_DIR), "--host", "127.0.0.1",
                 "--port", str(self.port), "--no-access-log"], stdout=out, stderr=err, env=env)
        self.client = httpx.Client(base_url=self.base, timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.stderr.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if self.client.get("/health").status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("app did not answer /health within 30 s")

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_lines(self) -> list[str]:
        return [line for line in self.stdout.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def database() -> Iterator[Any]:
    with server_home() as home, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEPPERPY_CLOUD_HOME", str(home))
        manager = ResourceManager(provider=LocalProvider())
        try:
            yield manager.create_resource(DatabaseResource(name="rag-vectors", type="postgres",
                                                           extensions=["pgvector"]))
        finally:
            with contextlib.suppress(Exception):
                manager.delete_resource("rag-vectors")


@pytest.fixture(scope="module")
def app(database: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    served = App(tmp_path_factory.mktemp("rag-app"), database.connection_string)
    try:
        yield served
    finally:
        served.stop()


def test_ingest_then_ask_returns_the_matching_passage_first(app: App) -> None:
    r = app.client.post("/ingest", json={"documents": DOCUMENTS})
    assert r.status_code == 200, r.text
    assert r.json()["passages"] == 3  # each document fits in one passage
    # Ingesting an id again replaces its passages instead of adding duplicates.
    assert app.client.post("/ingest", json={"documents": DOCUMENTS[:1]}).status_code == 200

    for question, expected in [("which extension adds vector search to postgres?", "postgres"),
                               ("how are containers scheduled in pods?", "kubernetes"),
                               ("are spot instances cheaper?", "pricing")]:
        r = app.client.get("/ask", params={"q": question, "top_k": 5})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert results[0]["doc_id"] == expected, results
        assert len(results) == 3  # three passages in all: the re-ingest replaced, not duplicated
        scores = [p["score"] for p in results]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1

    top = app.client.get("/ask", params={"q": "pgvector cosine distance", "top_k": 1}).json()["results"]
    assert len(top) == 1 and "pgvector extension" in top[0]["text"]


def test_probes(app: App) -> None:
    assert app.client.get("/health").json() == {"status": "ok"}
    ready = app.client.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_bad_input_is_422(app: App) -> None:
    assert app.client.get("/ask").status_code == 422
    assert app.client.get("/ask", params={"q": "x", "top_k": 0}).status_code == 422
    assert app.client.post("/ingest", json={"documents": []}).status_code == 422


def test_metrics_count_requests_by_route(app: App) -> None:
    app.client.get("/ask", params={"q": "kubernetes pods"})
    app.client.get("/no-such-page")
    families = {f.name: f for f in text_string_to_metric_families(app.client.get("/metrics").text)}
    counts = {(s.labels["path"], s.labels["status"]): s.value
              for s in families["http_requests"].samples if s.name == "http_requests_total"}
    assert counts[("/ask", "200")] >= 1
    assert counts[("<unmatched>", "404")] == 1  # unknown URLs share one label: no cardinality blow-up
    assert "http_request_duration_seconds" in families


def test_logs_are_json_lines_without_the_password(app: App, database: Any) -> None:
    app.client.get("/health")
    lines = app.log_lines()
    entries = [json.loads(line) for line in lines]  # every line parses
    requests = [e for e in entries if e["message"] == "request"]
    assert requests and all({"timestamp", "level", "message", "path", "status", "duration_ms"} <= e.keys()
                            for e in requests)
    assert any(e["path"] == "/health" and e["status"] == 200 and e["level"] == "INFO" for e in requests)
    password = database.connection_string.split(":")[2].split("@")[0]
    assert password not in app.stdout.read_text() + app.stderr.read_text()


def test_not_ready_without_a_database_but_still_healthy(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    served = App(tmp_path, f"postgresql://app:pw@127.0.0.1:{port}/app")
    try:
        assert served.client.get("/health").status_code == 200
        ready = served.client.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"
        assert served.client.get("/ask", params={"q": "anything"}).status_code == 503
    finally:
        served.stop()
