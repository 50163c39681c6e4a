"""A thin JSON client for the Kubernetes API over the official ``kubernetes`` package.

The official package does the hard parts: reading kubeconfig files and contexts (exec
plugins, client certificates, token refresh), the in-cluster service account, TLS and
proxies (its urllib3 pool). Requests are built here, from an explicit registry of the
kinds we render (like lightkube), so every request is exactly what we mean and easy to
test: method, path, query, content type and body. Objects are plain dicts.

Throttling (429) and server errors (500/502/503/504) are retried with exponential
backoff, honouring ``Retry-After``. Whatever still fails becomes a
:class:`KubernetesError` whose text is one line:
``Kubernetes <operation>: <what> — <fix>``.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pepperpy.cloud.errors import MissingDependencyError, PepperpyCloudError

FIELD_MANAGER = "pepperpy-cloud"
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
REQUEST_TIMEOUT_S = (10.0, 60.0)  # (connect, read)
USER_AGENT = "pepperpy-cloud"


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API: ``/api/v1`` for the core group, ``/apis/<group>/<version>`` otherwise."""

    kind: str
    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        parts = [root]
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} is namespaced: a namespace is needed")
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


KINDS: dict[str, Kind] = {k.kind: k for k in (
    Kind("Namespace", "v1", "namespaces", namespaced=False),
    Kind("ServiceAccount", "v1", "serviceaccounts"),
    Kind("ConfigMap", "v1", "configmaps"),
    Kind("Secret", "v1", "secrets"),
    Kind("Service", "v1", "services"),
    Kind("PersistentVolumeClaim", "v1", "persistentvolumeclaims"),
    Kind("Pod", "v1", "pods"),
    Kind("Event", "v1", "events"),
    Kind("Deployment", "apps/v1", "deployments"),
    Kind("StatefulSet", "apps/v1", "statefulsets"),
    Kind("ReplicaSet", "apps/v1", "replicasets"),
    Kind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
    Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
    Kind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
    Kind("Ingress", "networking.k8s.io/v1", "ingresses"),
)}


def kind_of(obj: Mapping[str, Any]) -> Kind:
    """The registry entry for a manifest; a kind we do not know is refused rather than guessed."""
    kind = str(obj.get("kind", ""))
    found = KINDS.get(kind)
    if found is None or found.api_version != obj.get("apiVersion"):
        raise KubernetesError("apply", f"unsupported kind {obj.get('apiVersion')}/{kind}",
                              "render the stack with this version of pepperpy-cloud")
    return found


# --------------------------------------------------------------------------- errors


class KubernetesError(PepperpyCloudError):
    """A Kubernetes call failed; ``str()`` is one line: ``Kubernetes <operation>: <what> — <fix>``.

    ``status`` is the HTTP status (0 when the API server was not reached), ``reason`` the
    Kubernetes Status reason (``Forbidden``, ``Invalid``, ``Conflict``…), ``causes`` the
    Status ``details.causes`` (field conflicts, invalid fields).
    """

    exit_code = 1
    http_status = 502

    def __init__(self, operation: str, what: str, fix: str, *, status: int = 0, reason: str = "",
                 causes: Sequence[Mapping[str, Any]] = ()) -> None:
        self.operation = operation
        self.what = what
        self.status = status
        self.reason = reason
        self.causes = [dict(c) for c in causes]
        text = f"Kubernetes {operation}: {what}"
        super().__init__(" ".join(f"{text} — {fix}".split()) if fix else " ".join(text.split()), hint=None)
        self.hint = fix


def _status_body(data: bytes | str | None) -> dict[str, Any]:
    """The ``Status`` object an API server sends with an error, or {} for anything else."""
    if not data:
        return {}
    try:
        body = json.loads(data)
    except (ValueError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


def translate(operation: str, status: int, data: bytes | str | None, *, context: str, namespace: str | None,
              target: str) -> KubernetesError:
    """One line for an HTTP error from the API server: what failed and what to do about it."""
    body = _status_body(data)
    message = str(body.get("message") or (data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
                  or "").strip()
    reason = str(body.get("reason") or "")
    causes = (body.get("details") or {}).get("causes") or []
    where = f" in namespace {namespace}" if namespace else ""
    if status == 401:
        what, fix = (f"the API server of context {context} rejected the credentials (401 Unauthorized)",
                     "refresh them (e.g. your cloud's get-credentials command, or a new token) or pick another "
                     "context with context=")
    elif status == 403:
        what, fix = (f"forbidden to {target}{where}: {message or 'no reason given'}",
                     "ask a cluster admin for an RBAC Role granting it, or use a context that has it")
    elif status == 404:
        what, fix = (f"{target}{where} was not found: {message or 'not found'}",
                     "check the name and namespace (deploy it first, or pass namespace=)")
    elif status == 409:
        conflicts = [c for c in causes if c.get("type") == "FieldManagerConflict"]
        if conflicts:
            fields = ", ".join(f"{c.get('field')} ({c.get('message')})" for c in conflicts)
            what, fix = (f"{target}{where} has fields managed by someone else: {fields}",
                         "re-run with force_conflicts=True to take them over, or remove them from the other "
                         "tool's configuration")
        else:
            what, fix = f"{target}{where} conflicts: {message}", "retry; if it persists, inspect the object"
    elif status == 422:
        fields = "; ".join(f"{c.get('field')}: {c.get('message')}" for c in causes if c.get("field"))
        what, fix = (f"the cluster rejected {target}{where}: {fields or message}",
                     "names must be lowercase RFC 1123 (a-z, 0-9, '-', at most 63 characters): fix the stack "
                     "(name, services, namespace) and deploy again")
    elif status == 429:
        what, fix = f"throttled by the API server while trying to {target}: {message}", "wait and retry"
    elif status >= 500:
        what, fix = (f"the API server failed to {target}{where} ({status}): {message}",
                     "check the cluster's health (kubectl get --raw /readyz) and retry")
    else:
        what, fix = f"{target}{where} failed ({status} {reason}): {message}", "check the request and retry"
    return KubernetesError(operation, what, fix, status=status, reason=reason, causes=causes)


# --------------------------------------------------------------------------- configuration


def _sdk() -> tuple[Any, Any]:
    """The official client's ``client`` and ``config`` modules, imported only when first needed."""
    try:
        from kubernetes import client, config  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise MissingDependencyError("kubernetes", "k8s") from exc
    return client, config


def kubeconfig_path(explicit: str | os.PathLike[str] | None) -> str | None:
    """The kubeconfig to read: the one given, else ``$KUBECONFIG`` (may list several), else ``~/.kube/config``."""
    if explicit:
        return str(explicit)
    env = os.environ.get("KUBECONFIG")
    if env:
        existing = [p for p in env.split(os.pathsep) if p and Path(p).expanduser().exists()]
        return os.pathsep.join(existing) if existing else None
    default = Path("~/.kube/config").expanduser()
    return str(default) if default.exists() else None


NO_CONFIG_FIX = ("set KUBECONFIG, pass kubeconfig='path' (and context='name'), or pass endpoint_url= with "
                 "credentials={'token': ...}")


def load_configuration(*, kubeconfig: str | None, context: str | None, endpoint_url: str | None,
                       token: str | None) -> tuple[Any, str]:
    """(a ``kubernetes.client.Configuration``, a name for it in messages).

    kubeconfig (given, ``$KUBECONFIG`` or ``~/.kube/config``) with its current or named
    context, else the in-cluster service account, else ``endpoint_url`` alone (a
    ``kubectl proxy``, a test server). ``endpoint_url`` and ``token`` override the host
    and bearer token whichever way the rest was loaded.
    """
    client, config = _sdk()
    from kubernetes.config.config_exception import ConfigException  # type: ignore[import-not-found,unused-ignore]

    cfg = client.Configuration()
    path = kubeconfig_path(kubeconfig)
    if kubeconfig and not all(Path(p).expanduser().exists() for p in str(kubeconfig).split(os.pathsep)):
        raise KubernetesError("connect", f"the kubeconfig {kubeconfig} does not exist", NO_CONFIG_FIX)
    name = endpoint_url or "in-cluster"
    if path:
        try:
            config.load_kube_config(config_file=path, context=context, client_configuration=cfg,
                                    persist_config=False)
        except ConfigException as exc:
            raise _config_error(path, context, exc) from None
        name = context or _current_context(config, path) or "default"
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise KubernetesError("connect", f"the in-cluster service account could not be read ({exc})",
                                  NO_CONFIG_FIX) from None
    elif not endpoint_url:
        where = "KUBECONFIG" if os.environ.get("KUBECONFIG") else "~/.kube/config"
        raise KubernetesError("connect", f"no kubeconfig found ({where}) and not running inside a cluster",
                              NO_CONFIG_FIX)
    if endpoint_url:
        cfg.host = endpoint_url.rstrip("/")
    if token:
        cfg.api_key = {"BearerToken": f"Bearer {token}"}
        cfg.refresh_api_key_hook = None
    return cfg, name


def _current_context(config: Any, path: str) -> str | None:
    try:
        _, active = config.list_kube_config_contexts(config_file=path)
    except Exception:  # the file was just loaded; a failure here only costs the name in messages
        return None
    return str(active.get("name")) if active else None


def _config_error(path: str, context: str | None, exc: Exception) -> KubernetesError:
    text = str(exc)
    if context and ("context" in text.lower() or "Expected key" in text):
        try:
            _, config = _sdk()
            contexts, _ = config.list_kube_config_contexts(config_file=path)
            names = ", ".join(sorted(str(c.get("name")) for c in contexts)) or "none"
        except Exception:
            names = "unknown"
        return KubernetesError("connect", f"context {context!r} is not in {path} (contexts: {names})",
                               "pass one of those as context=, or add it with kubectl config set-context")
    return KubernetesError("connect", f"the kubeconfig {path} cannot be used: {text}",
                           "fix the file or point KUBECONFIG at a working one (kubectl config view checks it)")


# --------------------------------------------------------------------------- the client


Sleep = Callable[[float], None]


class KubeClient:
    """JSON requests to one API server; objects in and out are plain dicts.

    ``rest`` is anything with the official ``RESTClientObject.request`` signature, so tests
    can capture requests at the REST layer as well as serve them over HTTP.
    """

    def __init__(self, configuration: Any, *, context: str = "default", rest: Any = None,
                 sleep: Sleep = time.sleep, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.configuration = configuration
        self.context = context
        self.sleep = sleep
        self.max_attempts = max(1, max_attempts)
        if rest is None:
            client, _ = _sdk()
            rest = client.rest.RESTClientObject(configuration)
        self.rest = rest

    @property
    def host(self) -> str:
        return str(self.configuration.host)

    # -- plumbing --

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        for setting in self.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    def request(self, method: str, path: str, *, operation: str, target: str, namespace: str | None = None,
                query: Sequence[tuple[str, str]] = (), body: Any = None, content_type: str | None = None,
                ok_missing: bool = False) -> dict[str, Any] | None:
        """Send one request, retrying throttling and server errors; the decoded JSON answer.

        ``ok_missing`` turns a 404 into ``None`` (reads that may find nothing, idempotent deletes).
        """
        url = self.host.rstrip("/") + path + (f"?{urlencode(list(query))}" if query else "")
        # JSON bodies go as objects (the REST layer encodes them); an apply body goes as JSON text,
        # which is valid YAML and passes through every client version untouched.
        payload = json.dumps(body, separators=(",", ":")) if body is not None and content_type == APPLY_PATCH \
            else body
        for attempt in range(1, self.max_attempts + 1):
            status, data, headers = self._send(method, url, payload, content_type, operation)
            if 200 <= status < 300:
                return _status_body(data) if data else {}
            if status == 404 and ok_missing:
                return None
            if status in RETRY_STATUSES and attempt < self.max_attempts:
                self.sleep(_backoff(attempt, headers))
                continue
            raise translate(operation, status, data, context=self.context, namespace=namespace, target=target)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, payload: Any, content_type: str | None,
              operation: str) -> tuple[int, bytes, Mapping[str, str]]:
        """(status, body, headers) from the official REST layer; transport failures become one line."""
        from kubernetes.client.exceptions import ApiException  # type: ignore[import-not-found,unused-ignore]

        try:
            headers = self._headers(content_type if payload is not None else None)
            response = self.rest.request(method, url, headers=headers, body=payload,
                                         _request_timeout=REQUEST_TIMEOUT_S)
        except ApiException as exc:  # older clients raise for every non-2xx; status 0 is a TLS failure
            if not exc.status:
                raise self._unreachable(operation, str(exc.reason)) from None
            body = exc.body.encode() if isinstance(exc.body, str) else bytes(exc.body or b"")
            return int(exc.status), body, dict(exc.headers or {})
        except Exception as exc:
            if _is_transport_error(exc):
                raise self._unreachable(operation, _short(exc)) from None
            raise
        data = response.data if getattr(response, "data", None) is not None else response.read()
        return int(response.status), data or b"", dict(response.headers or {})

    def _unreachable(self, operation: str, why: str) -> KubernetesError:
        return KubernetesError(operation, f"cannot reach the API server {self.host} of context {self.context} "
                                          f"({why})",
                               "check that the cluster is running and the context is right "
                               "(kubectl config current-context; kubectl cluster-info)")

    # -- verbs --

    def apply(self, obj: Mapping[str, Any], *, force: bool = False, field_manager: str = FIELD_MANAGER,
              operation: str = "apply") -> dict[str, Any]:
        """Server-side apply of one manifest (PATCH ``application/apply-patch+yaml``); the live object."""
        kind = kind_of(obj)
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") if kind.namespaced else None
        query = [("fieldManager", field_manager)] + ([("force", "true")] if force else [])
        answer = self.request("PATCH", kind.path(namespace, meta["name"]), operation=operation,
                              target=f"apply {kind.kind} {meta['name']}", namespace=namespace, query=query,
                              body=obj, content_type=APPLY_PATCH)
        assert answer is not None
        return answer

    def get(self, kind: str, name: str, namespace: str | None = None, *, operation: str = "get",
            subresource: str | None = None) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        k = KINDS[kind]
        return self.request("GET", k.path(namespace, name, subresource), operation=operation,
                            target=f"read {kind} {name}", namespace=namespace, ok_missing=True)

    def list(self, kind: str, namespace: str | None = None, *, labels: Mapping[str, str] | None = None,
             fields: Mapping[str, str] | None = None, operation: str = "list") -> list[dict[str, Any]]:
        """Every object of ``kind`` matching the label (and field) selectors, following ``continue`` pages."""
        k = KINDS[kind]
        query: list[tuple[str, str]] = []
        if labels:
            query.append(("labelSelector", label_selector(labels)))
        if fields:
            query.append(("fieldSelector", ",".join(f"{key}={value}" for key, value in fields.items())))
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.request("GET", k.path(namespace), operation=operation, target=f"list {k.plural}",
                                namespace=namespace, query=[*query, *([("continue", token)] if token else [])],
                                ok_missing=True)
            if page is None:
                return items
            items.extend(page.get("items") or [])
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    def patch(self, kind: str, name: str, namespace: str | None, body: Any, *, content_type: str,
              field_manager: str, operation: str, subresource: str | None = None) -> dict[str, Any]:
        k = KINDS[kind]
        answer = self.request("PATCH", k.path(namespace, name, subresource), operation=operation,
                              target=f"patch {kind} {name}" + (f"/{subresource}" if subresource else ""),
                              namespace=namespace, query=[("fieldManager", field_manager)], body=body,
                              content_type=content_type)
        assert answer is not None
        return answer

    def delete(self, kind: str, name: str, namespace: str | None = None, *, propagation: str = "Foreground",
               operation: str = "delete") -> bool:
        """Delete one object with ``propagationPolicy``; False when it was already gone."""
        k = KINDS[kind]
        answer = self.request("DELETE", k.path(namespace, name), operation=operation,
                              target=f"delete {kind} {name}", namespace=namespace,
                              query=[("propagationPolicy", propagation)],
                              body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation},
                              content_type="application/json", ok_missing=True)
        return answer is not None


def label_selector(labels: Mapping[str, str]) -> str:
    """``k=v,k2=v2`` — an equality-based selector, sorted so requests are deterministic."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _backoff(attempt: int, headers: Mapping[str, str]) -> float:
    """Retry-After when the server names one (capped), else exponential backoff with full jitter."""
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = lowered.get("retry-after")
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), BACKOFF_CAP_S)
        except ValueError:
            pass
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))


def _is_transport_error(exc: Exception) -> bool:
    import urllib3

    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


def _short(exc: Exception) -> str:
    """The root cause of a urllib3 failure, without the pool's retry wrapper text."""
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    if "Name or service not known" in text or "nodename nor servname" in text or "Temporary failure" in text:
        return "host name not found"
    return text.split(": ", 1)[-1][:160]
