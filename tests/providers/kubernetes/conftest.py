"""Fixtures: a fake API server on 127.0.0.1, a kubeconfig pointing at it, stacks to deploy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("kubernetes", reason="the k8s extra is not installed: pip install 'pepperpy-cloud[k8s]'")

from pepperpy.cloud.spec.stack import Stack
from tests.providers.kubernetes.fake_apiserver import FakeApiServer

# One app with an HPA (replicas 2..5), one fixed-size worker with a secret, a self-hosted
# postgres (StatefulSet + password Secret) and a managed redis: every kind the renderer makes.
SHOP: dict[str, Any] = {
    "name": "shop",
    "hosting": "kubernetes",
    "services": {
        "web": {"image": "ghcr.io/example/web:1.4.2", "port": 8080, "cpu": "500m", "memory": "512Mi",
                "replicas": {"min": 2, "max": 5}, "health_path": "/healthz",
                "scaling": {"metric": "cpu_utilization", "target": 70, "cooldown_seconds": 60}},
        "worker": {"image": "ghcr.io/example/worker:1.4.2", "port": 9000, "cpu": "250m", "memory": "256Mi",
                   "replicas": {"min": 1, "max": 1}, "env": {"API_KEY": "${SECRET:api-key}"}},
    },
    "components": {
        "db": {"kind": "postgres", "managed": False, "storage": "1Gi"},
        "cache": {"kind": "redis", "managed": True},
    },
    "cloud": {"network": {"custom_domain": "shop.example.org"}},
}
# The smallest thing there is: one fixed-size app, no secrets, no HPA.
HELLO: dict[str, Any] = {
    "name": "hello",
    "hosting": "kubernetes",
    "services": {"app": {"image": "ghcr.io/example/hello:1.0.0", "port": 8000, "cpu": "100m", "memory": "128Mi",
                         "replicas": {"min": 2, "max": 2}}},
}
TOKEN = "test-token"


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    server = FakeApiServer(token=TOKEN)
    yield server
    server.close()


def write_kubeconfig(path: Path, server: str, token: str = TOKEN, context: str = "fake") -> Path:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: "{server}"}}
users:
- name: deployer
  user: {{token: "{token}"}}
contexts:
- name: {context}
  context: {{cluster: fake, user: deployer}}
current-context: {context}
""")
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path, apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return write_kubeconfig(tmp_path / "kubeconfig", apiserver.url)


@pytest.fixture
def shop() -> Stack:
    return Stack.model_validate(SHOP)


@pytest.fixture
def hello() -> Stack:
    return Stack.model_validate(HELLO)


def seed_secrets(server: FakeApiServer, namespace: str, *names: str) -> None:
    """The Secrets an operator creates before deploying (and their namespace)."""
    server.put("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for name in names:
        server.put("secrets", {"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": name, "namespace": namespace}, "data": {"value": "eA=="}})
