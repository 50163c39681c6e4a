"""Deploy, status, scale, roll back and destroy a stack on a Kubernetes cluster.

Deploy applies every object of the rendered overlay with server-side apply (field manager
``pepperpy-cloud``) in dependency order, then waits for each workload's rollout. Each run
holds the deployment's lease in the state store and records there what it applied, so a
failure halfway leaves a record of what exists (and ``destroy`` finds it all by label
anyway). Scale and rollback write with their own field managers
(``pepperpy-cloud-scale``/``-rollback``); a later deploy that meets a conflict with
*only those* takes the fields back (the stack is the source of truth), while a conflict
with anyone else stops it with the fields and managers named.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pepperpy.cloud.errors import DeployError, InputError, NotFoundError
from pepperpy.cloud.providers.kubernetes.client import JSON_PATCH, MERGE_PATCH, KubeClient, KubernetesError
from pepperpy.cloud.providers.kubernetes.manifests import (
    APPLY_ORDER,
    DEPLOYMENT_LABEL,
    WORKLOADS,
    Manifest,
    build_manifests,
    ours,
    overlay_namespace,
    ref,
    secret_refs,
)
from pepperpy.cloud.providers.kubernetes.rollout import (
    REVISION_ANNOTATION,
    pod_problems,
    previous_replicaset,
    revision,
    rollout_state,
    template_of,
)
from pepperpy.cloud.render.base import dns_name
from pepperpy.cloud.spec.stack import Stack

Progress = Callable[[str], None]
PROVIDER = "kubernetes"
SCALE_MANAGER = "pepperpy-cloud-scale"
ROLLBACK_MANAGER = "pepperpy-cloud-rollback"
OWN_MANAGERS = (SCALE_MANAGER, ROLLBACK_MANAGER)
ROLLOUT_TIMEOUT_S = 300.0
POLL_S = 2.0
# kubectl rollout undo keeps these annotations from the deployment instead of the ReplicaSet's
SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", REVISION_ANNOTATION,
                    "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
                    "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to"}
# what destroy deletes, dependants first; PersistentVolumeClaims come from StatefulSet claim templates
DESTROY_ORDER = (*reversed([k for k in APPLY_ORDER if k != "Namespace"]), "PersistentVolumeClaim")


def _silent(_message: str) -> None:
    return None


@dataclass(frozen=True)
class KubernetesDeployment:
    """What ``deploy`` returns per app service: where it answers and what now runs."""

    name: str
    service: str
    namespace: str
    url: str
    revision: int
    replicas: int | None
    objects: list[dict[str, Any]] = field(default_factory=list, repr=False)


class KubernetesRuntime:
    """The lifecycle over one :class:`KubeClient`; ``clock``/``sleep`` are injectable for tests."""

    def __init__(self, client: KubeClient, *, namespace: str | None = None, overlay: str = "prod",
                 force_conflicts: bool = False, timeout: float = ROLLOUT_TIMEOUT_S, poll: float = POLL_S,
                 progress: Progress | None = None, state: Any = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.namespace = namespace
        self.overlay = overlay
        self.force_conflicts = force_conflicts
        self.timeout = timeout
        self.poll = poll
        self.progress = progress or _silent
        self._state = state
        self._owns_state = False
        self.clock = clock
        self.sleep = sleep

    @property
    def state(self) -> Any:
        if self._state is None:
            from pepperpy.cloud.deploy.state import StateStore

            self._state = StateStore.open()
            self._owns_state = True
        return self._state

    def close(self) -> None:
        """Close the state store if this runtime opened it."""
        if self._owns_state:
            self._state.close()
            self._state, self._owns_state = None, False

    def __enter__(self) -> KubernetesRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ deploy

    def deploy(self, stack: Stack, *, components: tuple[str, ...] = ()) -> list[KubernetesDeployment]:
        """Apply the stack's overlay and wait for its rollout; one result per app service."""
        docs = build_manifests(stack, overlay=self.overlay, namespace=self.namespace, components=components)
        name = stack.name
        namespace = self.namespace or overlay_namespace(stack, self.overlay)
        self._refuse_foreign(name)
        with self.state.lock(name, ttl=self.timeout + 300):
            spec = {"namespace": namespace, "overlay": self.overlay, "context": self.client.context,
                    "host": self.client.host, "stack": stack.model_dump(mode="json"), "objects": []}
            self.state.upsert_deployment(name, PROVIDER, spec, status="deploying")
            number = self.state.add_revision(name, spec)
            try:
                self._check_secrets(docs)
                applied = self._apply_all(name, docs, spec, number)
                live = self._wait(applied)
            except Exception as exc:
                self.state.set_revision_status(name, number, "failed", error=str(exc)[:2000])
                self.state.set_deployment_status(name, "failed")
                self.state.record_event("deploy-failed", str(exc)[:2000], name)
                raise
            self.state.set_active_revision(name, number)
            self.state.set_deployment_status(name, "running")
            self.state.record_event("deployed", f"applied {len(docs)} objects to namespace {namespace} "
                                                f"({self.client.context})", name)
        return self._results(stack, namespace, [live.get((d["kind"], d["metadata"]["name"]), d) for d in applied],
                             number)

    def _refuse_foreign(self, name: str) -> None:
        found = self.state.get_deployment(name)
        if found is not None and found.provider != PROVIDER:
            raise InputError("name", f"{name!r} is already a {found.provider} deployment",
                             hint=f"destroy it there first (pepperpy-cloud down {name}) or rename the stack")

    def _check_secrets(self, docs: list[Manifest]) -> None:
        """The Secrets pods mount must exist before they start; say which to create, and how."""
        missing = []
        for namespace, names in sorted(secret_refs(docs).items()):
            for secret in sorted(names):
                if self.client.get("Secret", secret, namespace, operation="deploy") is None:
                    missing.append((namespace, secret))
        if missing:
            how = "; ".join(f"kubectl -n {ns} create secret generic {s} --from-file=value=<file>"
                            for ns, s in missing)
            namespaces = sorted({ns for ns, _ in missing})
            raise KubernetesError("deploy", f"the pods need Secrets that do not exist: "
                                            f"{', '.join(f'{ns}/{s}' for ns, s in missing)}",
                                  f"create them first (kubectl create namespace {' '.join(namespaces)} if needed): "
                                  f"{how}")

    def _apply_all(self, name: str, docs: list[Manifest], spec: dict[str, Any], number: int) -> list[Manifest]:
        applied: list[Manifest] = []
        if self.namespace:
            self._ensure_namespace(name, self.namespace)
        for d in docs:
            self.progress(f"applying {d['kind']} {d['metadata'].get('namespace', '')}/{d['metadata']['name']}")
            applied.append(self._apply(d))
            spec["objects"].append(ref(d))
            self.state.upsert_deployment(name, PROVIDER, spec, status="deploying")  # a record of what exists
        return applied

    def _ensure_namespace(self, name: str, namespace: str) -> None:
        """A namespace the user named is created (and then ours) only when it does not exist yet."""
        if self.client.get("Namespace", namespace, operation="deploy") is None:
            self._apply({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": namespace, "labels": ours(name)}})

    def _apply(self, d: Manifest) -> Manifest:
        try:
            return self.client.apply(d, force=self.force_conflicts, operation="deploy")
        except KubernetesError as exc:
            if exc.status != 409 or not exc.causes or not all(_own_conflict(c) for c in exc.causes):
                raise
        self.progress(f"taking back fields of {d['kind']} {d['metadata']['name']} set by an earlier scale/rollback")
        return self.client.apply(d, force=True, operation="deploy")

    # ------------------------------------------------------------------ rollout

    def _wait(self, applied: list[Manifest]) -> dict[tuple[str, str], Manifest]:
        """Wait until every workload has rolled out; on failure or timeout, say why its pods are stuck.

        Returns the workloads as last read, by (kind, name).
        """
        pending = [d for d in applied if d.get("kind") in WORKLOADS]
        final: dict[tuple[str, str], Manifest] = {}
        deadline = self.clock() + self.timeout
        while pending:
            still = []
            for d in pending:
                live = self.client.get(d["kind"], d["metadata"]["name"], d["metadata"]["namespace"],
                                       operation="rollout") or d
                final[(live["kind"], live["metadata"]["name"])] = live
                state = rollout_state(live)
                if state.failed:
                    raise self._stuck(live, state.message)
                if not state.done:
                    still.append(live)
                    self.progress(state.message)
            pending = still
            if pending and self.clock() >= deadline:
                raise self._stuck(pending[0], f"{rollout_state(pending[0]).message} after {self.timeout:.0f}s")
            if pending:
                self.sleep(self.poll)
        return final

    def _stuck(self, workload: Manifest, message: str) -> DeployError:
        lines = self.diagnose(workload)
        detail = f"; {lines[0]}" if lines else ""
        extra = f" (+{len(lines) - 1} more pods)" if len(lines) > 1 else ""
        return DeployError(f"Kubernetes deploy: {message}{detail}{extra} — fix the cause and deploy again; "
                           f"pepperpy-cloud rollback restores the previous revision", log_tail=lines)

    def diagnose(self, workload: Mapping[str, Any]) -> list[str]:
        """Why the workload's pods are not ready: container reasons, scheduling, their last warning events."""
        namespace = workload["metadata"]["namespace"]
        selector = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pods = self.client.list("Pod", namespace, labels=selector, operation="rollout")
        events = {p["metadata"]["name"]: self.client.list(
            "Event", namespace, fields={"involvedObject.name": p["metadata"]["name"]}, operation="rollout")
            for p in pods[:5]}
        return pod_problems(pods[:5], events)

    # ------------------------------------------------------------------ status

    def _namespace(self, name: str) -> str:
        if self.namespace:
            return self.namespace
        found = self.state.get_deployment(name)
        if found is not None and found.provider == PROVIDER:
            return str(found.spec.get("namespace") or name)
        return name if self.overlay == "prod" else f"{name}-{self.overlay}"

    def _workloads(self, name: str, namespace: str, operation: str) -> list[dict[str, Any]]:
        found = []
        for kind in WORKLOADS:
            found += self.client.list(kind, namespace, labels=ours(name), operation=operation)
        return found

    def status(self, name: str) -> dict[str, Any]:
        """Each workload's desired/ready/updated replicas, revision and rollout message; HPAs' bounds."""
        namespace = self._namespace(name)
        workloads = self._workloads(name, namespace, "status")
        if not workloads:
            raise self._not_found(name, namespace, "status")
        hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in
                self.client.list("HorizontalPodAutoscaler", namespace, labels=ours(name), operation="status")}
        items = []
        for w in workloads:
            spec, st, wname = w.get("spec") or {}, w.get("status") or {}, w["metadata"]["name"]
            item: dict[str, Any] = {
                "kind": w["kind"], "name": wname, "desired": spec.get("replicas"),
                "ready": int(st.get("readyReplicas") or 0), "updated": int(st.get("updatedReplicas") or 0),
                "available": int(st.get("availableReplicas") or 0), "revision": revision(w),
                "rollout": rollout_state(w).message, "ready_now": rollout_state(w).done}
            if wname in hpas:
                h = hpas[wname]
                item["hpa"] = {"min": h["spec"].get("minReplicas", 1), "max": h["spec"]["maxReplicas"],
                               "current": (h.get("status") or {}).get("currentReplicas")}
            items.append(item)
        record = self.state.get_deployment(name)
        return {"name": name, "provider": PROVIDER, "context": self.client.context, "namespace": namespace,
                "status": record.status if record else "unknown",
                "revision": record.active_revision if record else None,
                "ready": all(i["ready_now"] for i in items), "workloads": items}

    def _not_found(self, name: str, namespace: str, operation: str) -> KubernetesError:
        return KubernetesError(operation, f"no workloads labelled {DEPLOYMENT_LABEL}={name} in namespace "
                                          f"{namespace} (context {self.client.context})",
                               "deploy it first, or pass the namespace= it was deployed to")

    # ------------------------------------------------------------------ scale

    def _pick(self, name: str, namespace: str, service: str | None, operation: str) -> dict[str, Any]:
        deployments = self.client.list("Deployment", namespace, labels=ours(name), operation=operation)
        if not deployments:
            raise self._not_found(name, namespace, operation)
        if service is not None:
            wanted = dns_name(name, service)
            for d in deployments:
                if d["metadata"]["name"] == wanted:
                    return d
            raise NotFoundError("service", service, "service",
                                suggestions=[d["metadata"]["name"].removeprefix(f"{name}-") for d in deployments])
        if len(deployments) > 1:
            names = ", ".join(d["metadata"]["name"].removeprefix(f"{name}-") for d in deployments)
            raise InputError("service", f"{name!r} runs several services ({names}); name one with service=")
        return deployments[0]

    def scale(self, name: str, replicas: int, *, service: str | None = None,
              max_replicas: int | None = None) -> dict[str, Any]:
        """Set a Deployment's replicas through its scale subresource.

        When an HPA owns the replica count, scaling the Deployment would be undone by it within
        seconds, so that is refused — unless ``max_replicas`` is given: then the HPA's bounds
        become ``replicas``..``max_replicas``.
        """
        if replicas < 0 or (max_replicas is not None and max_replicas < max(replicas, 1)):
            raise InputError("replicas", f"need 0 <= replicas <= max_replicas, got {replicas}..{max_replicas}")
        namespace = self._namespace(name)
        with self.state.lock(name, ttl=120):
            target = self._pick(name, namespace, service, "scale")
            tname = target["metadata"]["name"]
            hpa = self._hpa_for(name, namespace, tname)
            if hpa is not None:
                return self._scale_hpa(name, namespace, hpa, replicas, max_replicas)
            if max_replicas is not None:
                raise InputError("max_replicas", f"deployment {tname} has no HorizontalPodAutoscaler to bound")
            self.client.patch("Deployment", tname, namespace, {"spec": {"replicas": replicas}},
                              content_type=MERGE_PATCH, field_manager=SCALE_MANAGER, operation="scale",
                              subresource="scale")
            self._record(name, "scaled", f"deployment {tname} scaled to {replicas} replicas")
        return {"name": name, "deployment": tname, "replicas": replicas}

    def _hpa_for(self, name: str, namespace: str, deployment: str) -> dict[str, Any] | None:
        for h in self.client.list("HorizontalPodAutoscaler", namespace, labels=ours(name), operation="scale"):
            ref_ = h["spec"]["scaleTargetRef"]
            if ref_.get("kind") == "Deployment" and ref_.get("name") == deployment:
                return h
        return None

    def _scale_hpa(self, name: str, namespace: str, hpa: dict[str, Any], replicas: int,
                   max_replicas: int | None) -> dict[str, Any]:
        hname, spec = hpa["metadata"]["name"], hpa["spec"]
        if max_replicas is None:
            raise KubernetesError(
                "scale", f"the HorizontalPodAutoscaler {namespace}/{hname} owns the replica count "
                         f"({spec.get('minReplicas', 1)}..{spec['maxReplicas']})",
                f"pass max_replicas= to set its bounds to {replicas}..max_replicas, or change replicas in the stack")
        if replicas < 1:
            raise InputError("replicas", "an HPA cannot scale to zero (minReplicas >= 1)")
        self.client.patch("HorizontalPodAutoscaler", hname, namespace,
                          {"spec": {"minReplicas": replicas, "maxReplicas": max_replicas}},
                          content_type=MERGE_PATCH, field_manager=SCALE_MANAGER, operation="scale")
        self._record(name, "scaled", f"hpa {hname} bounds set to {replicas}..{max_replicas}")
        return {"name": name, "hpa": hname, "min": replicas, "max": max_replicas}

    def _record(self, name: str, kind: str, message: str) -> None:
        if self.state.get_deployment(name) is not None:
            self.state.record_event(kind, message, name)

    # ------------------------------------------------------------------ rollback

    def rollback(self, name: str, *, service: str | None = None, wait: bool = True) -> dict[str, Any]:
        """``kubectl rollout undo``: put the previous ReplicaSet's pod template back on the Deployment."""
        namespace = self._namespace(name)
        with self.state.lock(name, ttl=self.timeout + 120):
            target = self._pick(name, namespace, service, "rollback")
            tname = target["metadata"]["name"]
            selector = target["spec"]["selector"]["matchLabels"]
            replicasets = self.client.list("ReplicaSet", namespace, labels=selector, operation="rollback")
            previous = previous_replicaset(target, replicasets)
            if previous is None:
                raise KubernetesError("rollback", f"deployment {namespace}/{tname} has no earlier revision "
                                                  f"(current: {revision(target) or 'none'})",
                                      "nothing to roll back to; deploy a fixed version instead")
            to = revision(previous)
            template = template_of(previous)
            if _same_template(template, target["spec"]["template"]):
                return {"name": name, "deployment": tname, "revision": to, "changed": False}
            self.client.patch("Deployment", tname, namespace, _undo_patch(target, previous, template),
                              content_type=JSON_PATCH, field_manager=ROLLBACK_MANAGER, operation="rollback")
            self._record(name, "rolled-back", f"deployment {tname} rolled back to revision {to}")
            if wait:
                self._wait([target])
        return {"name": name, "deployment": tname, "revision": to, "changed": True}

    # ------------------------------------------------------------------ destroy

    def destroy(self, name: str, *, keep_volumes: bool = False, wait: bool = True) -> list[str]:
        """Delete everything labelled as this deployment's, kind by kind, with Foreground propagation.

        Pods and ReplicaSets go with their owners; the StatefulSets' volume claims (and so their
        data) too unless ``keep_volumes``; the namespace last, only if it is ours.
        """
        namespace = self._namespace(name)
        deleted: list[str] = []
        with self.state.lock(name, ttl=self.timeout + 120):
            for kind in DESTROY_ORDER:
                if kind == "PersistentVolumeClaim" and keep_volumes:
                    continue
                for obj in self.client.list(kind, namespace, labels=ours(name), operation="destroy"):
                    if self.client.delete(kind, obj["metadata"]["name"], namespace, operation="destroy"):
                        deleted.append(f"{kind}/{obj['metadata']['name']}")
                        self.progress(f"deleting {kind} {namespace}/{obj['metadata']['name']}")
            if wait:
                self._wait_gone(name, namespace, keep_volumes)
            for ns in self.client.list("Namespace", labels=ours(name), operation="destroy"):
                if self.client.delete("Namespace", ns["metadata"]["name"], operation="destroy"):
                    deleted.append(f"Namespace/{ns['metadata']['name']}")
            if self.state.get_deployment(name) is not None:
                self.state.record_event("destroyed", f"deleted {len(deleted)} objects from {namespace}", name)
                self.state.delete_deployment(name)
        return deleted

    def _wait_gone(self, name: str, namespace: str, keep_volumes: bool) -> None:
        kinds = [k for k in DESTROY_ORDER if not (keep_volumes and k == "PersistentVolumeClaim")]
        deadline = self.clock() + self.timeout
        while True:
            left = [f"{k}/{o['metadata']['name']}" for k in kinds
                    for o in self.client.list(k, namespace, labels=ours(name), operation="destroy")]
            if not left:
                return
            if self.clock() >= deadline:
                raise KubernetesError("destroy", f"still present after {self.timeout:.0f}s in {namespace}: "
                                                 f"{', '.join(left[:5])}",
                                      "check their finalizers (kubectl get -o yaml) and run destroy again")
            self.sleep(self.poll)

    # ------------------------------------------------------------------ results

    def _results(self, stack: Stack, namespace: str, applied: list[Manifest],
                 number: int) -> list[KubernetesDeployment]:
        hosts = {}
        for d in applied:
            if d["kind"] == "Ingress":
                for rule in d["spec"].get("rules") or []:
                    for path in rule["http"]["paths"]:
                        hosts[path["backend"]["service"]["name"]] = rule["host"]
        objects = [ref(d) for d in applied]
        results = []
        for svc_name, svc in sorted(stack.services.items()):
            if svc.runtime != "container":
                continue
            resource = dns_name(stack.name, svc_name)
            live = next((d for d in applied if d["kind"] == "Deployment" and d["metadata"]["name"] == resource), {})
            url = f"https://{hosts[resource]}" if resource in hosts else \
                f"http://{resource}.{namespace}.svc.cluster.local:{svc.port}"
            replicas = (live.get("status") or {}).get("readyReplicas", (live.get("spec") or {}).get("replicas"))
            results.append(KubernetesDeployment(stack.name, svc_name, namespace, url, number, replicas, objects))
        return results


def _own_conflict(cause: Mapping[str, Any]) -> bool:
    message = str(cause.get("message", ""))
    return cause.get("type") == "FieldManagerConflict" and any(f'"{m}"' in message for m in OWN_MANAGERS)


def _same_template(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    import copy

    b = copy.deepcopy(dict(b))
    ((b.get("metadata") or {}).get("labels") or {}).pop("pod-template-hash", None)
    return dict(a) == b


def _undo_patch(deployment: Mapping[str, Any], rs: Mapping[str, Any], template: dict[str, Any]) -> list[Any]:
    """The JSON patch ``kubectl rollout undo`` sends: the template, and annotations from the ReplicaSet."""
    current = (deployment.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in SKIP_ANNOTATIONS}
    annotations.update({k: v for k, v in ((rs.get("metadata") or {}).get("annotations") or {}).items()
                        if k not in SKIP_ANNOTATIONS})
    return [{"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations}]
