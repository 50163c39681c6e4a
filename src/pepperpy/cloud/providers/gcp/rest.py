"""Google Cloud REST requests as plain data, and the thin client that sends them.

Builders (:mod:`.cloudsql`, :mod:`.memorystore`, :mod:`.cloudrun`, …) are pure
functions returning :class:`GcpRequest` values: method, host, path, query and JSON
body, nothing sent. Tests assert those exactly; :class:`GcpClient` sends them with a
``google-auth`` token (the ``gcp`` extra) over ``httpx`` (a core dependency), which
keeps ``google-cloud-run`` / ``-secret-manager`` / ``-redis`` / ``-monitoring`` (and
grpc) out of the install.

The client retries 429 and 5xx (and dropped connections) with exponential backoff,
honouring ``Retry-After``; follows long-running operations (Cloud SQL's
``sql#operation`` until ``DONE``, ``google.longrunning.Operation`` until ``done``);
and turns every failure into one line naming GCP, the operation, what went wrong and
the fix. Secret values never sit in a request: a body holds a :class:`SecretRef`,
resolved only while sending.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.providers.base import CloudProvider
from pepperpy.cloud.providers.gcp.auth import sdk
from pepperpy.cloud.providers.gcp.naming import is_ours
from pepperpy.cloud.providers.http_retry import retry_delay, send_with_retries
from pepperpy.cloud.resources.models import ResourceError

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
RPC_CODES = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
             6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
             10: "ABORTED", 13: "INTERNAL", 14: "UNAVAILABLE", 16: "UNAUTHENTICATED"}
Lro = Literal["none", "sql", "google"]


@dataclass(frozen=True)
class SecretRef:
    """Where a secret's value goes in a body; ``name`` is its Secret Manager id. Resolved only when sent.

    ``base64``: Secret Manager payloads carry bytes as base64. ``generate``: a password we make on first use.
    """

    name: str
    base64: bool = False
    generate: bool = False

    def __str__(self) -> str:
        return f"${{SECRET:{self.name}}}"


def _walk(value: Any, resolve: Callable[[SecretRef], str] | None) -> Any:
    if isinstance(value, SecretRef):
        if resolve is None:
            return str(value)
        text = resolve(value)
        return base64.b64encode(text.encode()).decode() if value.base64 else text
    if isinstance(value, dict):
        return {k: _walk(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, resolve) for v in value]
    return value


@dataclass(frozen=True)
class GcpRequest:
    """One REST call to ``https://<host><path>``; ``lro`` says how its long-running operation is followed."""

    method: str
    host: str
    path: str
    body: dict[str, Any] | None = None
    query: tuple[tuple[str, str], ...] = ()
    what: str = "request"
    target: str = ""
    lro: Lro = "none"

    @property
    def url(self) -> str:
        return f"https://{self.host}{self.path}" + (f"?{urlencode(self.query)}" if self.query else "")

    def payload(self, resolve: Callable[[SecretRef], str] | None = None) -> dict[str, Any] | None:
        """The JSON body; secret references become ``${SECRET:name}`` text unless ``resolve`` gives values."""
        return None if self.body is None else _walk(self.body, resolve)


@dataclass(frozen=True)
class GcpResource:
    """How to create, read, update and delete one resource; ``update`` None when it is left as found."""

    create: GcpRequest
    read: GcpRequest
    delete: GcpRequest
    update: GcpRequest | None = None
    pick: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None  # for reads that list (alert policies)
    child: bool = False  # carries no labels (a database on an instance): the parent's were checked
    named_by_server: bool = False  # the id is chosen by the API (alert policies): delete by the returned name
    unprotect: GcpRequest | None = None  # sent before the delete (Cloud SQL's deletion protection)

    def teardown(self, found: dict[str, Any] | None) -> tuple[GcpRequest, ...]:
        """The requests that delete this resource, in order."""
        return ((self.unprotect,) if self.unprotect else ()) + (self.delete_request(found),)

    def delete_request(self, found: dict[str, Any] | None) -> GcpRequest:
        """The delete of this resource; for server-named ones, of the name the API returned."""
        if self.named_by_server and found and found.get("name"):
            version = self.delete.path.split("/")[1]
            return replace(self.delete, path=f"/{version}/{found['name']}")
        return self.delete


class GcpHttpError(Exception):
    """A Google API error answer: HTTP status, canonical status name, first reason. Never shown as is."""

    def __init__(self, status: int, code: str | None, reason: str | None = None) -> None:
        super().__init__(f"HTTP {status} {code} {reason}")
        self.status = status
        self.code = code
        self.reason = reason


# ----------------------------------------------------------------- error lines

_API_OF_HOST = {"sqladmin.googleapis.com": "sqladmin.googleapis.com", "run.googleapis.com": "run.googleapis.com",
                "redis.googleapis.com": "redis.googleapis.com",
                "secretmanager.googleapis.com": "secretmanager.googleapis.com",
                "monitoring.googleapis.com": "monitoring.googleapis.com",
                "artifactregistry.googleapis.com": "artifactregistry.googleapis.com",
                "iam.googleapis.com": "iam.googleapis.com", "storage.googleapis.com": "storage.googleapis.com",
                "cloudresourcemanager.googleapis.com": "cloudresourcemanager.googleapis.com"}
_ROLE_OF_HOST = {"sqladmin.googleapis.com": "roles/cloudsql.admin", "run.googleapis.com": "roles/run.admin",
                 "redis.googleapis.com": "roles/redis.admin",
                 "secretmanager.googleapis.com": "roles/secretmanager.admin",
                 "monitoring.googleapis.com": "roles/monitoring.editor",
                 "artifactregistry.googleapis.com": "roles/artifactregistry.admin",
                 "iam.googleapis.com": "roles/iam.serviceAccountAdmin", "storage.googleapis.com": "roles/storage.admin",
                 "cloudresourcemanager.googleapis.com": "roles/resourcemanager.projectIamAdmin"}


def gcp_error(exc: BaseException, request: GcpRequest, source: str, region: str | None) -> PepperpyCloudError:
    """One line: ``GCP <operation> '<name>': <what went wrong>; fix: <what to do>``."""
    where = f"GCP {request.what} {request.target!r}"
    if isinstance(exc, httpx.TransportError):
        return ResourceError(f"{where}: cannot reach {request.host} ({type(exc).__name__})",
                             hint="fix: check the network and endpoint_url")
    status, code, reason = (getattr(exc, "status", None), getattr(exc, "code", None), getattr(exc, "reason", None))
    api = _API_OF_HOST.get(request.host, request.host)
    if reason in ("SERVICE_DISABLED", "accessNotConfigured") or code == "SERVICE_DISABLED":
        return InputError("project", f"{where}: the {api} API is not enabled in the project",
                          hint=f"fix: gcloud services enable {api}")
    if status == 401 or code == "UNAUTHENTICATED":
        return InputError("credentials", f"{where}: authentication failed with the {source} ({code or status})",
                          hint="fix: run 'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS")
    if status == 403 or code == "PERMISSION_DENIED":
        return InputError("credentials", f"{where}: the {source} is not allowed to do this ({code or status})",
                          hint=f"fix: grant {_ROLE_OF_HOST.get(request.host, 'the service admin role')} on the project")
    if reason in ("invalidRegion", "regionNotAvailable", "LOCATION_NOT_SUPPORTED") or (
            code in ("INVALID_ARGUMENT", "NOT_FOUND") and reason and "location" in reason.lower()):
        return InputError("region", f"{where}: not offered in region {region!r} ({reason})",
                          hint=f"fix: pick a region where the service exists (gcloud {api.split('.')[0]} regions list)")
    if code == "ABORTED":
        return ResourceError(f"{where}: changed by someone else meanwhile, again after retrying ({reason or code})",
                             hint="fix: run the command again")
    if code == "ALREADY_EXISTS" or status == 409:
        return InputError("name", f"{where}: the id is taken or was used recently ({reason or code})",
                          hint="fix: Cloud SQL keeps a deleted instance's name for a week; rename the stack or "
                               "component")
    if status == 429 or code == "RESOURCE_EXHAUSTED":
        return ResourceError(f"{where}: throttled or over quota ({reason or code}) after retrying with backoff",
                             hint="fix: retry later, or request more quota (IAM & Admin > Quotas)")
    if status == 400 or code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION"):
        return InputError("spec", f"{where}: Google Cloud rejected the request ({reason or code})",
                          hint="fix: check the stack's names, sizes and versions against the service's limits")
    detail = " ".join(str(p) for p in (status and f"HTTP {status}", code, reason) if p) or type(exc).__name__
    return ResourceError(f"{where} failed: {detail}", hint="fix: see the Google Cloud error reference")


def _error_fields(data: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(canonical status, first reason) from a Google error document or an operation's error."""
    error = (data or {}).get("error") or {}
    if not isinstance(error, dict):
        return None, None
    code = error.get("status")
    if code is None and isinstance(error.get("code"), int):
        code = RPC_CODES.get(error["code"])
    reason = None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reason = str(detail["reason"])
            break
    for item in error.get("errors") or []:  # Cloud SQL and v1-style errors
        if isinstance(item, dict):
            reason = reason or item.get("reason") or item.get("code")
            break
    return (str(code) if code else None), (str(reason) if reason else None)


# ----------------------------------------------------------------- credentials


API_ENDPOINT_ENV = "PEPPERPY_GCP_API_ENDPOINT"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class EmulatorToken:
    """The credential sent to a local fake or emulator of the REST APIs: a fixed token, never refreshed."""

    token: str = "emulator"
    valid: bool = True


def api_endpoint(provider: CloudProvider) -> tuple[str | None, bool]:
    """Where REST calls go (``api_endpoint=`` option, else ``PEPPERPY_GCP_API_ENDPOINT``) and whether that is local.

    ``endpoint_url`` stays GCS's (:mod:`.auth`): the two are usually different emulators.
    """
    import os
    from urllib.parse import urlsplit

    url = provider.options.get("api_endpoint") or os.environ.get(API_ENDPOINT_ENV)
    if not url:
        return None, False
    url = str(url) if "://" in str(url) else f"http://{url}"
    return url.rstrip("/"), urlsplit(url).hostname in _LOOPBACK


def gcp_credentials(provider: CloudProvider) -> tuple[Any, str, str]:
    """(credentials with the cloud-platform scope, project, source), resolved as :mod:`.auth` does for GCS.

    Against a loopback API endpoint no credentials file is read and no token is fetched (a fixed token).
    """
    from pepperpy.cloud.providers.gcp import auth

    if api_endpoint(provider)[1]:
        return EmulatorToken(), auth._project(provider, None) or auth.EMULATOR_PROJECT, "emulator token"
    creds, found, source = auth._credentials(provider)
    project = auth._project(provider, found)
    if not project:
        raise InputError("project", f"GCP: no project for the {source}",
                         hint="fix: pass GCPProvider(..., project='my-project') or set GOOGLE_CLOUD_PROJECT")
    scoped = sdk("google.auth.credentials", "google-auth").Scoped
    if isinstance(creds, scoped):
        creds = creds.with_scopes([CLOUD_PLATFORM])
    return creds, project, source


# ----------------------------------------------------------------- the client


@dataclass
class Applied:
    """What :meth:`GcpClient.apply` did: resources created by this run are deleted newest-first on failure."""

    created: list[tuple[GcpRequest, ...]] = field(default_factory=list)  # the teardowns that undo them
    updated: list[GcpResource] = field(default_factory=list)


class GcpClient:
    """Sends :class:`GcpRequest` values: auth, retries with backoff, long-running operations, one-line errors.

    ``endpoint_url`` sends every call there instead of ``https://<host>`` (tests, private endpoints).
    """

    def __init__(self, credentials: Any, *, source: str = "credentials", region: str | None = None,
                 endpoint_url: str | None = None, max_retries: int = 4, retry_backoff: float = 1.0,
                 max_wait: float = 60.0, poll_interval: float = 5.0, lro_timeout: float = 3600.0,
                 resolve: Callable[[SecretRef], str] | None = None, sleep: Callable[[float], None] = time.sleep,
                 timeout: float = 60.0) -> None:
        self.credentials = credentials
        self.source = source
        self.region = region
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_wait = max_wait
        self.poll_interval = poll_interval
        self.lro_timeout = lro_timeout
        self.resolve = resolve
        self.sleep = sleep
        self.http = httpx.Client(timeout=timeout, follow_redirects=False)
        self.calls: list[tuple[str, str]] = []  # (method, path) sent; never bodies

    @classmethod
    def for_provider(cls, provider: CloudProvider, **kwargs: Any) -> tuple[GcpClient, str]:
        """A client with the provider's credentials and options, and the project it resolved."""
        creds, project, source = gcp_credentials(provider)
        opts = provider.options
        url, local = api_endpoint(provider)
        kwargs.setdefault("poll_interval", float(opts.get("poll_interval", 0.05 if local else 5.0)))
        client = cls(creds, source=source, region=provider.region, endpoint_url=url,
                     max_retries=int(opts.get("max_retries", 4)),
                     retry_backoff=float(opts.get("retry_backoff", 0.05 if local else 1.0)), **kwargs)
        return client, project

    def close(self) -> None:
        self.http.close()

    # -- sending

    def _url(self, request: GcpRequest, path: str | None = None) -> str:
        base = self.endpoint_url or f"https://{request.host}"
        if path is not None:
            return f"{base}{path}"
        return f"{base}{request.path}" + (f"?{urlencode(request.query)}" if request.query else "")

    def _token(self, request: GcpRequest) -> str:
        try:
            if not getattr(self.credentials, "valid", False):
                transport = sdk("google.auth.transport.requests", "google-auth")
                self.credentials.refresh(transport.Request())
            return str(self.credentials.token)
        except PepperpyCloudError:
            raise
        except Exception as exc:
            raise InputError("credentials", f"GCP {request.what} {request.target!r}: could not get an access token "
                             f"with the {self.source} ({type(exc).__name__})",
                             hint="fix: run 'gcloud auth application-default login' or set "
                                  "GOOGLE_APPLICATION_CREDENTIALS") from None

    def wait_for(self, response: httpx.Response, attempt: int) -> float:
        """Seconds before retrying: ``Retry-After`` (seconds or HTTP date) if given, else 2^attempt backoff."""
        return retry_delay(response, attempt, self.retry_backoff, self.max_wait)

    def _send(self, request: GcpRequest, method: str, url: str, body: dict[str, Any] | None) -> httpx.Response:
        """One logical call, retried on throttling, 5xx and dropped connections."""
        return send_with_retries(self, method, url, body, lambda: self._token(request),
                                 lambda exc: gcp_error(exc, request, self.source, self.region))

    def _raise(self, status: int, data: dict[str, Any] | None, request: GcpRequest) -> None:
        code, reason = _error_fields(data)
        raise gcp_error(GcpHttpError(status, code, reason), request, self.source, self.region)

    def send(self, request: GcpRequest, resolve: Callable[[SecretRef], str] | None = None) -> dict[str, Any] | None:
        """Send ``request`` and wait for its operation; the JSON answer (None for a GET or DELETE of nothing)."""
        body = request.payload(resolve or self.resolve) if request.body is not None else None
        response = self._send(request, request.method, self._url(request), body)
        if response.status_code == 404 and request.method in ("GET", "DELETE"):
            return None
        data = _json(response)
        if response.status_code >= 400:
            self._raise(response.status_code, data, request)
        if request.lro != "none" and data is not None:
            return self._follow(request, data)
        return data

    # -- long-running operations

    def _follow(self, request: GcpRequest, operation: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self.lro_timeout
        for op in self._polls(request, operation, deadline):
            if _done(request, op):
                if op.get("error"):
                    self._raise(200, op, request)
                return dict(op.get("response") or op)
        raise AssertionError("unreachable")  # pragma: no cover

    def _operation_path(self, request: GcpRequest, op: dict[str, Any]) -> str:
        if request.lro == "sql":
            project = request.path.split("/")[3]
            return f"/v1/projects/{project}/operations/{op['name']}"
        version = request.path.split("/")[1]
        return f"/{version}/{op['name']}"

    def _polls(self, request: GcpRequest, op: dict[str, Any], deadline: float) -> Iterator[dict[str, Any]]:
        yield op
        while True:
            if time.monotonic() + self.poll_interval > deadline:
                raise ResourceError(f"GCP {request.what} {request.target!r}: not finished after "
                                    f"{self.lro_timeout:.0f} s", hint="fix: check the console; creating again "
                                    "resumes (ids are deterministic)")
            self.sleep(self.poll_interval)
            poll = replace(request, method="GET", body=None, query=(), lro="none")
            response = self._send(poll, "GET", self._url(request, self._operation_path(request, op)), None)
            data = _json(response) or {}
            if response.status_code >= 400:
                self._raise(response.status_code, data, request)
            yield data

    # -- idempotent create

    def read(self, resource: GcpResource) -> dict[str, Any] | None:
        found = self.send(resource.read)
        return resource.pick(found) if resource.pick is not None and found is not None else found

    def ensure(self, resource: GcpResource, stack: str, applied: Applied | None = None) -> dict[str, Any] | None:
        """Create the resource, or converge one of ours (labels checked) with its update; refuse a stranger's."""
        existing = self.read(resource)
        if existing is None:
            try:
                result = self.send(resource.create)
            except InputError as exc:
                if "ALREADY_EXISTS" not in str(exc) and "taken" not in exc.problem:
                    raise
                existing = self.read(resource)  # lost a race with another run: converge instead
                if existing is None:
                    raise
            else:
                if applied is not None:
                    applied.created.append(resource.teardown(result))
                return result
        if not resource.child and not is_ours(labels_of(existing), stack):
            raise InputError("name", f"GCP {resource.create.what} {resource.create.target!r}: a resource of that id "
                             "exists and is not managed by pepperpy-cloud for this stack",
                             hint=f"fix: pick another stack name, or label it managed-by=pepperpy-cloud and "
                                  f"stack={stack} to adopt it")
        if resource.update is None:
            return existing
        result = self.send(resource.update)
        if applied is not None:
            applied.updated.append(resource)
        return result

    def apply(self, resources: list[GcpResource], stack: str) -> Applied:
        """Ensure each in order; on a failure delete what this run created (newest first), then raise."""
        applied = Applied()
        try:
            for resource in resources:
                self.ensure(resource, stack, applied)
        except PepperpyCloudError as exc:
            left = self.undo(applied)
            if left:
                raise ResourceError(f"{exc.message}; cleanup also failed, left behind: {', '.join(left)}",
                                    hint=exc.hint) from None
            raise
        return applied

    def undo(self, applied: Applied) -> list[str]:
        left = []
        for steps in reversed(applied.created):
            try:
                for step in steps:
                    self.send(step)
            except PepperpyCloudError:
                left.append(steps[-1].path)
        return left


def _done(request: GcpRequest, op: dict[str, Any]) -> bool:
    """Cloud SQL operations end with ``status: DONE``; google.longrunning ones with ``done: true``."""
    return bool(op.get("status") == "DONE") if request.lro == "sql" else bool(op.get("done"))


def labels_of(resource: dict[str, Any]) -> dict[str, str]:
    """Labels wherever the API keeps them: ``labels``, ``userLabels`` or Cloud SQL's ``settings.userLabels``."""
    for found in (resource.get("labels"), resource.get("userLabels"),
                  (resource.get("settings") or {}).get("userLabels")):
        if isinstance(found, dict) and found:
            return {str(k): str(v) for k, v in found.items()}
    return {}


def _json(response: httpx.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
