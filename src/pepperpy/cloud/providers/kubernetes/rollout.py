"""Reading workload status the way ``kubectl rollout status`` does, and saying why pods are stuck.

Pure functions over the objects the API returns, so the rules are tested on their own:
:func:`rollout_state` (done, failed, or what we are waiting for), :func:`pod_problems`
(the waiting/terminated reasons, unschedulable conditions and the last warning events a
person would dig out with ``kubectl describe pod``) and :func:`previous_replicaset`
(``kubectl rollout undo``'s choice of revision).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH_LABEL = "pod-template-hash"


@dataclass(frozen=True)
class RolloutState:
    done: bool
    message: str
    failed: bool = False


def rollout_state(obj: Mapping[str, Any]) -> RolloutState:
    """Where one Deployment or StatefulSet's rollout stands."""
    if obj.get("kind") == "StatefulSet":
        return _statefulset_state(obj)
    return _deployment_state(obj)


def _deployment_state(d: Mapping[str, Any]) -> RolloutState:
    meta, spec, status = d.get("metadata") or {}, d.get("spec") or {}, d.get("status") or {}
    name = meta.get("name", "?")
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 1):
        return RolloutState(False, f"deployment {name}: waiting for the spec update to be observed")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return RolloutState(False, f"deployment {name} exceeded its progress deadline", failed=True)
    want = spec.get("replicas")
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if want is not None and updated < int(want):
        return RolloutState(False, f"deployment {name}: {updated} of {want} new replicas updated")
    if total > updated:
        return RolloutState(False, f"deployment {name}: {total - updated} old replicas pending termination")
    if available < updated:
        return RolloutState(False, f"deployment {name}: {available} of {updated} updated replicas available")
    return RolloutState(True, f"deployment {name}: {available} replicas available")


def _statefulset_state(s: Mapping[str, Any]) -> RolloutState:
    meta, spec, status = s.get("metadata") or {}, s.get("spec") or {}, s.get("status") or {}
    name = meta.get("name", "?")
    observed = int(status.get("observedGeneration") or 0)
    if observed == 0 or observed < int(meta.get("generation") or 1):
        return RolloutState(False, f"statefulset {name}: waiting for the spec update to be observed")
    want = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    if ready < want:
        return RolloutState(False, f"statefulset {name}: {ready} of {want} pods ready")
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate" and status.get("updateRevision") != status.get("currentRevision"):
        return RolloutState(False, f"statefulset {name}: rolling update to {status.get('updateRevision')} "
                                   f"in progress ({status.get('updatedReplicas') or 0} of {want} pods)")
    return RolloutState(True, f"statefulset {name}: {ready} pods ready")


def pod_problems(pods: Sequence[Mapping[str, Any]], events: Mapping[str, Sequence[Mapping[str, Any]]],
                 limit: int = 3) -> list[str]:
    """One line per stuck pod: its container reasons, unschedulable condition and last warning events."""
    lines = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        reasons = list(_container_reasons(pod)) + list(_condition_reasons(pod))
        warnings = [e for e in events.get(name, ()) if e.get("type") == "Warning"]
        warnings.sort(key=_event_time)
        reasons += [f"event {e.get('reason')}: {e.get('message', '').strip()}" for e in warnings[-limit:]]
        if reasons:
            phase = (pod.get("status") or {}).get("phase", "Unknown")
            lines.append(f"pod {name} ({phase}): " + "; ".join(dict.fromkeys(reasons)))
    return lines


def _container_reasons(pod: Mapping[str, Any]) -> Iterable[str]:
    status = pod.get("status") or {}
    for c in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        state, last = c.get("state") or {}, c.get("lastState") or {}
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            yield f"{c.get('name')} {waiting.get('reason')}: {(waiting.get('message') or '').strip()}".rstrip(": ")
        terminated = state.get("terminated") or last.get("terminated")
        if terminated and (terminated.get("exitCode") or terminated.get("reason") == "OOMKilled"):
            yield (f"{c.get('name')} last exited {terminated.get('exitCode')} ({terminated.get('reason')})"
                   + (f": {terminated['message'].strip()}" if terminated.get("message") else ""))


def _condition_reasons(pod: Mapping[str, Any]) -> Iterable[str]:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            yield f"not scheduled ({cond.get('reason')}): {(cond.get('message') or '').strip()}"


def _event_time(e: Mapping[str, Any]) -> str:
    return str(e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")
               or "")


def revision(obj: Mapping[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, 0))
    except (TypeError, ValueError):
        return 0


def owned_by(rs: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = (owner.get("metadata") or {}).get("uid")
    return any(ref.get("uid") == uid and ref.get("controller") for ref in
               (rs.get("metadata") or {}).get("ownerReferences") or [])


def previous_replicaset(deployment: Mapping[str, Any],
                        replicasets: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The ReplicaSet ``kubectl rollout undo`` goes back to: the deployment's highest revision below its current one.

    Only ReplicaSets the deployment controls count (owner reference with its uid).
    """
    current = revision(deployment)
    mine = [rs for rs in replicasets if owned_by(rs, deployment)]
    if not current:
        current = max((revision(rs) for rs in mine), default=0)
    older = [rs for rs in mine if 0 < revision(rs) < current]
    return max(older, key=revision) if older else None


def template_of(rs: Mapping[str, Any]) -> dict[str, Any]:
    """A ReplicaSet's pod template without the controller's ``pod-template-hash`` label."""
    import copy

    template = copy.deepcopy(dict((rs.get("spec") or {}).get("template") or {}))
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(TEMPLATE_HASH_LABEL, None)
    return template
