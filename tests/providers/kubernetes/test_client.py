"""The exact calls KubeClient makes into the official client's REST layer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from pepperpy.cloud.providers.kubernetes.client import KINDS, KubeClient, KubernetesError, kind_of


@dataclass
class Answer:
    status: int = 200
    data: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)


class CapturingRest:
    """Stands in for ``kubernetes.client.rest.RESTClientObject``: records calls, plays back answers."""

    def __init__(self, *answers: Answer) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answers = list(answers)

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, body: Any = None,
                post_params: Any = None, _request_timeout: Any = None) -> Answer:
        self.calls.append({"method": method, "url": url, "headers": dict(headers or {}), "body": body,
                           "timeout": _request_timeout})
        return self.answers.pop(0) if self.answers else Answer()


def _client(*answers: Answer, slept: list[float] | None = None) -> tuple[KubeClient, CapturingRest]:
    from kubernetes import client

    cfg = client.Configuration(host="https://10.0.0.1:6443")
    cfg.api_key = {"BearerToken": "Bearer abc"}
    rest = CapturingRest(*answers)
    return KubeClient(cfg, context="prod", rest=rest, sleep=(slept if slept is not None else []).append), rest


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "shop", "labels": {"a": "b"}}, "spec": {"replicas": 2}}


def test_apply_is_a_patch_with_the_apply_content_type_and_json_text_body() -> None:
    kube, rest = _client(Answer(201, json.dumps(DEPLOYMENT).encode()))
    assert kube.apply(DEPLOYMENT) == DEPLOYMENT
    call = rest.calls[0]
    assert call["method"] == "PATCH"
    assert call["url"] == "https://10.0.0.1:6443/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=pepperpy-cloud"
    assert call["headers"] == {"Accept": "application/json", "User-Agent": "pepperpy-cloud",
                               "Content-Type": "application/apply-patch+yaml", "authorization": "Bearer abc"}
    assert isinstance(call["body"], str) and json.loads(call["body"]) == DEPLOYMENT  # JSON is YAML: sent as text
    kube.apply(DEPLOYMENT, force=True)
    assert rest.calls[1]["url"].endswith("?fieldManager=pepperpy-cloud&force=true")


def test_reads_lists_and_deletes() -> None:
    page1 = {"items": [{"metadata": {"name": "a"}}], "metadata": {"continue": "tok"}}
    page2 = {"items": [{"metadata": {"name": "b"}}], "metadata": {}}
    kube, rest = _client(Answer(404, b'{"kind":"Status","reason":"NotFound"}'),
                         Answer(200, json.dumps(page1).encode()), Answer(200, json.dumps(page2).encode()),
                         Answer(200, b'{"kind":"Status","status":"Success"}'), Answer(404, b"{}"))
    assert kube.get("Secret", "api-key", "shop") is None
    assert [o["metadata"]["name"] for o in kube.list("Pod", "shop", labels={"x": "1", "a.b/c": "d"})] == ["a", "b"]
    assert kube.delete("Namespace", "shop") is True
    assert kube.delete("Namespace", "shop") is False  # already gone: fine
    urls = [c["url"].removeprefix("https://10.0.0.1:6443") for c in rest.calls]
    assert urls == ["/api/v1/namespaces/shop/secrets/api-key",
                    "/api/v1/namespaces/shop/pods?labelSelector=a.b%2Fc%3Dd%2Cx%3D1",
                    "/api/v1/namespaces/shop/pods?labelSelector=a.b%2Fc%3Dd%2Cx%3D1&continue=tok",
                    "/api/v1/namespaces/shop?propagationPolicy=Foreground",
                    "/api/v1/namespaces/shop?propagationPolicy=Foreground"]
    assert rest.calls[0]["body"] is None and "Content-Type" not in rest.calls[0]["headers"]
    assert rest.calls[3]["body"] == {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
    assert rest.calls[3]["headers"]["Content-Type"] == "application/json"


def test_json_and_merge_patches_go_as_objects() -> None:
    kube, rest = _client()
    ops = [{"op": "replace", "path": "/spec/template", "value": {}}]
    kube.patch("Deployment", "web", "shop", ops, content_type="application/json-patch+json",
               field_manager="pepperpy-cloud-rollback", operation="rollback")
    kube.patch("Deployment", "web", "shop", {"spec": {"replicas": 3}}, content_type="application/merge-patch+json",
               field_manager="pepperpy-cloud-scale", operation="scale", subresource="scale")
    assert rest.calls[0]["body"] == ops and rest.calls[1]["body"] == {"spec": {"replicas": 3}}
    assert rest.calls[1]["url"].endswith("/deployments/web/scale?fieldManager=pepperpy-cloud-scale")


def test_throttling_is_retried_then_reported() -> None:
    slept: list[float] = []
    kube, rest = _client(Answer(429, b"{}", {"Retry-After": "3"}), Answer(502, b"{}"), Answer(200, b"{}"),
                         slept=slept)
    assert kube.get("Pod", "p", "ns") == {}
    assert len(rest.calls) == 3 and slept[0] == 3.0 and 0 <= slept[1] <= 1.0
    kube, rest = _client(*[Answer(429, b'{"message":"slow down"}')] * 5)
    with pytest.raises(KubernetesError, match=r"^Kubernetes get: throttled by the API server while trying to read "
                                              r"Pod p: slow down — wait and retry$"):
        kube.get("Pod", "p", "ns")
    assert len(rest.calls) == 5


def test_non_retryable_errors_are_not_retried() -> None:
    kube, rest = _client(Answer(403, b'{"message":"no"}'))
    with pytest.raises(KubernetesError):
        kube.get("Pod", "p", "ns")
    assert len(rest.calls) == 1


def test_every_kind_has_its_api_path_and_unknown_kinds_are_refused() -> None:
    assert KINDS["Namespace"].path(name="x") == "/api/v1/namespaces/x"
    assert KINDS["Ingress"].path("ns", "i") == "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/i"
    assert KINDS["Deployment"].path("ns", "d", "scale") == "/apis/apps/v1/namespaces/ns/deployments/d/scale"
    with pytest.raises(KubernetesError, match="unsupported kind batch/v1/CronJob"):
        kind_of({"apiVersion": "batch/v1", "kind": "CronJob"})
    with pytest.raises(KubernetesError, match="unsupported kind autoscaling/v1/HorizontalPodAutoscaler"):
        kind_of({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler"})
