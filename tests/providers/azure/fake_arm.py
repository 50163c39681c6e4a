"""A small stateful Azure Resource Manager (and Key Vault data plane) on 127.0.0.1 for the provider tests.

PUT stores the body by path and answers it with ``id``, ``name`` and ``provisioningState: Succeeded`` (plus
what Azure computes: a server's FQDN, a container app's ingress FQDN and revision); GET answers what is stored
(never a password), 404 otherwise; PATCH merges (JSON merge patch); DELETE removes the path and everything under
it. ``<group>/resources`` lists a group's resources. PUTs of types in ``async_types`` answer 201 with an
``Azure-AsyncOperation`` URL that says InProgress once, then Succeeded; resource-group DELETEs answer 202 with a
``Location`` polled until 200. ``fail(method, path_suffix, status, code)`` makes matching calls fail.
A user-assigned identity gets a ``principalId`` / ``clientId`` (uuid5 of its path); ``GET /secrets`` lists the
vault's secrets (ids and tags, no values); ``GET …/providers/<Namespace>/<type>`` lists that type below the prefix.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SECRET_FIELDS = ("administratorLoginPassword",)
ASYNC_TYPES = ("Microsoft.DBforPostgreSQL/flexibleServers", "Microsoft.App/containerApps")


def _is_type_listing(path: str) -> bool:
    """``…/providers/<Namespace>/<type>``: a list of that type (under a subscription or a group)."""
    return "/providers/" in path and len(path.split("/providers/", 1)[1].split("/")) == 2


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif value is None:
            into.pop(key, None)
        else:
            into[key] = copy.deepcopy(value)
    return into


class FakeArm:
    def __init__(self, async_types: tuple[str, ...] = ASYNC_TYPES) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, str, Any]] = []  # what was sent, secrets included (the wire)
        self.async_types = async_types
        self.failures: list[tuple[str, str, int, str]] = []
        self.operations: dict[str, list[int]] = {}
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with fake.lock:
                    status, payload, headers = fake.answer(self.command, parts.path, body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, method: str, suffix: str, status: int = 409, code: str = "QuotaExceeded") -> None:
        self.failures.append((method, suffix, status, code))

    # -- the ARM behaviour

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        self.log.append((method, path))
        if path.startswith("/operations/"):
            return self._operation(path)
        self.bodies.append((method, path, body))
        for m, suffix, status, code in self.failures:
            if m == method and path.endswith(suffix):
                return status, {"error": {"code": code, "message": "injected"}}, {}
        if method == "GET" and path.endswith("/resources") and "/resourceGroups/" in path:
            group = path[: -len("/resources")]
            return 200, {"value": [self._view(p) for p in self.store if p.startswith(group + "/providers/")
                                   and p.count("/") == group.count("/") + 4]}, {}
        if method == "GET" and path == "/secrets":  # Key Vault's list: ids and tags, never values
            return 200, {"value": [{"id": f"https://vault{p}", "tags": self.store[p].get("tags"),
                                    "attributes": self.store[p].get("attributes")}
                                   for p in self.store if p.startswith("/secrets/")]}, {}
        if method == "GET" and path not in self.store and _is_type_listing(path):
            kind = path.split("/providers/", 1)[1]
            prefix = path.split("/providers/", 1)[0]
            return 200, {"value": [self._view(p) for p in self.store if p.startswith(prefix + "/")
                                   and p.rsplit("/", 1)[0].endswith("/providers/" + kind)]}, {}
        if method == "GET":
            return (200, self._view(path), {}) if path in self.store else self._not_found()
        if method == "PUT":
            return self._put(path, body)
        if method == "PATCH":
            if path not in self.store:
                return self._not_found()
            _merge(self.store[path], body or {})
            return 200, self._view(path), {}
        if method == "DELETE":
            return self._delete(path)
        return 405, None, {}

    @staticmethod
    def _not_found() -> tuple[int, Any, dict[str, str]]:
        return 404, {"error": {"code": "ResourceNotFound", "message": "not found"}}, {}

    def _put(self, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        existed = path in self.store
        stored = copy.deepcopy(body or {})
        props = stored.setdefault("properties", {}) if not path.startswith("/secrets/") else None
        if props is not None:
            for secret in SECRET_FIELDS:
                props.pop(secret, None)
            props["provisioningState"] = "Succeeded"
            self._computed(path, props)
        self.store[path] = stored
        if any(f"/providers/{t}/" in path for t in self.async_types) and path.count("/") == 8:
            op = f"/operations/{next(self._ids)}"
            self.operations[op] = [0]
            return 201, {**self._view(path), "properties": {"provisioningState": "Accepted"}}, {
                "Azure-AsyncOperation": f"https://management.azure.com{op}?api-version=x", "Retry-After": "0"}
        return (200 if existed else 201), self._view(path), {}

    @staticmethod
    def _computed(path: str, props: dict[str, Any]) -> None:
        name = path.rsplit("/", 1)[-1]
        if "/userAssignedIdentities/" in path:
            props["principalId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "principal:" + path))
            props["clientId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "client:" + path))
            props["tenantId"] = "11111111-1111-1111-1111-111111111111"
        if "/Microsoft.Cache/redis/" in path and path.count("/") == 8:
            props.setdefault("hostName", f"{name}.redis.cache.windows.net")
            props.setdefault("sslPort", 6380)
        if "/flexibleServers/" in path and path.count("/") == 8:
            props.setdefault("fullyQualifiedDomainName", f"{name}.postgres.database.azure.com")
            props.setdefault("state", "Ready")
        if "/containerApps/" in path:
            ingress = props.setdefault("configuration", {}).setdefault("ingress", {})
            ingress["fqdn"] = f"{name}.happy-sky-1234.eastus.azurecontainerapps.io"
            props["latestRevisionName"] = f"{name}--rev1"

    def _operation(self, path: str) -> tuple[int, Any, dict[str, str]]:
        polls = self.operations.setdefault(path, [0])
        polls[0] += 1
        return 200, {"status": "InProgress" if polls[0] == 1 else "Succeeded"}, {"Retry-After": "0"}

    def _delete(self, path: str) -> tuple[int, Any, dict[str, str]]:
        if path not in self.store:
            return 204, None, {}
        doomed = [k for k in self.store if k == path or k.startswith(path + "/")]
        vault_stacks = {(self.store[k].get("tags") or {}).get("stack") for k in doomed if "/vaults/" in k}
        doomed += [k for k in self.store if k.startswith("/secrets/")  # a vault's secrets go with it
                   and (self.store[k].get("tags") or {}).get("stack") in vault_stacks]
        for key in dict.fromkeys(doomed):
            del self.store[key]
        if path.count("/") == 4 and "/resourceGroups/" in path:
            op = f"/operations/{next(self._ids)}"
            self.operations[op] = [1]  # Location polling: first poll is done
            return 202, None, {"Location": f"https://management.azure.com{op}", "Retry-After": "0"}
        return 200, None, {}

    def _view(self, path: str) -> dict[str, Any]:
        stored = copy.deepcopy(self.store[path])
        if path.startswith("/secrets/"):
            return {**stored, "id": f"https://vault/{path}"}
        return {**stored, "id": path, "name": path.rsplit("/", 1)[-1]}

    # -- queries for tests

    def ours(self, stack: str) -> list[str]:
        """Stored ARM resources tagged as ours for ``stack``."""
        return sorted(p for p, b in self.store.items()
                      if (b.get("tags") or {}).get("managed-by") == "pepperpy-cloud"
                      and (b.get("tags") or {}).get("stack") == stack)

    def writes(self) -> list[tuple[str, str]]:
        """Calls that change something, plus the long-running-operation polls."""
        return [(m, p) for m, p in self.log if m != "GET" or p.startswith("/operations/")]
