"""What we apply: the rendered overlay, built, labelled as ours, in dependency order.

Every object gets ``app.kubernetes.io/managed-by: pepperpy-cloud`` and
``pepperpy-cloud/deployment: <name>`` (on pod and claim templates too, so Pods and the
StatefulSets' volume claims carry them), which is how ``status`` and ``destroy`` find
everything by label selector. Names come from the renderer and are deterministic, so a
second apply of the same stack changes nothing.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.kubernetes.kustomize import Manifest, add_labels, build
from pepperpy.cloud.render.base import dns_name
from pepperpy.cloud.spec.stack import Stack

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "pepperpy-cloud"
DEPLOYMENT_LABEL = "pepperpy-cloud/deployment"
OVERLAYS = ("dev", "prod")
# Dependencies first: a namespace before what lives in it, config before the pods that read it,
# workloads before what refers to them (HPA targets, PDB selectors, policies, ingress backends).
APPLY_ORDER = ("Namespace", "ServiceAccount", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service",
               "Deployment", "StatefulSet", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
               "Ingress")
WORKLOADS = ("Deployment", "StatefulSet")


def ours(name: str) -> dict[str, str]:
    """The labels that mark an object as this deployment's: what every selector below uses."""
    return {MANAGED_BY_LABEL: MANAGED_BY, DEPLOYMENT_LABEL: name}


def overlay_namespace(stack: Stack, overlay: str) -> str:
    """The namespace the renderer's overlay puts the stack in (``<stack>`` for prod, ``<stack>-dev``)."""
    return stack.name if overlay == "prod" else f"{stack.name}-{overlay}"


def build_manifests(stack: Stack, *, overlay: str = "prod", namespace: str | None = None,
                    components: tuple[str, ...] = ()) -> list[Manifest]:
    """The overlay's objects, labelled as this deployment's and sorted in apply order.

    ``namespace`` moves everything to another namespace (the overlay's Namespace object is
    then dropped: a namespace the user names is theirs, created only if missing, by the caller).
    ``components`` adds kustomize components, e.g. ``secrets-as-env``.
    """
    from pepperpy.cloud.render.kubernetes import render

    if overlay not in OVERLAYS:
        raise InputError("overlay", f"unknown overlay {overlay!r}; choose one of {', '.join(OVERLAYS)}")
    files = dict(render(stack))
    if components:
        files = _with_components(files, overlay, components)
    docs = build(files, f"overlays/{overlay}")
    if namespace:
        docs = [d for d in docs if d.get("kind") != "Namespace"]
        for d in docs:
            d["metadata"]["namespace"] = namespace
    for d in docs:
        add_labels(d, ours(stack.name))
    return sorted(docs, key=_order)


def _with_components(files: dict[str, str], overlay: str, components: tuple[str, ...]) -> dict[str, str]:
    import yaml

    key = f"overlays/{overlay}/kustomization.yaml"
    doc = yaml.safe_load(files[key])
    for component in components:
        path = f"components/{dns_name(component)}/kustomization.yaml"
        if path not in files:
            known = sorted(p.split("/")[1] for p in files if p.startswith("components/")) or ["none"]
            raise InputError("components", f"the stack renders no component {component!r} (rendered: "
                                           f"{', '.join(known)})")
        doc.setdefault("components", []).append(f"../../components/{dns_name(component)}")
    return {**files, key: yaml.safe_dump(doc, sort_keys=False)}


def _order(d: Manifest) -> tuple[int, str, str]:
    kind = str(d.get("kind"))
    rank = APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)
    return rank, kind, str(d["metadata"]["name"])


def secret_refs(docs: list[Manifest]) -> dict[str, set[str]]:
    """namespace -> names of the Secrets the pods mount or read, which the operator creates."""
    found: dict[str, set[str]] = {}
    for d in docs:
        if d.get("kind") not in WORKLOADS:
            continue
        pod = d["spec"]["template"]["spec"]
        names = {v["secret"]["secretName"] for v in pod.get("volumes") or [] if "secret" in v}
        for container in pod.get("containers") or []:
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    names.add(ref["name"])
        found.setdefault(d["metadata"]["namespace"], set()).update(names)
    return found


def ref(d: Manifest) -> dict[str, Any]:
    """How the state store records an applied object."""
    meta = d["metadata"]
    return {"apiVersion": d["apiVersion"], "kind": d["kind"], "name": meta["name"],
            **({"namespace": meta["namespace"]} if meta.get("namespace") else {})}
