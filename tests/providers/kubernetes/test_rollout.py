"""Waiting for a rollout like ``kubectl rollout status``, and saying why pods are stuck."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud.errors import DeployError
from pepperpy.cloud.providers.kubernetes import KubernetesProvider
from pepperpy.cloud.providers.kubernetes.rollout import pod_problems, rollout_state
from pepperpy.cloud.providers.kubernetes.runtime import KubernetesRuntime
from pepperpy.cloud.spec.stack import Stack
from tests.providers.kubernetes.fake_apiserver import FakeApiServer


def _deployment(generation: int = 2, want: int | None = 3, **status: Any) -> dict[str, Any]:
    spec = {} if want is None else {"replicas": want}
    return {"kind": "Deployment", "metadata": {"name": "web", "generation": generation}, "spec": spec,
            "status": status}


@pytest.mark.parametrize(("obj", "done", "message"), [
    (_deployment(observedGeneration=1, replicas=3, updatedReplicas=3, availableReplicas=3), False,
     "waiting for the spec update to be observed"),
    (_deployment(observedGeneration=2, replicas=3, updatedReplicas=1, availableReplicas=1), False,
     "1 of 3 new replicas updated"),
    (_deployment(observedGeneration=2, replicas=4, updatedReplicas=3, availableReplicas=3), False,
     "1 old replicas pending termination"),
    (_deployment(observedGeneration=2, replicas=3, updatedReplicas=3, availableReplicas=2), False,
     "2 of 3 updated replicas available"),
    (_deployment(observedGeneration=2, replicas=3, updatedReplicas=3, availableReplicas=3), True,
     "3 replicas available"),
    (_deployment(want=None, observedGeneration=2, updatedReplicas=0, availableReplicas=0), True,
     "0 replicas available"),  # scaled to zero
])
def test_deployment_rollout_states_follow_kubectl(obj: dict[str, Any], done: bool, message: str) -> None:
    state = rollout_state(obj)
    assert (state.done, state.failed) == (done, False)
    assert message in state.message


def test_a_passed_progress_deadline_fails_at_once() -> None:
    obj = _deployment(observedGeneration=2, replicas=3, updatedReplicas=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])
    assert rollout_state(obj).failed


def test_statefulset_rollout_waits_for_ready_pods_and_the_update_revision() -> None:
    base = {"kind": "StatefulSet", "metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 2}}
    assert "1 of 2 pods ready" in rollout_state({**base, "status": {"observedGeneration": 1, "readyReplicas": 1}}).message
    rolling = {"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"}
    assert not rollout_state({**base, "status": rolling}).done
    assert rollout_state({**base, "status": {**rolling, "currentRevision": "b"}}).done


def test_pod_problems_name_container_reasons_scheduling_and_last_warnings() -> None:
    pods = [
        {"metadata": {"name": "web-1"}, "status": {"phase": "Pending", "containerStatuses": [
            {"name": "web", "state": {"waiting": {"reason": "ImagePullBackOff",
                                                  "message": 'Back-off pulling image "ghcr.io/x/web:9"'}}}]}},
        {"metadata": {"name": "web-2"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient cpu."}]}},
        {"metadata": {"name": "web-3"}, "status": {"phase": "Running", "containerStatuses": [
            {"name": "web", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}},
        {"metadata": {"name": "web-4"}, "status": {"phase": "Running"}},
    ]
    events = {"web-1": [
        {"type": "Normal", "reason": "Scheduled", "message": "assigned", "lastTimestamp": "2026-01-01T00:00:00Z"},
        {"type": "Warning", "reason": "Failed", "message": "manifest unknown", "lastTimestamp": "2026-01-01T00:00:02Z"},
    ]}
    lines = pod_problems(pods, events)
    assert lines == [
        'pod web-1 (Pending): web ImagePullBackOff: Back-off pulling image "ghcr.io/x/web:9"; '
        "event Failed: manifest unknown",
        "pod web-2 (Pending): not scheduled (Unschedulable): 0/3 nodes are available: 3 Insufficient cpu.",
        "pod web-3 (Running): web CrashLoopBackOff; web last exited 1 (Error)",
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _runtime(kubeconfig: Path, clock: Clock, **options: Any) -> KubernetesRuntime:
    provider = KubernetesProvider(kubeconfig=str(kubeconfig))
    return KubernetesRuntime(provider.client(), clock=clock, sleep=clock.sleep, poll=2.0, **options)


def test_deploy_polls_until_the_rollout_completes(apiserver: FakeApiServer, kubeconfig: Path, hello: Stack) -> None:
    apiserver.rollout = "after:2"
    clock, seen = Clock(), []
    results = _runtime(kubeconfig, clock, progress=seen.append).deploy(hello)
    assert clock.sleeps == [2.0, 2.0]
    assert "deployment hello-app: 1 of 2 new replicas updated" in seen
    assert results[0].replicas == 2
    reads = [r for r in apiserver.requests if r.method == "GET" and r.path.endswith("/deployments/hello-app")]
    assert len(reads) == 3


def test_a_rollout_timeout_reports_the_pods_reasons_and_events(apiserver: FakeApiServer, kubeconfig: Path,
                                                               hello: Stack) -> None:
    apiserver.rollout = "stuck"
    selector = {"app.kubernetes.io/name": "app", "app.kubernetes.io/part-of": "hello"}
    apiserver.put("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "hello-app-7d9-x1", "namespace": "hello", "labels": selector}, "status": {
        "phase": "Pending", "containerStatuses": [{"name": "app", "state": {"waiting": {
            "reason": "ImagePullBackOff", "message": 'Back-off pulling image "ghcr.io/example/hello:1.0.0"'}}}]}})
    apiserver.put("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "other", "namespace": "hello", "labels": {"app.kubernetes.io/name": "other"}}, "status": {}})
    apiserver.put("events", {"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": "Failed",
                             "message": "pull access denied", "lastTimestamp": "2026-01-01T00:00:00Z",
                             "metadata": {"name": "ev1", "namespace": "hello"},
                             "involvedObject": {"kind": "Pod", "name": "hello-app-7d9-x1"}})
    clock = Clock()
    with pytest.raises(DeployError) as err:
        _runtime(kubeconfig, clock, timeout=10.0).deploy(hello)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("Kubernetes deploy: deployment hello-app: 1 of 2 new replicas updated after 10s; "
                           'pod hello-app-7d9-x1 (Pending): app ImagePullBackOff: Back-off pulling image '
                           '"ghcr.io/example/hello:1.0.0"; event Failed: pull access denied — fix the cause')
    assert len(err.value.log_tail) == 1
    assert sum(clock.sleeps) >= 10.0
    pods = [r for r in apiserver.requests if r.path == "/api/v1/namespaces/hello/pods"]
    assert pods[0].query == {"labelSelector": "app.kubernetes.io/name=app,app.kubernetes.io/part-of=hello"}
    events = [r for r in apiserver.requests if r.path == "/api/v1/namespaces/hello/events"]
    assert events[0].query == {"fieldSelector": "involvedObject.name=hello-app-7d9-x1"}
