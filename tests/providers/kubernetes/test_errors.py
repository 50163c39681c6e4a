"""Bad credentials, no cluster, names the cluster rejects: one line naming the provider, the operation and the fix."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from pepperpy.cloud.errors import MissingDependencyError
from pepperpy.cloud.providers.kubernetes import KubernetesProvider
from pepperpy.cloud.providers.kubernetes.client import KubernetesError
from pepperpy.cloud.spec.stack import Stack
from tests.providers.kubernetes.conftest import write_kubeconfig
from tests.providers.kubernetes.fake_apiserver import FakeApiServer


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_no_kubeconfig_and_not_in_a_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hello: Stack) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubernetesError) as err:
        KubernetesProvider().deploy_stack(hello)
    assert _one_line(err.value) == (
        "Kubernetes connect: no kubeconfig found (~/.kube/config) and not running inside a cluster — set KUBECONFIG, "
        "pass kubeconfig='path' (and context='name'), or pass endpoint_url= with credentials={'token': ...}")


def test_a_kubeconfig_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KubernetesError, match=r"^Kubernetes connect: the kubeconfig .*/nope does not exist — set "):
        KubernetesProvider(kubeconfig=str(tmp_path / "nope")).status("x")


def test_an_unknown_context_lists_the_known_ones(kubeconfig: Path) -> None:
    with pytest.raises(KubernetesError) as err:
        KubernetesProvider(context="prod", kubeconfig=str(kubeconfig)).status("x")
    assert _one_line(err.value).startswith(f"Kubernetes connect: context 'prod' is not in {kubeconfig} "
                                           "(contexts: fake) — pass one of those as context=")


def test_an_unreachable_api_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hello: Stack) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("KUBECONFIG", raising=False)
    path = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}")
    with pytest.raises(KubernetesError) as err:
        KubernetesProvider(kubeconfig=str(path)).deploy_stack(hello)
    assert _one_line(err.value) == (
        f"Kubernetes deploy: cannot reach the API server http://127.0.0.1:{port} of context fake (connection refused) "
        "— check that the cluster is running and the context is right (kubectl config current-context; "
        "kubectl cluster-info)")
    assert err.value.status == 0


def test_wrong_credentials(apiserver: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           hello: Stack) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    path = write_kubeconfig(tmp_path / "kc", apiserver.url, token="expired")
    with pytest.raises(KubernetesError) as err:
        KubernetesProvider(kubeconfig=str(path)).deploy_stack(hello)
    assert _one_line(err.value).startswith("Kubernetes deploy: the API server of context fake rejected the "
                                           "credentials (401 Unauthorized) — refresh them")
    assert apiserver.requests[0].authorization == "Bearer expired"


def test_endpoint_url_and_token_credentials_override_the_kubeconfig(apiserver: FakeApiServer, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    hello: Stack) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    provider = KubernetesProvider(endpoint_url=apiserver.url, credentials={"token": "test-token"})
    assert "test-token" not in repr(provider) and "test-token" not in str(provider.describe())
    provider.deploy_stack(hello)
    assert apiserver.get("deployments", "hello", "hello-app") is not None


def test_forbidden(apiserver: FakeApiServer, kubeconfig: Path, hello: Stack) -> None:
    apiserver.forbid.add(("PATCH", "namespaces"))
    with pytest.raises(KubernetesError) as err:
        KubernetesProvider(kubeconfig=str(kubeconfig)).deploy_stack(hello)
    assert _one_line(err.value) == (
        'Kubernetes deploy: forbidden to apply Namespace hello: namespaces is forbidden: User '
        '"system:serviceaccount:ci:deployer" cannot patch resource "namespaces" in API group "" in the namespace "" '
        "— ask a cluster admin for an RBAC Role granting it, or use a context that has it")


def test_a_name_the_cluster_rejects(apiserver: FakeApiServer, kubeconfig: Path, hello: Stack) -> None:
    with pytest.raises(KubernetesError) as err:
        KubernetesProvider(kubeconfig=str(kubeconfig), namespace="Team_A").deploy_stack(hello)
    assert _one_line(err.value) == (
        'Kubernetes deploy: the cluster rejected apply Namespace Team_A: metadata.name: Invalid value: "Team_A" — '
        "names must be lowercase RFC 1123 (a-z, 0-9, '-', at most 63 characters): fix the stack (name, services, "
        "namespace) and deploy again")
    assert err.value.status == 422


def test_without_the_kubernetes_package(monkeypatch: pytest.MonkeyPatch, kubeconfig: Path) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'pepperpy-cloud\[k8s\]'"):
        KubernetesProvider(kubeconfig=str(kubeconfig)).status("x")


def test_the_provider_states_what_it_can_do() -> None:
    from pepperpy.cloud.providers.registry import get_provider

    provider = get_provider("k8s", context="kind-dev")
    assert isinstance(provider, KubernetesProvider) and provider.context == "kind-dev"
    caps = provider.capabilities()
    assert caps["deploy"].supported and caps["scale"].supported
    assert not caps["managed_ai"].supported
