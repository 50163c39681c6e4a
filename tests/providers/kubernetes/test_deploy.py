"""Deploy through the official client against the fake API server: the exact requests it sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.providers.kubernetes import KubernetesProvider
from pepperpy.cloud.providers.kubernetes.client import KubernetesError
from pepperpy.cloud.providers.kubernetes.manifests import APPLY_ORDER, DEPLOYMENT_LABEL, build_manifests
from pepperpy.cloud.spec.stack import Stack
from tests.providers.kubernetes.conftest import SHOP, TOKEN, seed_secrets
from tests.providers.kubernetes.fake_apiserver import FakeApiServer

KIND_OF_PLURAL = {"namespaces": "Namespace", "serviceaccounts": "ServiceAccount", "configmaps": "ConfigMap",
                  "services": "Service", "deployments": "Deployment", "statefulsets": "StatefulSet",
                  "horizontalpodautoscalers": "HorizontalPodAutoscaler",
                  "poddisruptionbudgets": "PodDisruptionBudget", "networkpolicies": "NetworkPolicy",
                  "ingresses": "Ingress"}


def _applies(server: FakeApiServer) -> list[Any]:
    return [r for r in server.requests if r.method == "PATCH" and r.content_type == "application/apply-patch+yaml"]


def test_deploy_applies_every_rendered_object_with_server_side_apply_in_dependency_order(
        apiserver: FakeApiServer, kubeconfig: Path, shop: Stack) -> None:
    seed_secrets(apiserver, "shop", "api-key", "db-password")
    results = KubernetesProvider(kubeconfig=str(kubeconfig)).deploy_stack(shop)

    applies = _applies(apiserver)
    expected = build_manifests(shop)
    assert [(r.body["kind"], r.body["metadata"]["name"]) for r in applies] == \
        [(d["kind"], d["metadata"]["name"]) for d in expected]
    kinds = [r.body["kind"] for r in applies]
    assert kinds == sorted(kinds, key=APPLY_ORDER.index)  # Namespace first ... Ingress last
    assert set(kinds) == {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "StatefulSet",
                          "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress"}
    for r in applies:
        assert r.query == {"fieldManager": "pepperpy-cloud"}  # never force unless asked
        assert r.authorization == f"Bearer {TOKEN}"
        plural = r.path.split("/")[-2]
        assert KIND_OF_PLURAL[plural] == r.body["kind"]
        labels = r.body["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "pepperpy-cloud"
        assert labels[DEPLOYMENT_LABEL] == "shop"
        if r.body["kind"] != "Namespace":
            assert r.path.startswith(("/api/v1/namespaces/shop/", "/apis/"))
            assert r.body["metadata"]["namespace"] == "shop"
    paths = {r.body["kind"]: r.path for r in applies}
    assert paths["Namespace"] == "/api/v1/namespaces/shop"
    assert paths["Deployment"].startswith("/apis/apps/v1/namespaces/shop/deployments/")
    assert paths["HorizontalPodAutoscaler"] == "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/shop-web"
    assert paths["Ingress"] == "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/shop"

    web = next(r.body for r in applies if r.body["metadata"]["name"] == "shop-web" and r.body["kind"] == "Deployment")
    assert "replicas" not in web["spec"]  # the HPA owns it
    assert web["spec"]["template"]["metadata"]["labels"][DEPLOYMENT_LABEL] == "shop"  # pods carry it too
    assert DEPLOYMENT_LABEL not in web["spec"]["selector"]["matchLabels"]  # selectors are immutable: untouched
    db = next(r.body for r in applies if r.body["kind"] == "StatefulSet")
    assert db["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"][DEPLOYMENT_LABEL] == "shop"

    assert [(d.service, d.url) for d in results] == [("web", "https://web.shop.example.org"),
                                                     ("worker", "https://worker.shop.example.org")]
    with StateStore.open() as state:
        record = state.get_deployment("shop")
        assert record is not None and record.provider == "kubernetes" and record.status == "running"
        assert record.spec["namespace"] == "shop"
        assert len(record.spec["objects"]) == len(expected)


def test_a_second_deploy_of_the_same_stack_changes_nothing(apiserver: FakeApiServer, kubeconfig: Path,
                                                           shop: Stack) -> None:
    seed_secrets(apiserver, "shop", "api-key", "db-password")
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    provider.deploy_stack(shop)
    first = {k: (o["metadata"]["uid"], o["metadata"].get("generation")) for k, o in apiserver.objects.items()}
    count = len(apiserver.requests)
    provider.deploy_stack(shop)
    second = {k: (o["metadata"]["uid"], o["metadata"].get("generation")) for k, o in apiserver.objects.items()}
    assert second == first  # same objects, same names, no spec change, no new ReplicaSet
    again = [(r.path, r.body) for r in _applies(apiserver) if apiserver.requests.index(r) >= count]
    assert again == [(r.path, r.body) for r in _applies(apiserver)][: len(again)]  # the very same requests


def test_force_is_sent_only_when_asked(apiserver: FakeApiServer, kubeconfig: Path, hello: Stack) -> None:
    KubernetesProvider(kubeconfig=str(kubeconfig), force_conflicts=True).deploy_stack(hello)
    assert {tuple(sorted(r.query.items())) for r in _applies(apiserver)} == \
        {(("fieldManager", "pepperpy-cloud"), ("force", "true"))}


def test_missing_secrets_are_named_before_anything_is_applied(apiserver: FakeApiServer, kubeconfig: Path,
                                                              shop: Stack) -> None:
    with pytest.raises(KubernetesError) as err:
        KubernetesProvider(kubeconfig=str(kubeconfig)).deploy_stack(shop)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("Kubernetes deploy: the pods need Secrets that do not exist: shop/api-key, shop/db-password")
    assert "kubectl -n shop create secret generic api-key --from-file=value=<file>" in text
    assert not _applies(apiserver)
    with StateStore.open() as state:
        assert state.get_deployment("shop").status == "failed"  # type: ignore[union-attr]
        assert state.revisions("shop")[-1].status == "failed"


def test_a_partial_failure_leaves_a_record_of_what_exists(apiserver: FakeApiServer, kubeconfig: Path,
                                                          shop: Stack) -> None:
    seed_secrets(apiserver, "shop", "api-key", "db-password")
    apiserver.forbid.add(("PATCH", "ingresses"))
    with pytest.raises(KubernetesError, match=r"^Kubernetes deploy: forbidden to apply Ingress shop in namespace "
                                              r"shop: ingresses is forbidden: User .* — ask a cluster admin"):
        KubernetesProvider(kubeconfig=str(kubeconfig)).deploy_stack(shop)
    with StateStore.open() as state:
        record = state.get_deployment("shop")
        assert record is not None and record.status == "failed"
        recorded = {(o["kind"], o["name"]) for o in record.spec["objects"]}
    live = {(o["kind"], o["metadata"]["name"]) for o in apiserver.objects.values()
            if (o["metadata"].get("labels") or {}).get(DEPLOYMENT_LABEL) == "shop" and o["kind"] != "ReplicaSet"}
    assert recorded == live and ("Ingress", "shop") not in recorded and len(recorded) == 16


def test_an_explicit_namespace_is_created_only_when_missing_and_is_never_relabelled(
        apiserver: FakeApiServer, kubeconfig: Path, hello: Stack) -> None:
    apiserver.put("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    KubernetesProvider(kubeconfig=str(kubeconfig), namespace="team").deploy_stack(hello)
    assert not any(r.body["kind"] == "Namespace" for r in _applies(apiserver))
    assert apiserver.get("namespaces", "", "team")["metadata"].get("labels") is None  # type: ignore[index]
    assert apiserver.get("deployments", "team", "hello-app") is not None

    KubernetesProvider(kubeconfig=str(kubeconfig), namespace="fresh").deploy_stack(hello)
    created = apiserver.get("namespaces", "", "fresh")
    assert created is not None and created["metadata"]["labels"][DEPLOYMENT_LABEL] == "hello"


def test_the_dev_overlay_deploys_to_its_own_namespace(apiserver: FakeApiServer, kubeconfig: Path) -> None:
    stack = Stack.model_validate({**SHOP, "services": {"web": SHOP["services"]["web"]}, "components": {}})
    KubernetesProvider(kubeconfig=str(kubeconfig), overlay="dev").deploy_stack(stack)
    hpa = apiserver.get("horizontalpodautoscalers", "shop-dev", "shop-web")
    assert hpa is not None and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2)
    assert hpa["metadata"]["labels"]["pepperpy.cloud/environment"] == "dev"


def test_throttling_and_server_errors_are_retried_with_backoff(apiserver: FakeApiServer, kubeconfig: Path,
                                                               hello: Stack) -> None:
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    slept: list[float] = []
    provider.client().sleep = slept.append
    apiserver.fail_next = [(429, {"Retry-After": "2"}), (503, {}), (500, {})]
    provider.deploy_stack(hello)
    assert slept[0] == 2.0  # Retry-After honoured
    assert len(slept) == 3 and all(0 <= s <= 2.0 for s in slept[1:])  # exponential backoff with jitter
    first = apiserver.requests[:4]
    assert len({(r.method, r.path) for r in first}) == 1  # the same request, four times

    slept.clear()
    apiserver.fail_next = [(503, {})] * 5
    with pytest.raises(KubernetesError, match=r"^Kubernetes deploy: the API server failed to apply Namespace hello "
                                              r"\(503\): please retry — check the cluster's health"):
        provider.deploy_stack(hello)
    assert len(slept) == 4  # five attempts in all
