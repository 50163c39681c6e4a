"""A fake Kubernetes API server on 127.0.0.1: just enough of the real one's HTTP behaviour.

It speaks the real wire protocol the official client uses (paths, query parameters,
content types, ``Status`` error bodies) and keeps objects in memory:

- server-side apply (``PATCH`` with ``application/apply-patch+yaml``) needs ``fieldManager``,
  creates (201) or updates (200), bumps ``metadata.generation`` when ``spec`` changes, and
  answers 409 with ``FieldManagerConflict`` causes when a field another manager set by a
  patch would change (unless ``force=true``);
- merge patches (the ``scale`` subresource, HPAs) and JSON patches record their field manager;
- GET of one object or a list with ``labelSelector``/``fieldSelector``; DELETE with
  ``propagationPolicy`` (Foreground removes what the object owns; a Namespace its contents);
- names are checked like the API server (RFC 1123, 422 ``Invalid``); a bearer token is
  required (401), ``forbid`` makes chosen requests 403 and ``fail_next`` injects 429/5xx.

A tiny Deployment controller makes a ReplicaSet per pod template with the revision
annotation, reusing the matching one on rollback like the real controller, and reports
status per ``rollout``: ``"ready"`` at once, ``"after:N"`` ready after N reads, ``"stuck"``.
Every request is recorded (method, path, query, content type, body) for exact assertions.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CLUSTER_SCOPED = {"namespaces"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    authorization: str | None
    body: Any


def _status(code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if causes:
        body["details"] = {"causes": causes}
    return body


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = _status(code, reason, message, causes)


def _matches(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _field_matches(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != value:
            return False
    return True


def _template_hash(template: dict[str, Any]) -> str:
    clean = copy.deepcopy(template)
    clean.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:10]


class FakeApiServer:
    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, namespace, name)
        self.owners: dict[tuple[str, str, str], dict[str, str]] = {}  # field -> manager (non-apply writers)
        self.requests: list[Request] = []
        self.forbid: set[tuple[str, str]] = set()  # (method, plural)
        self.fail_next: list[tuple[int, dict[str, str]]] = []
        self.rollout = "ready"
        self._reads: dict[tuple[str, str, str], int] = {}
        self.lock = threading.RLock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                server._handle(self)

            do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _serve

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- test helpers --

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Seed an object as if something else had created it."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("generation", 1)
        with self.lock:
            self.objects[(plural, meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    def of(self, method: str | None = None, plural: str | None = None) -> list[Request]:
        return [r for r in self.requests if (method is None or r.method == method)
                and (plural is None or f"/{plural}" in r.path)]

    # -- HTTP --

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        ctype = h.headers.get("Content-Type")
        body = json.loads(raw) if raw else None
        self.requests.append(Request(h.command, parts.path, query, ctype, h.headers.get("Authorization"), body))
        try:
            if h.headers.get("Authorization") != f"Bearer {self.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if self.fail_next:
                code, headers = self.fail_next.pop(0)
                self._send(h, code, _status(code, "TooManyRequests" if code == 429 else "InternalError",
                                             "please retry"), headers)
                return
            with self.lock:
                code, answer = self._route(h.command, parts.path, query, ctype, body)
        except ApiError as exc:
            code, answer = exc.code, exc.body
        self._send(h, code, answer)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)

    def _parse(self, path: str) -> tuple[str, str, str | None, str | None, str]:
        """(plural, namespace, name, subresource, apiVersion) of an API path."""
        m = re.fullmatch(r"/api/v1/(.*)", path)
        api_version = "v1"
        rest = m.group(1) if m else ""
        if not m:
            m = re.fullmatch(r"/apis/([^/]+)/([^/]+)/(.*)", path)
            if not m:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
            api_version, rest = f"{m.group(1)}/{m.group(2)}", m.group(3)
        bits = rest.split("/")
        if bits[0] == "namespaces" and len(bits) >= 3:
            namespace, bits = bits[1], bits[2:]
        elif bits[0] in CLUSTER_SCOPED:
            namespace = ""
        else:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        plural = bits[0]
        name = bits[1] if len(bits) > 1 else None
        sub = bits[2] if len(bits) > 2 else None
        return plural, namespace, name, sub, api_version

    def _route(self, method: str, path: str, query: dict[str, str], ctype: str | None,
               body: Any) -> tuple[int, Any]:
        plural, namespace, name, sub, api_version = self._parse(path)
        if (method, plural) in self.forbid:
            who = "system:serviceaccount:ci:deployer"
            raise ApiError(403, "Forbidden", f'{plural} is forbidden: User "{who}" cannot {method.lower()} '
                                             f'resource "{plural}" in API group "" in the namespace "{namespace}"')
        key = (plural, namespace, name or "")
        if method == "GET" and name is None:
            items = [copy.deepcopy(o) for (p, ns, _), o in sorted(self.objects.items())
                     if p == plural and (ns == namespace or (not namespace and plural not in CLUSTER_SCOPED))
                     and _matches(o, query.get("labelSelector")) and _field_matches(o, query.get("fieldSelector"))]
            return 200, {"kind": "List", "apiVersion": api_version, "metadata": {}, "items": items}
        if name is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} on a collection is not supported here")
        if method == "GET":
            obj = self._require(key)
            self._observe(key, obj)
            return 200, copy.deepcopy(obj if sub is None else self._scale(obj))
        if method == "DELETE":
            return 200, self._delete(key, query.get("propagationPolicy") or (body or {}).get("propagationPolicy"))
        if method == "PATCH" and ctype == "application/apply-patch+yaml":
            return self._apply(key, api_version, query, body)
        if method == "PATCH" and ctype == "application/merge-patch+json":
            return 200, self._merge(key, sub, query, body)
        if method == "PATCH" and ctype == "application/json-patch+json":
            return 200, self._json_patch(key, query, body)
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")

    def _require(self, key: tuple[str, str, str]) -> dict[str, Any]:
        obj = self.objects.get(key)
        if obj is None:
            plural, _, name = key
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
        return obj

    # -- writes --

    def _apply(self, key: tuple[str, str, str], api_version: str, query: dict[str, str],
               body: dict[str, Any]) -> tuple[int, Any]:
        plural, namespace, name = key
        if not query.get("fieldManager"):
            raise ApiError(400, "BadRequest", "PATCH /apply requires fieldManager")
        meta = body.get("metadata") or {}
        if meta.get("name") != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        if namespace and meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the namespace on the URL")
        if not NAME_RE.match(name) or len(name) > 63:
            raise ApiError(422, "Invalid", f'{body.get("kind")} "{name}" is invalid: metadata.name: Invalid value: '
                                           f'"{name}": a lowercase RFC 1123 label must consist of lower case '
                                           "alphanumeric characters or '-'",
                           [{"reason": "FieldValueInvalid", "message": f'Invalid value: "{name}"',
                             "field": "metadata.name"}])
        if namespace and ("namespaces", "", namespace) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
        live = self.objects.get(key)
        if live is not None:
            self._conflicts(key, live, body, force=query.get("force") == "true")
        obj = copy.deepcopy(body)
        if plural == "deployments" and "replicas" not in obj.get("spec", {}):  # defaulted, then kept (an HPA's)
            obj["spec"]["replicas"] = (live or {}).get("spec", {}).get("replicas", 1)
        obj["metadata"]["namespace"] = namespace or None
        if not namespace:
            obj["metadata"].pop("namespace")
        if live is None:
            obj["metadata"].update(uid=str(uuid.uuid4()), generation=1, resourceVersion="1")
        else:
            changed = live.get("spec") != obj.get("spec")
            obj["metadata"]["uid"] = live["metadata"]["uid"]
            obj["metadata"]["generation"] = live["metadata"]["generation"] + (1 if changed else 0)
            obj["metadata"]["annotations"] = {**(live["metadata"].get("annotations") or {}),
                                              **(obj["metadata"].get("annotations") or {})}
            if "status" in live:
                obj["status"] = live["status"]
        self.objects[key] = obj
        self._controller(key, obj)
        return (201 if live is None else 200), copy.deepcopy(obj)

    def _conflicts(self, key: tuple[str, str, str], live: dict[str, Any], body: dict[str, Any], force: bool) -> None:
        owners = self.owners.get(key, {})
        causes = []
        for path, manager in owners.items():
            node_live, node_new = live, body
            for part in path.split("."):
                node_live = (node_live or {}).get(part) if isinstance(node_live, dict) else None
                node_new = (node_new or {}).get(part) if isinstance(node_new, dict) else None
            if node_new is not None and node_new != node_live:
                causes.append({"type": "FieldManagerConflict", "message": f'conflict with "{manager}"',
                               "field": f".{path}"})
        if causes and not force:
            raise ApiError(409, "Conflict", f"Apply failed with {len(causes)} conflict(s)", causes)
        if force:
            self.owners.pop(key, None)

    def _merge(self, key: tuple[str, str, str], sub: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        obj = self._require(key)
        manager = query.get("fieldManager", "unknown")
        for field, value in (body.get("spec") or {}).items():
            obj["spec"][field] = value
            self.owners.setdefault(key, {})[f"spec.{field}"] = manager
        obj["metadata"]["generation"] += 1
        self._controller(key, obj)
        return copy.deepcopy(self._scale(obj) if sub == "scale" else obj)

    def _json_patch(self, key: tuple[str, str, str], query: dict[str, str], ops: list[dict[str, Any]]) -> Any:
        obj = self._require(key)
        for op in ops:
            parts = op["path"].strip("/").split("/")
            node = obj
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = copy.deepcopy(op["value"])
            self.owners.setdefault(key, {})[".".join(parts)] = query.get("fieldManager", "unknown")
        obj["metadata"]["generation"] += 1
        self._controller(key, obj)
        return copy.deepcopy(obj)

    def _delete(self, key: tuple[str, str, str], propagation: str | None) -> Any:
        obj = self._require(key)
        del self.objects[key]
        if propagation in ("Foreground", "Background"):
            uid = obj["metadata"]["uid"]
            for other_key, other in list(self.objects.items()):
                refs = other["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    self._delete(other_key, propagation)
        if key[0] == "namespaces":
            for other_key in [k for k in self.objects if k[1] == key[2]]:
                del self.objects[other_key]
        return _status(200, "", "deleted") | {"status": "Success"}

    @staticmethod
    def _scale(obj: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace")},
                "spec": {"replicas": obj["spec"].get("replicas")},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)}}

    # -- a tiny Deployment/StatefulSet controller --

    def _controller(self, key: tuple[str, str, str], obj: dict[str, Any]) -> None:
        plural, namespace, _ = key
        if plural == "deployments":
            self._replicasets(namespace, obj)
        if plural in ("deployments", "statefulsets"):
            self._reads[key] = 0
            self._set_status(key, obj)

    def _replicasets(self, namespace: str, d: dict[str, Any]) -> None:
        template = d["spec"]["template"]
        digest = _template_hash(template)
        mine = [o for (p, ns, _), o in self.objects.items() if p == "replicasets" and ns == namespace
                and any(r.get("uid") == d["metadata"]["uid"] for r in o["metadata"].get("ownerReferences") or [])]
        top = max((int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for rs in mine), default=0)
        current = next((rs for rs in mine if rs["metadata"]["labels"]["pod-template-hash"] == digest), None)
        if current is not None and int(current["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) == top:
            return
        if current is None:
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
            current = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                       "metadata": {"name": f"{d['metadata']['name']}-{digest}", "namespace": namespace,
                                    "uid": str(uuid.uuid4()),
                                    "labels": {**template["metadata"]["labels"], "pod-template-hash": digest},
                                    "annotations": {},
                                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                         "name": d["metadata"]["name"], "uid": d["metadata"]["uid"],
                                                         "controller": True}]},
                       "spec": {"template": rs_template}}
            self.objects[("replicasets", namespace, current["metadata"]["name"])] = current
        current["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(top + 1)
        d["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(top + 1)

    def _observe(self, key: tuple[str, str, str], obj: dict[str, Any]) -> None:
        if key[0] in ("deployments", "statefulsets"):
            self._reads[key] = self._reads.get(key, 0) + 1
            self._set_status(key, obj)

    def _set_status(self, key: tuple[str, str, str], obj: dict[str, Any]) -> None:
        want = obj["spec"].get("replicas", 1)
        mode = self.rollout
        ready = mode == "ready" or (mode.startswith("after:") and self._reads.get(key, 0) > int(mode[6:]))
        generation = obj["metadata"]["generation"]
        if key[0] == "statefulsets":
            obj["status"] = {"observedGeneration": generation, "replicas": want,
                             "readyReplicas": want if ready else 0, "currentRevision": "r1",
                             "updateRevision": "r1" if ready else "r2"}
            return
        obj["status"] = {"observedGeneration": generation, "replicas": want,
                         "updatedReplicas": want if ready else max(want - 1, 0),
                         "readyReplicas": want if ready else 0, "availableReplicas": want if ready else 0}
