"""A stateful fake of the Google REST APIs the GCP provider calls, on 127.0.0.1.

Resources are stored by path as Google would return them; creates answer with an
operation that is pending at first and done on the first poll (Cloud SQL's
``sql#operation`` ``status: DONE``, ``google.longrunning`` ``done: true`` with the
resource as ``response``). It honours DELETE (a Cloud SQL instance with deletion
protection is refused, as Google does; deleting it removes its databases and
users), Secret Manager versions and ``:access``, labels filters on the secrets
list, and Artifact Registry tags (404 until ``push``). Also: IAM service accounts; IAM
policies (``:getIamPolicy`` / ``:setIamPolicy``, GCS's ``/iam``) with etags (a stale etag is a
409 ``ABORTED``, as Google answers; ``race(path)`` changes a policy behind the next reader's back);
GCS buckets and objects (a bucket with objects cannot be deleted); Memorystore instances and AUTH
strings; Cloud SQL's instance list; Cloud Monitoring alert policies, notification channels and
``timeSeries`` (``series`` holds what the list answers). ``fail(method, path, ...)``
makes the next matching call fail once. Every request is logged as
``(method, path)`` plus its query and JSON body.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any


def _error(status: int, code: str, reason: str | None = None) -> Answer:
    error: dict[str, Any] = {"code": status, "status": code, "message": f"fake: {code}"}
    if reason:
        error["errors"] = [{"reason": reason}]
    return status, {"error": error}


NOT_FOUND = _error(404, "NOT_FOUND")


@dataclass
class FakeGcp:
    """The fake's state and logic; :class:`FakeGcpServer` serves it over HTTP."""

    store: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[str]] = field(default_factory=dict)  # secret path -> base64 payloads
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)
    pushed: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    failures: dict[tuple[str, str], Answer] = field(default_factory=dict)
    counter: int = 0
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # resource path -> IAM policy
    races: set[str] = field(default_factory=set)
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # bucket path -> objects
    series: list[dict[str, Any]] = field(default_factory=list)  # what timeSeries.list answers
    project_policy: dict[str, Any] = field(default_factory=lambda: {
        "version": 1, "bindings": [{"role": "roles/owner", "members": ["user:owner@example.com"]}]})

    # -- helpers

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _google_op(self, version: str, parent: str, response: dict[str, Any] | None) -> Answer:
        name = f"{parent}/operations/op-{self._next()}"
        self.ops[f"/{version}/{name}"] = {"name": name, "done": True, "response": dict(response or {})}
        return 200, {"name": name, "done": False}

    def _sql_op(self, project: str, target: str) -> Answer:
        name = f"op-{self._next()}"
        self.ops[f"/v1/projects/{project}/operations/{name}"] = {"kind": "sql#operation", "name": name,
                                                                 "status": "DONE", "targetId": target}
        return 200, {"kind": "sql#operation", "name": name, "status": "PENDING", "targetId": target}

    def resources(self) -> list[str]:
        """Every stored path (what exists in the fake cloud)."""
        return sorted(self.store)

    def push(self, tag_path: str) -> None:
        self.pushed.add(tag_path)

    def fail(self, method: str, path: str, status: int = 400, code: str = "INVALID_ARGUMENT") -> None:
        self.failures[(method, path)] = _error(status, code)

    def log(self, *, queries: bool = False) -> list[tuple[str, ...]]:
        if queries:
            return [(c.method, c.path, "&".join(f"{k}={v}" for k, v in sorted(c.query.items()))) for c in self.calls]
        return [(c.method, c.path) for c in self.calls]

    # -- dispatch

    def race(self, path: str) -> None:
        """Someone else changes the policy of ``path`` right after our next read of it."""
        self.races.add(path)

    def members(self, role: str) -> dict[str, list[str]]:
        """{resource path: members} of ``role`` in every policy (the project's as ``project``)."""
        out = {}
        for path, policy in [*self.policies.items(), ("project", self.project_policy)]:
            found = [m for b in policy.get("bindings") or [] if b["role"] == role for m in b["members"]]
            if found:
                out[path] = found
        return out

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        self.calls.append(Call(method, path, query, body))
        failure = self.failures.pop((method, path), None)
        if failure is not None:
            return failure
        if method == "GET" and path in self.ops:
            return 200, self.ops[path]
        answer = self._route(method, path, query, body)
        if method == "DELETE":  # a resource's policy goes with it
            self.policies = {k: v for k, v in self.policies.items() if k in self.store}
        return answer

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        if path.endswith((":getIamPolicy", ":setIamPolicy")) or (path.startswith("/storage/") and
                                                                  path.endswith("/iam")):
            return self._iam(method, path, body)
        if path.startswith("/storage/v1/b"):
            return self._storage(method, path, query, body)
        if path.startswith("/v3/"):
            return self._monitoring(method, path, query, body)
        if "/serviceAccounts" in path:
            return self._accounts(method, path, body)
        if "/locations/" in path and "/instances" in path:
            return self._redis(method, path, query, body)
        if path.startswith("/v2/"):
            return self._run(method, path, query, body)
        if "/repositories" in path:
            return self._registry(method, path, query, body)
        if "/secrets" in path:
            return self._secrets(method, path, query, body)
        if "/instances" in path:
            return self._sql(method, path, query, body)
        return NOT_FOUND

    def _get(self, path: str) -> Answer:
        return (200, self.store[path]) if path in self.store else NOT_FOUND

    def _list(self, path: str, key: str) -> Answer:
        prefix = path + "/"
        items = [v for k, v in sorted(self.store.items()) if k.startswith(prefix) and "/" not in k[len(prefix):]]
        return 200, {key: items} if items else {}

    # -- Cloud Run v2

    def _run(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        parent = path[len("/v2/"):].rsplit("/services", 1)[0]
        if method == "GET":
            return self._list(path, "services") if path.endswith("/services") else self._get(path)
        if method == "POST" and path.endswith("/services"):
            sid = query["serviceId"]
            key = f"{path}/{sid}"
            if key in self.store:
                return _error(409, "ALREADY_EXISTS")
            self.store[key] = {**body, "name": f"{parent}/services/{sid}", "uri": f"https://{sid}-fake-uc.a.run.app",
                               "generation": "1", "latestReadyRevision": f"{sid}-00001-abc"}
            return self._google_op("v2", parent, self.store[key])
        if path not in self.store:
            return NOT_FOUND
        if method == "PATCH":
            old = self.store[path]
            generation = int(old["generation"]) + 1
            self.store[path] = {**body, "name": old["name"], "uri": old["uri"], "generation": str(generation),
                                "latestReadyRevision": f"{old['name'].rsplit('/', 1)[-1]}-{generation:05d}-abc"}
            return self._google_op("v2", parent, self.store[path])
        if method == "DELETE":
            gone = self.store.pop(path)
            return self._google_op("v2", parent, gone)
        return _error(405, "UNIMPLEMENTED")

    # -- Artifact Registry

    def _registry(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        parent = path[len("/v1/"):].split("/repositories", 1)[0]
        if "/packages/" in path:
            return (200, {"name": path[len("/v1/"):]}) if method == "GET" and path in self.pushed else NOT_FOUND
        if method == "GET":
            return self._get(path)
        if method == "POST" and path.endswith("/repositories"):
            rid = query["repositoryId"]
            key = f"{path}/{rid}"
            if key in self.store:
                return _error(409, "ALREADY_EXISTS")
            self.store[key] = {**body, "name": f"{parent}/repositories/{rid}"}
            return self._google_op("v1", parent, self.store[key])
        if method == "DELETE" and path in self.store:
            self.pushed = {p for p in self.pushed if not p.startswith(path + "/")}
            return self._google_op("v1", parent, self.store.pop(path))
        return NOT_FOUND

    # -- Secret Manager

    def _secrets(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        if path.endswith("/secrets"):
            if method == "POST":
                sid = query["secretId"]
                key = f"{path}/{sid}"
                if key in self.store:
                    return _error(409, "ALREADY_EXISTS")
                self.store[key] = {**body, "name": key[len("/v1/"):]}
                return 200, self.store[key]
            status, listed = self._list(path, "secrets")
            wanted = query.get("filter", "")
            if wanted.startswith("labels.") and listed:
                label, _, value = wanted[len("labels."):].partition("=")
                listed = {"secrets": [s for s in listed["secrets"] if (s.get("labels") or {}).get(label) == value]}
            return status, listed
        if path.endswith(":addVersion"):
            secret = path[: -len(":addVersion")]
            if secret not in self.store:
                return NOT_FOUND
            self.versions.setdefault(secret, []).append(body["payload"]["data"])
            return 200, {"name": f"{secret[len('/v1/'):]}/versions/{len(self.versions[secret])}", "state": "ENABLED"}
        if "/versions/latest" in path:
            secret = path.split("/versions/", 1)[0]
            if not self.versions.get(secret):
                return NOT_FOUND
            name = f"{secret[len('/v1/'):]}/versions/{len(self.versions[secret])}"
            if path.endswith(":access"):
                return 200, {"name": name, "payload": {"data": self.versions[secret][-1]}}
            return 200, {"name": name, "state": "ENABLED"}
        if method == "GET":
            return self._get(path)
        if path not in self.store:
            return NOT_FOUND
        if method == "PATCH":
            self.store[path] = {**self.store[path], **(body or {})}
            return 200, self.store[path]
        if method == "DELETE":
            self.store.pop(path)
            self.versions.pop(path, None)
            return 200, {}
        return _error(405, "UNIMPLEMENTED")

    def secret_value(self, secret_path: str) -> str:
        return base64.b64decode(self.versions[secret_path][-1]).decode()

    # -- IAM, GCS, Memorystore, Cloud Monitoring

    def _iam(self, method: str, path: str, body: Any) -> Answer:
        storage = path.endswith("/iam") and path.startswith("/storage/")
        resource = path[: -len("/iam")] if storage else path.rsplit(":", 1)[0]
        project = resource.count("/") == 3 and resource.startswith("/v1/projects/")
        if not project and resource not in self.store:
            return NOT_FOUND
        current = self.project_policy if project else self.policies.setdefault(resource, {"version": 1})
        current.setdefault("etag", f"etag-{self._next()}")
        reading = method == "GET" or path.endswith(":getIamPolicy")
        if reading:
            answer = json.loads(json.dumps(current))
            if resource in self.races:  # another writer commits right after this read
                self.races.discard(resource)
                current.setdefault("bindings", []).append({"role": "roles/viewer", "members": ["user:other@example.com"]})
                current["etag"] = f"etag-{self._next()}"
            return 200, answer
        policy = body if storage else body["policy"]
        if policy.get("etag") != current.get("etag"):
            return _error(409, "ABORTED")
        stored = {**policy, "etag": f"etag-{self._next()}"}
        if project:
            self.project_policy = stored
        else:
            self.policies[resource] = stored
        return 200, stored

    def _accounts(self, method: str, path: str, body: Any) -> Answer:
        if method == "POST" and path.endswith("/serviceAccounts"):
            project = path.split("/")[3]
            email = f"{body['accountId']}@{project}.iam.gserviceaccount.com"
            key = f"{path}/{email}"
            if key in self.store:
                return _error(409, "ALREADY_EXISTS")
            self.store[key] = {**body["serviceAccount"], "name": key[len("/v1/"):], "email": email, "projectId": project,
                               "uniqueId": str(100000 + self._next())}
            return 200, self.store[key]
        if method == "GET":
            return self._get(path)
        if method == "DELETE" and self.store.pop(path, None) is not None:
            return 200, {}
        return NOT_FOUND

    def _storage(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        parts = path[len("/storage/v1/b"):].strip("/").split("/", 2)
        if not parts[0]:
            if method == "POST":
                key = f"/storage/v1/b/{body['name']}"
                if key in self.store:
                    return _error(409, "ALREADY_EXISTS", "conflict")
                self.store[key] = {**body, "kind": "storage#bucket", "id": body["name"], "projectNumber": "123"}
                return 200, self.store[key]
            prefix = query.get("prefix", "")
            items = [v for k, v in sorted(self.store.items()) if k.startswith("/storage/v1/b/")
                     and v["name"].startswith(prefix)]
            return 200, {"kind": "storage#buckets", **({"items": items} if items else {})}
        bucket = f"/storage/v1/b/{parts[0]}"
        if bucket not in self.store:
            return NOT_FOUND
        if len(parts) > 1:  # objects
            objects = self.objects.setdefault(bucket, [])
            if len(parts) == 2 and method == "GET":
                return 200, {"kind": "storage#objects", **({"items": objects} if objects else {})}
            from urllib.parse import unquote

            name = unquote(parts[2]) if len(parts) == 3 else ""
            kept = [o for o in objects if not (o["name"] == name and query.get("generation") in (None, o["generation"]))]
            if method == "DELETE" and len(kept) < len(objects):
                self.objects[bucket] = kept
                return 204, None
            return NOT_FOUND
        if method == "GET":
            return self._get(bucket)
        if method == "PATCH":
            self.store[bucket] = {**self.store[bucket], **(body or {})}
            return 200, self.store[bucket]
        if method == "DELETE":
            if self.objects.get(bucket):
                return _error(409, "FAILED_PRECONDITION", "conflict")
            self.store.pop(bucket)
            self.objects.pop(bucket, None)
            return 204, None
        return _error(405, "UNIMPLEMENTED")

    def _redis(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        parent = path[len("/v1/"):].split("/instances", 1)[0]
        if path.endswith("/instances"):
            if method == "GET":
                return self._list(path, "instances")
            iid = query["instanceId"]
            key = f"{path}/{iid}"
            if key in self.store:
                return _error(409, "ALREADY_EXISTS")
            self.store[key] = {**body, "name": key[len("/v1/"):], "host": "10.0.0.3", "port": 6378, "state": "READY",
                               "authString": f"auth-{iid}-{self._next()}-zz"}
            return self._google_op("v1", parent, {k: v for k, v in self.store[key].items() if k != "authString"})
        if path.endswith("/authString"):
            instance = path[: -len("/authString")]
            return (200, {"authString": self.store[instance]["authString"]}) if instance in self.store else NOT_FOUND
        if path not in self.store:
            return NOT_FOUND
        public = {k: v for k, v in self.store[path].items() if k != "authString"}
        if method == "GET":
            return 200, public
        if method == "PATCH":
            self.store[path] = {**self.store[path], **(body or {})}
            return self._google_op("v1", parent, public)
        if method == "DELETE":
            self.store.pop(path)
            return self._google_op("v1", parent, public)
        return _error(405, "UNIMPLEMENTED")

    def _monitoring(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        project = path.split("/")[3]
        for collection in ("alertPolicies", "notificationChannels"):
            base = f"/v3/projects/{project}/{collection}"
            if path == base:
                if method == "POST":
                    key = f"{base}/{self._next()}"
                    self.store[key] = {**body, "name": key[len("/v3/"):]}
                    if collection == "notificationChannels":
                        self.store[key]["verificationStatus"] = "UNVERIFIED"
                    return 200, self.store[key]
                status, listed = self._list(path, collection)
                wanted = query.get("filter", "")
                if wanted.startswith("display_name=") and listed:
                    name = wanted.split("=", 1)[1].strip('"')
                    listed = {collection: [p for p in listed[collection] if p.get("displayName") == name]}
                    listed = listed if listed[collection] else {}
                return status, listed
            if path.startswith(base + "/"):
                if path not in self.store:
                    return NOT_FOUND
                if method == "GET":
                    return 200, self.store[path]
                if method == "PATCH":
                    self.store[path] = {**body, "name": self.store[path]["name"]}
                    return 200, self.store[path]
                if method == "DELETE":
                    self.store.pop(path)
                    return 200, {}
        if path == f"/v3/projects/{project}/timeSeries" and method == "GET":
            return 200, {"timeSeries": self.series} if self.series else {}
        return NOT_FOUND

    # -- Cloud SQL Admin

    def _sql(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        project = path.split("/")[3]
        parts = path.split("/instances", 1)[1].strip("/").split("/")
        instance = f"/v1/projects/{project}/instances/{parts[0]}" if parts[0] else None
        if instance is None:
            if method == "GET":
                status, listed = self._list(path, "items")
                wanted = query.get("filter", "")
                if wanted.startswith("settings.userLabels.") and listed:
                    label, _, value = wanted[len("settings.userLabels."):].partition(":")
                    items = [i for i in listed["items"] if i.get("settings", {}).get("userLabels", {}).get(label) == value]
                    listed = {"items": items} if items else {}
                return status, listed
            if method != "POST":
                return NOT_FOUND
            key = f"{path}/{body['name']}"
            if key in self.store:
                return _error(409, "ALREADY_EXISTS", "instanceAlreadyExists")
            stored = {k: v for k, v in body.items() if k != "rootPassword"}
            self.store[key] = {**stored, "kind": "sql#instance", "state": "RUNNABLE", "project": project,
                               "connectionName": f"{project}:{body['region']}:{body['name']}",
                               "ipAddresses": [{"type": "PRIMARY", "ipAddress": "203.0.113.7"}]}
            return self._sql_op(project, body["name"])
        if instance not in self.store:
            return NOT_FOUND
        if len(parts) > 1:
            return self._sql_child(method, path, instance, parts, query, body)
        if method == "GET":
            return self._get(path)
        if method == "PATCH":
            current = self.store[path]
            current["settings"] = {**current.get("settings", {}), **(body.get("settings") or {})}
            return self._sql_op(project, parts[0])
        if method == "DELETE":
            if self.store[path].get("settings", {}).get("deletionProtectionEnabled"):
                return _error(400, "FAILED_PRECONDITION", "deletionProtectionEnabled")
            for key in [k for k in self.store if k == path or k.startswith(path + "/")]:
                self.store.pop(key)
            return self._sql_op(project, parts[0])
        return _error(405, "UNIMPLEMENTED")

    def _sql_child(self, method: str, path: str, instance: str, parts: list[str], query: dict[str, str],
                   body: Any) -> Answer:
        project = path.split("/")[3]
        collection = f"{instance}/{parts[1]}"
        if method == "POST" and len(parts) == 2:
            key = f"{collection}/{body['name']}"
            if key in self.store:
                return _error(409, "ALREADY_EXISTS")
            self.store[key] = {k: v for k, v in body.items() if k != "password"} | {"instance": parts[0]}
            return self._sql_op(project, parts[0])
        if method == "DELETE":
            key = f"{collection}/{query['name']}" if len(parts) == 2 else path
            if self.store.pop(key, None) is None:
                return NOT_FOUND
            return self._sql_op(project, parts[0])
        if method == "GET":
            return self._get(path)
        return _error(405, "UNIMPLEMENTED")


class FakeGcpServer:
    """:class:`FakeGcp` on ``http://127.0.0.1:<free port>`` (``.url``); ``.api`` is the state to inspect."""

    def __init__(self) -> None:
        self.api = FakeGcp()
        api = self.api
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall each

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with lock:
                    status, payload = api.handle(self.command, parts.path, query, body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
