"""Build a rendered overlay into manifests, in Python: the subset of kustomize our renderer emits.

``render/kubernetes.py`` writes a kustomize base and ``dev``/``prod`` overlays for people
who use ``kubectl apply -k``. The provider applies the very same overlay without needing
the kustomize binary: ``resources`` (files and folders), ``namespace``, ``labels`` (with
``includeSelectors``/``includeTemplates``), JSON 6902 ``patches`` with a target, and
``components``. Anything else in a kustomization is refused, so a hand-edited overlay
never deploys differently from what ``kubectl kustomize`` would build (a test compares
the two on every example stack when kubectl is installed).
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping
from typing import Any

import yaml

from pepperpy.cloud.errors import InputError

Files = Mapping[str, str]
Manifest = dict[str, Any]
SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "labels", "patches", "components"}
TEMPLATE_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job"}
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                 "CustomResourceDefinition", "PriorityClass", "IngressClass"}


def build(files: Files, directory: str) -> list[Manifest]:
    """The manifests ``kubectl kustomize <directory>`` would print for these rendered files."""
    return _build(files, posixpath.normpath(directory), stack=())


def _kustomization(files: Files, directory: str) -> dict[str, Any]:
    path = posixpath.join(directory, "kustomization.yaml")
    if path not in files:
        raise InputError(path, "no kustomization here", hint="render the stack's kubernetes target first")
    doc = yaml.safe_load(files[path]) or {}
    unknown = sorted(set(doc) - SUPPORTED)
    if unknown:
        raise InputError(path, f"unsupported kustomize fields {', '.join(unknown)}",
                         hint="apply it with kubectl apply -k instead")
    return dict(doc)


def _build(files: Files, directory: str, stack: tuple[str, ...]) -> list[Manifest]:
    if directory in stack:
        raise InputError(directory, "kustomization includes itself")
    doc = _kustomization(files, directory)
    docs: list[Manifest] = []
    for entry in doc.get("resources") or []:
        path = posixpath.normpath(posixpath.join(directory, entry))
        if path in files:
            docs.extend(d for d in yaml.safe_load_all(files[path]) if d)
        else:
            docs.extend(_build(files, path, (*stack, directory)))
    for entry in doc.get("components") or []:
        docs = _component(files, posixpath.normpath(posixpath.join(directory, entry)), docs)
    return _transform(doc, docs, directory)


def _component(files: Files, directory: str, docs: list[Manifest]) -> list[Manifest]:
    doc = _kustomization(files, directory)
    if doc.get("kind") != "Component":
        raise InputError(directory, "listed under components but is not a kustomize Component")
    return _transform(doc, docs, directory)


def _transform(doc: Mapping[str, Any], docs: list[Manifest], where: str) -> list[Manifest]:
    docs = [copy.deepcopy(d) for d in docs]
    for patch in doc.get("patches") or []:
        ops = yaml.safe_load(patch["patch"]) if isinstance(patch.get("patch"), str) else None
        if not isinstance(ops, list):
            raise InputError(where, "only JSON 6902 patches (a list of operations) are supported")
        matched = [d for d in docs if _matches(d, patch.get("target") or {})]
        for d in matched:
            for op in ops:
                json_patch(d, op)
    namespace = doc.get("namespace")
    if namespace:
        for d in docs:
            if d.get("kind") not in CLUSTER_KINDS:
                d.setdefault("metadata", {})["namespace"] = namespace
    for entry in doc.get("labels") or []:
        for d in docs:
            add_labels(d, entry.get("pairs") or {}, templates=bool(entry.get("includeTemplates")),
                       selectors=bool(entry.get("includeSelectors")))
    return docs


def _matches(d: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    group, _, version = str(d.get("apiVersion", "")).rpartition("/")
    checks = {"kind": d.get("kind"), "name": (d.get("metadata") or {}).get("name"), "group": group,
              "version": version, "namespace": (d.get("metadata") or {}).get("namespace")}
    return all(checks.get(key) == value for key, value in target.items() if key in checks)


def add_labels(d: Manifest, pairs: Mapping[str, str], *, templates: bool = True, selectors: bool = False) -> None:
    """Add ``pairs`` like a kustomize ``labels`` entry: metadata, and pod/claim templates when asked.

    Selectors are left alone unless asked: they are immutable on a live Deployment.
    """
    if not pairs:
        return
    d.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    spec = d.get("spec")
    if not isinstance(spec, dict) or d.get("kind") not in TEMPLATE_KINDS:
        return
    if templates:
        spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        for claim in spec.get("volumeClaimTemplates") or []:
            claim.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    if selectors:
        spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(pairs)


def json_patch(d: Any, op: Mapping[str, Any]) -> None:
    """Apply one RFC 6902 ``add``/``replace``/``remove`` operation in place."""
    kind, path = op.get("op"), str(op.get("path", ""))
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in path.lstrip("/").split("/")] if path else []
    if not tokens:
        raise InputError("patch", f"cannot {kind} the whole document")
    parent = d
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    if kind == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    elif kind in ("add", "replace"):
        value = copy.deepcopy(op.get("value"))
        if isinstance(parent, list):
            if last == "-":
                parent.append(value)
            elif kind == "add":
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            if kind == "replace" and last not in parent:
                raise InputError("patch", f"replace {path}: no such field")
            parent[last] = value
    else:
        raise InputError("patch", f"unsupported JSON patch operation {kind!r}")
