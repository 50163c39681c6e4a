"""Opt-in: the whole lifecycle against a real cluster (kind, minikube, k3d, a cloud one).

Runs only with ``PEPPERPY_K8S_LIVE=1`` and a kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``);
``PEPPERPY_K8S_CONTEXT`` picks a context other than the current one. It deploys a tiny
stack (the public ``nginxinc/nginx-unprivileged`` image, which runs as non-root on a
read-only root filesystem given /tmp) into its own namespace, scales it, rolls a change
back and destroys it, checking that nothing labelled as its own remains.
"""

from __future__ import annotations

import copy
import os
import uuid
from typing import Any

import pytest

from pepperpy.cloud.providers.kubernetes.client import kubeconfig_path

LIVE = os.environ.get("PEPPERPY_K8S_LIVE") == "1"
KUBECONFIG = kubeconfig_path(None)
pytestmark = [
    pytest.mark.skipif(not LIVE, reason="live Kubernetes suite is opt-in: set PEPPERPY_K8S_LIVE=1 with a kubeconfig"),
    pytest.mark.skipif(LIVE and not KUBECONFIG,
                       reason="PEPPERPY_K8S_LIVE=1 but no kubeconfig found (KUBECONFIG or ~/.kube/config)"),
]

IMAGE = "nginxinc/nginx-unprivileged:1.27-alpine"


def _stack(name: str, tag: str = IMAGE) -> Any:
    from pepperpy.cloud.spec.stack import Stack

    data: dict[str, Any] = {
        "name": name, "hosting": "kubernetes",
        "services": {"web": {"image": tag, "port": 8080, "cpu": "50m", "memory": "64Mi",
                             "replicas": {"min": 1, "max": 1}, "health_path": "/"}},
    }
    return Stack.model_validate(copy.deepcopy(data))


def test_live_lifecycle() -> None:
    from pepperpy.cloud.providers.kubernetes import KubernetesProvider
    from pepperpy.cloud.providers.kubernetes.manifests import ours

    name = f"ppc-live-{uuid.uuid4().hex[:6]}"
    provider = KubernetesProvider(context=os.environ.get("PEPPERPY_K8S_CONTEXT"), timeout=240)
    try:
        results = provider.deploy_stack(_stack(name))
        assert results[0].namespace == name
        assert provider.status(name)["ready"]
        provider.deploy_stack(_stack(name))  # idempotent
        assert provider.scale(name, 2)["replicas"] == 2
        provider.deploy_stack(_stack(name, "nginxinc/nginx-unprivileged:1.26-alpine"))
        assert provider.rollback(name)["revision"] >= 1
        web = provider.client().get("Deployment", f"{name}-web", name)
        assert web["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    finally:
        provider.destroy(name)
    client = provider.client()
    for kind in ("Deployment", "Service", "ConfigMap", "NetworkPolicy"):
        assert not client.list(kind, name, labels=ours(name))
