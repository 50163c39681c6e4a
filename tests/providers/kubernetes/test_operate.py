"""Status, scale, rollback and destroy: the requests they send and what they leave behind."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.kubernetes import KubernetesProvider
from pepperpy.cloud.providers.kubernetes.client import KubernetesError
from pepperpy.cloud.providers.kubernetes.rollout import previous_replicaset, template_of
from pepperpy.cloud.spec.stack import Stack
from tests.providers.kubernetes.conftest import HELLO, seed_secrets
from tests.providers.kubernetes.fake_apiserver import FakeApiServer

SELECTOR = "app.kubernetes.io/managed-by=pepperpy-cloud,pepperpy-cloud/deployment="


def _hello(image: str) -> Stack:
    data = copy.deepcopy(HELLO)
    data["services"]["app"]["image"] = image
    return Stack.model_validate(data)


# ------------------------------------------------------------------ status


def test_status_reads_the_labelled_workloads_and_hpa_bounds(apiserver: FakeApiServer, kubeconfig: Path,
                                                             shop: Stack) -> None:
    seed_secrets(apiserver, "shop", "api-key", "db-password")
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    provider.deploy_stack(shop)
    status = provider.status("shop")
    assert (status["namespace"], status["status"], status["ready"]) == ("shop", "running", True)
    web = next(w for w in status["workloads"] if w["name"] == "shop-web")
    assert web["hpa"] == {"min": 2, "max": 5, "current": None}
    assert {w["kind"] for w in status["workloads"]} == {"Deployment", "StatefulSet"}
    lists = [r for r in apiserver.requests[-3:]]
    assert [r.path for r in lists] == ["/apis/apps/v1/namespaces/shop/deployments",
                                       "/apis/apps/v1/namespaces/shop/statefulsets",
                                       "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers"]
    assert all(r.query == {"labelSelector": SELECTOR + "shop"} for r in lists)


def test_status_of_something_never_deployed_says_so(apiserver: FakeApiServer, kubeconfig: Path) -> None:
    with pytest.raises(KubernetesError, match=r"^Kubernetes status: no workloads labelled "
                                              r"pepperpy-cloud/deployment=ghost in namespace ghost \(context fake\)"):
        KubernetesProvider(kubeconfig=str(kubeconfig)).status("ghost")


# ------------------------------------------------------------------ scale


def test_scale_uses_the_scale_subresource(apiserver: FakeApiServer, kubeconfig: Path, hello: Stack) -> None:
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    provider.deploy_stack(hello)
    assert provider.scale("hello", 4) == {"name": "hello", "deployment": "hello-app", "replicas": 4}
    patch = apiserver.requests[-1]
    assert (patch.method, patch.path, patch.content_type) == (
        "PATCH", "/apis/apps/v1/namespaces/hello/deployments/hello-app/scale", "application/merge-patch+json")
    assert patch.query == {"fieldManager": "pepperpy-cloud-scale"}
    assert patch.body == {"spec": {"replicas": 4}}
    assert apiserver.get("deployments", "hello", "hello-app")["spec"]["replicas"] == 4  # type: ignore[index]

    # the stack is the source of truth: a redeploy meets our own scale's field and takes it back
    count = len(apiserver.requests)
    provider.deploy_stack(hello)
    deployment_applies = [r for r in apiserver.requests[count:] if r.path.endswith("/deployments/hello-app")
                          and r.method == "PATCH"]
    assert [r.query.get("force") for r in deployment_applies] == [None, "true"]
    assert apiserver.get("deployments", "hello", "hello-app")["spec"]["replicas"] == 2  # type: ignore[index]


def test_a_conflict_with_another_manager_is_not_forced(apiserver: FakeApiServer, kubeconfig: Path,
                                                       hello: Stack) -> None:
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    provider.deploy_stack(hello)
    apiserver.get("deployments", "hello", "hello-app")["spec"]["replicas"] = 7  # type: ignore[index]
    apiserver.owners[("deployments", "hello", "hello-app")] = {"spec.replicas": "kubectl-edit"}
    with pytest.raises(KubernetesError, match=r"^Kubernetes deploy: apply Deployment hello-app in namespace hello "
                                              r'has fields managed by someone else: .spec.replicas \(conflict with '
                                              r'"kubectl-edit"\) — re-run with force_conflicts=True'):
        provider.deploy_stack(hello)


def test_scale_refuses_when_an_hpa_owns_replicas_unless_given_bounds(apiserver: FakeApiServer, kubeconfig: Path,
                                                                     shop: Stack) -> None:
    seed_secrets(apiserver, "shop", "api-key", "db-password")
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    provider.deploy_stack(shop)
    with pytest.raises(InputError, match="runs several services"):
        provider.scale("shop", 3)
    with pytest.raises(KubernetesError) as err:
        provider.scale("shop", 3, service="web")
    assert str(err.value) == ("Kubernetes scale: the HorizontalPodAutoscaler shop/shop-web owns the replica count "
                              "(2..5) — pass max_replicas= to set its bounds to 3..max_replicas, or change replicas "
                              "in the stack")
    assert not any(r.path.endswith("/scale") for r in apiserver.requests)
    assert provider.scale("shop", 3, service="web", max_replicas=8)["max"] == 8
    patch = apiserver.requests[-1]
    assert (patch.path, patch.content_type, patch.body) == (
        "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/shop-web", "application/merge-patch+json",
        {"spec": {"minReplicas": 3, "maxReplicas": 8}})
    assert provider.scale("shop", 2, service="worker")["replicas"] == 2


# ------------------------------------------------------------------ rollback


def _rs(revision: int, uid: str = "d1", image: str = "x") -> dict[str, Any]:
    return {"metadata": {"name": f"rs{revision}", "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                         "ownerReferences": [{"uid": uid, "controller": True}]},
            "spec": {"template": {"metadata": {"labels": {"app": "a", "pod-template-hash": f"h{revision}"}},
                                  "spec": {"containers": [{"image": image}]}}}}


def test_previous_replicaset_is_the_highest_revision_below_the_current_one() -> None:
    deployment = {"metadata": {"uid": "d1", "annotations": {"deployment.kubernetes.io/revision": "5"}}}
    sets = [_rs(2), _rs(4), _rs(5), _rs(3), _rs(4, uid="someone-else"), _rs(6, uid="someone-else")]
    assert previous_replicaset(deployment, sets)["metadata"]["name"] == "rs4"  # type: ignore[index]
    assert previous_replicaset(deployment, [_rs(5)]) is None
    assert template_of(_rs(4))["metadata"]["labels"] == {"app": "a"}  # the controller's hash label is dropped


def test_rollback_puts_the_previous_template_back_like_kubectl_rollout_undo(
        apiserver: FakeApiServer, kubeconfig: Path) -> None:
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    provider.deploy_stack(_hello("ghcr.io/example/hello:1.0.0"))
    provider.deploy_stack(_hello("ghcr.io/example/hello:2.0.0"))
    live = apiserver.get("deployments", "hello", "hello-app")
    assert live is not None and live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"

    result = provider.rollback("hello")
    assert result == {"name": "hello", "deployment": "hello-app", "revision": 1, "changed": True}
    patch = next(r for r in apiserver.requests if r.content_type == "application/json-patch+json")
    assert (patch.method, patch.path, patch.query) == (
        "PATCH", "/apis/apps/v1/namespaces/hello/deployments/hello-app", {"fieldManager": "pepperpy-cloud-rollback"})
    assert [(op["op"], op["path"]) for op in patch.body] == [("replace", "/spec/template"),
                                                              ("replace", "/metadata/annotations")]
    assert "pod-template-hash" not in patch.body[0]["value"]["metadata"]["labels"]
    assert patch.body[0]["value"]["spec"]["containers"][0]["image"] == "ghcr.io/example/hello:1.0.0"
    assert patch.body[1]["value"] == {"deployment.kubernetes.io/revision": "2"}
    live = apiserver.get("deployments", "hello", "hello-app")
    assert live is not None and live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0.0")
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"  # the old RS, renumbered
    lists = [r for r in apiserver.requests if r.path == "/apis/apps/v1/namespaces/hello/replicasets"]
    assert lists[0].query == {"labelSelector": "app.kubernetes.io/name=app,app.kubernetes.io/part-of=hello"}
    with StateStore.open() as state:
        assert state.events("hello")[-1].message == "deployment hello-app rolled back to revision 1"

    # undoing again goes back to 2.0.0 (revision 2), as kubectl does
    assert provider.rollback("hello")["revision"] == 2


def test_rollback_without_an_earlier_revision_says_so(apiserver: FakeApiServer, kubeconfig: Path,
                                                      hello: Stack) -> None:
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    provider.deploy_stack(hello)
    with pytest.raises(KubernetesError, match=r"^Kubernetes rollback: deployment hello/hello-app has no earlier "
                                              r"revision \(current: 1\) — nothing to roll back to"):
        provider.rollback("hello")


# ------------------------------------------------------------------ destroy


def test_destroy_deletes_every_kind_by_label_selector_with_foreground_propagation(
        apiserver: FakeApiServer, kubeconfig: Path, shop: Stack) -> None:
    seed_secrets(apiserver, "shop", "api-key", "db-password")
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    provider.deploy_stack(shop)
    apiserver.put("persistentvolumeclaims", {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {
        "name": "data-shop-db-0", "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "pepperpy-cloud", "pepperpy-cloud/deployment": "shop"}}})
    applied_kinds = {r.body["kind"] for r in apiserver.requests if r.content_type == "application/apply-patch+yaml"}
    count = len(apiserver.requests)

    deleted = provider.destroy("shop")

    requests = apiserver.requests[count:]
    lists = [r for r in requests if r.method == "GET"]
    assert all(r.query == {"labelSelector": SELECTOR + "shop"} for r in lists)
    deletes = [r for r in requests if r.method == "DELETE"]
    assert all(r.query == {"propagationPolicy": "Foreground"} for r in deletes)
    assert all(r.body == {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
               for r in deletes)
    assert {d.split("/")[0] for d in deleted} == applied_kinds | {"PersistentVolumeClaim"}
    assert deletes[-1].path == "/api/v1/namespaces/shop"  # the namespace last
    assert not [k for k in apiserver.objects if k[1] == "shop" or k[2] == "shop"]  # nothing orphaned
    with StateStore.open() as state:
        assert state.get_deployment("shop") is None
        assert state.events("shop")[-1].kind == "destroyed"


def test_destroy_leaves_what_is_not_ours_and_can_keep_volumes(apiserver: FakeApiServer, kubeconfig: Path,
                                                              hello: Stack) -> None:
    apiserver.put("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    apiserver.put("deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "theirs", "namespace": "team", "labels": {"app.kubernetes.io/managed-by": "helm"}}, "spec": {}})
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {
        "name": "data", "namespace": "team",
        "labels": {"app.kubernetes.io/managed-by": "pepperpy-cloud", "pepperpy-cloud/deployment": "hello"}}}
    apiserver.put("persistentvolumeclaims", pvc)
    provider = KubernetesProvider(kubeconfig=str(kubeconfig), namespace="team")
    provider.deploy_stack(hello)
    deleted = provider.destroy("hello", keep_volumes=True)
    assert "Deployment/hello-app" in deleted and not any(d.startswith("Namespace/") for d in deleted)
    assert apiserver.get("deployments", "team", "theirs") is not None
    assert apiserver.get("persistentvolumeclaims", "team", "data") is not None
    assert apiserver.get("namespaces", "", "team") is not None
    assert not [k for k, o in apiserver.objects.items()
                if (o["metadata"].get("labels") or {}).get("pepperpy-cloud/deployment") == "hello"
                and k[0] != "persistentvolumeclaims"]
