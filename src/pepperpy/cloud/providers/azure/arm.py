"""Azure Resource Manager requests as plain data, and the thin client that sends them.

Builders (:mod:`.postgres`, :mod:`.redis`, :mod:`.container_apps`, …) are pure
functions returning :class:`ArmRequest` values: method, path, api-version and JSON
body, nothing sent. Tests assert those exactly; :class:`ArmClient` sends them.

Why raw REST and not the ``azure-mgmt-*`` SDKs: one package per service (eight
here) for what is a PUT of a JSON document; ``azure-identity`` (already the
``azure`` extra) gives the token and ``httpx`` (a core dependency) sends it.

The client retries 429 and 5xx (and dropped connections) with exponential backoff,
honouring ``Retry-After``; follows long-running operations (``Azure-AsyncOperation``,
then ``Location``, then the resource's ``provisioningState``); and turns every
failure into one line naming Azure, the operation, what went wrong and the fix.
Secret values never sit in a request: a body holds a :class:`SecretRef`, which the
client resolves only while sending.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.providers.azure.auth import sdk
from pepperpy.cloud.providers.azure.errors import error_code, status_code
from pepperpy.cloud.providers.azure.naming import is_ours
from pepperpy.cloud.providers.base import CloudProvider, Secret
from pepperpy.cloud.providers.http_retry import retry_delay, send_with_retries
from pepperpy.cloud.resources.models import ResourceError

MANAGEMENT = "management.azure.com"
SCOPES = {MANAGEMENT: "https://management.azure.com/.default", "vault": "https://vault.azure.net/.default"}
TERMINAL = {"succeeded", "failed", "canceled", "cancelled"}
API_RESOURCES = "2024-03-01"
ARM_ENDPOINT_ENV = "PEPPERPY_AZURE_ARM_ENDPOINT"


@dataclass(frozen=True)
class SecretRef:
    """Where a secret's value goes in a body; ``name`` is its Key Vault secret name. Resolved only when sent."""

    name: str
    generate: bool = False  # a password we make (into the vault) on first use, rather than one the user sets

    def __str__(self) -> str:
        return f"${{SECRET:{self.name}}}"


def _walk(value: Any, resolve: Callable[[SecretRef], str] | None) -> Any:
    if isinstance(value, SecretRef):
        return resolve(value) if resolve else str(value)
    if isinstance(value, dict):
        return {k: _walk(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, resolve) for v in value]
    return value


def secret_refs(value: Any) -> list[SecretRef]:
    """Every :class:`SecretRef` in a body, in order."""
    if isinstance(value, SecretRef):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in secret_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in secret_refs(v)]
    return []


@dataclass(frozen=True)
class ArmRequest:
    """One REST call: ``host`` is ARM or a Key Vault (``<vault>.vault.azure.net``); ``what`` names it in errors."""

    method: str
    path: str
    api_version: str
    body: dict[str, Any] | None = None
    what: str = "request"
    target: str = ""
    host: str = MANAGEMENT

    @property
    def url(self) -> str:
        return f"https://{self.host}{self.path}?api-version={self.api_version}"

    @property
    def scope(self) -> str:
        return SCOPES[MANAGEMENT] if self.host == MANAGEMENT else SCOPES["vault"]

    def payload(self, resolve: Callable[[SecretRef], str] | None = None) -> dict[str, Any] | None:
        """The JSON body; secret references become ``${SECRET:name}`` text unless ``resolve`` gives values."""
        return None if self.body is None else _walk(self.body, resolve)

    def get(self) -> ArmRequest:
        """The GET of the same resource (to read it before and after a PUT)."""
        return ArmRequest("GET", self.path, self.api_version, None, f"read {self.what.split(' ', 1)[-1]}",
                          self.target, self.host)

    def delete(self) -> ArmRequest:
        return ArmRequest("DELETE", self.path, self.api_version, None, f"delete {self.what.split(' ', 1)[-1]}",
                          self.target, self.host)


class ArmHttpError(Exception):
    """An ARM error answer; ``status_code`` / ``error_code`` as :mod:`.errors` reads them. Never shown as is."""

    def __init__(self, status: int, code: str | None, target_field: str | None = None) -> None:
        super().__init__(f"HTTP {status} {code}")
        self.status_code = status
        self.error_code = code
        self.target_field = target_field


# ----------------------------------------------------------------- error lines

_NAMESPACE_HINT = "az provider show -n {ns} --query \"resourceTypes[?resourceType=='{rt}'].locations\""
_NAME_CODES = {"InvalidResourceName", "InvalidServerName", "ServerNameAlreadyExists", "NameNotAvailable",
               "StorageAccountAlreadyTaken", "VaultAlreadyExists", "InvalidVaultName", "AccountNameInvalid",
               "ContainerAppInvalidName", "InvalidName", "StorageAccountAlreadyExists", "NameAlreadyExists"}
_REGION_CODES = {"LocationNotAvailableForResourceType", "NoRegisteredProviderFound", "InvalidLocation",
                 "LocationIsOfferRestricted", "LocationNotSupported", "RegionDoesNotAllowProvisioning",
                 "ServiceNotAvailableInRegion", "SubscriptionNotSupported"}
_AUTH_CODES = {"InvalidAuthenticationToken", "InvalidAuthenticationTokenTenant", "ExpiredAuthenticationToken",
               "AuthenticationFailed", "Unauthorized"}


def _namespace(path: str) -> tuple[str, str]:
    """(``Microsoft.X``, resource type) of an ARM path, for hints."""
    parts = path.split("/providers/")[-1].split("/")
    return (parts[0], parts[1]) if len(parts) > 1 else ("Microsoft.Resources", "resourceGroups")


def arm_error(exc: BaseException, request: ArmRequest, source: str, region: str | None) -> PepperpyCloudError:
    """One line: ``Azure <operation> '<name>': <what went wrong>; fix: <what to do>``."""
    where = f"Azure {request.what} {request.target!r}"
    code, status = error_code(exc), status_code(exc)
    ns, rt = _namespace(request.path)
    if isinstance(exc, httpx.TransportError):
        return ResourceError(f"{where}: cannot reach {request.host} ({type(exc).__name__})",
                             hint="fix: check the network and endpoint_url")
    if status == 401 or code in _AUTH_CODES:
        return InputError("credentials", f"{where}: authentication failed with the {source} ({code or status})",
                          hint="fix: check tenant_id, client_id and client_secret, or run 'az login'")
    if code == "MissingSubscriptionRegistration":
        return InputError("subscription_id", f"{where}: the subscription is not registered for {ns}",
                          hint=f"fix: az provider register --namespace {ns}")
    if code in _REGION_CODES:
        return InputError("region", f"{where}: {ns}/{rt} is not offered in region {region!r} ({code})",
                          hint="fix: pick a region listed by " + _NAMESPACE_HINT.format(ns=ns, rt=rt))
    if code in ("SkuNotAvailable", "SkuNotSupported", "InvalidSku", "UnsupportedSku"):
        return InputError("instance_type", f"{where}: the SKU is not available in region {region!r} ({code})",
                          hint="fix: choose another size or region (az postgres flexible-server list-skus -l <region>)")
    if code in _NAME_CODES:
        return InputError("name", f"{where}: Azure rejects or has already given away the name ({code})",
                          hint="fix: rename the stack or component (names of servers, vaults and accounts are "
                               "global)")
    if code in ("SubscriptionNotFound", "InvalidSubscriptionId"):
        return InputError("subscription_id", f"{where}: subscription not found ({code})",
                          hint="fix: pass AzureProvider(subscription_id=...) or set AZURE_SUBSCRIPTION_ID")
    if status == 403 or code in ("AuthorizationFailed", "LinkedAuthorizationFailed", "Forbidden"):
        return InputError("credentials", f"{where}: the {source} is not allowed to do this ({code or status})",
                          hint="fix: grant the identity 'Contributor' on the subscription or resource group "
                               "(Key Vault secrets: 'Key Vault Secrets Officer')")
    if code in ("QuotaExceeded", "OperationNotAllowed", "ResourceQuotaExceeded", "RequestDisallowedByPolicy"):
        return ResourceError(f"{where}: refused by a quota or policy of the subscription ({code})",
                             hint="fix: request more quota (Portal > Quotas) or pick a smaller size or another region")
    if status == 429 or code in ("TooManyRequests", "ServerBusy"):
        return ResourceError(f"{where}: throttled by Azure ({code or status}) after retrying with backoff",
                             hint="fix: retry later, or raise max_retries on AzureProvider")
    if code in ("InvalidParameter", "InvalidRequestContent", "InvalidTemplate", "BadRequest", "InvalidInput"):
        field = getattr(exc, "target_field", None)
        return InputError(field or "spec", f"{where}: Azure rejected a value{f' ({field})' if field else ''} ({code})",
                          hint="fix: check that field of the stack against the service's limits")
    detail = " ".join(str(p) for p in (status and f"HTTP {status}", code) if p) or type(exc).__name__
    return ResourceError(f"{where} failed: {detail}", hint="fix: see the Azure Resource Manager error codes")


# ----------------------------------------------------------------- credentials


def arm_credential(provider: CloudProvider) -> tuple[Any, str]:
    """A token credential for ARM: ``token_credential=`` (any azure-identity credential), seed 000's service
    principal dict, else ``DefaultAzureCredential``."""
    given_credential = provider.options.get("token_credential")
    if given_credential is not None:
        return given_credential, "token credential"
    plain = {k: v.reveal() for k, v in provider.credentials.items() if isinstance(v, Secret) and v.reveal()}
    fields = ("tenant_id", "client_id", "client_secret")
    given = [f for f in fields if f in plain]
    identity = sdk("azure.identity", "azure-identity")
    if given:
        missing = [f for f in fields if f not in plain]
        if missing:
            raise InputError("credentials", f"an Azure service principal needs tenant_id, client_id and "
                             f"client_secret; missing {', '.join(missing)}")
        return identity.ClientSecretCredential(plain["tenant_id"], plain["client_id"],
                                               plain["client_secret"]), "service principal"
    return identity.DefaultAzureCredential(exclude_interactive_browser_credential=True), "DefaultAzureCredential"


def subscription_of(provider: CloudProvider) -> str:
    """The subscription, from the provider or ``AZURE_SUBSCRIPTION_ID``; asked before any call."""
    sub = getattr(provider, "subscription_id", None) or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not sub:
        raise InputError("subscription_id", "Azure Resource Manager calls need a subscription",
                         hint="fix: pass AzureProvider(subscription_id=...) or set AZURE_SUBSCRIPTION_ID")
    return str(sub)


# ----------------------------------------------------------------- the client


@dataclass
class Applied:
    """What :meth:`ArmClient.ensure` did, in order: created resources are undone first-last on failure."""

    created: list[ArmRequest] = field(default_factory=list)
    updated: list[ArmRequest] = field(default_factory=list)


class ArmClient:
    """Sends :class:`ArmRequest` values: auth, retries with backoff, long-running operations, one-line errors.

    ``endpoint_url`` sends every call there instead of ``https://<host>`` (tests, sovereign clouds);
    ``resolve`` gives a :class:`SecretRef`'s value at send time; ``sleep`` is injectable for tests.
    """

    def __init__(self, credential: Any, *, source: str = "credentials", region: str | None = None,
                 endpoint_url: str | None = None, max_retries: int = 4, retry_backoff: float = 1.0,
                 max_wait: float = 60.0, poll_interval: float = 5.0, lro_timeout: float = 3600.0,
                 resolve: Callable[[SecretRef], str] | None = None, sleep: Callable[[float], None] = time.sleep,
                 timeout: float = 60.0) -> None:
        self.credential = credential
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
        self.calls: list[tuple[str, str]] = []  # (method, path) sent, for logs and tests; never bodies

    @classmethod
    def for_provider(cls, provider: CloudProvider, **kwargs: Any) -> ArmClient:
        """A client with the provider's credential and options (max_retries, retry_backoff, poll_interval,
        arm_endpoint, else ``PEPPERPY_AZURE_ARM_ENDPOINT``: where every ARM and Key Vault call goes instead)."""
        credential, source = arm_credential(provider)
        opts = provider.options
        endpoint = opts.get("arm_endpoint") or os.environ.get(ARM_ENDPOINT_ENV) or None
        return cls(credential, source=source, region=provider.region, endpoint_url=endpoint,
                   max_retries=int(opts.get("max_retries", 4)), retry_backoff=float(opts.get("retry_backoff", 1.0)),
                   poll_interval=float(opts.get("poll_interval", 5.0)), **kwargs)

    def close(self) -> None:
        self.http.close()

    # -- sending

    def _url(self, request: ArmRequest, absolute: str | None = None) -> str:
        if absolute is not None:
            if self.endpoint_url is None:
                return absolute
            parts = httpx.URL(absolute)
            return f"{self.endpoint_url}{parts.raw_path.decode()}"
        base = self.endpoint_url or f"https://{request.host}"
        return f"{base}{request.path}?api-version={request.api_version}"

    def _token(self, request: ArmRequest) -> str:
        try:
            return str(self.credential.get_token(request.scope).token)
        except PepperpyCloudError:
            raise
        except Exception as exc:
            raise InputError("credentials", f"Azure {request.what} {request.target!r}: could not get a token with "
                             f"the {self.source} ({type(exc).__name__})",
                             hint="fix: check tenant_id, client_id and client_secret, or run 'az login'") from None

    def wait_for(self, response: httpx.Response, attempt: int) -> float:
        """Seconds before retrying: ``Retry-After`` (seconds or HTTP date) if given, else 2^attempt backoff."""
        return retry_delay(response, attempt, self.retry_backoff, self.max_wait)

    def _send(self, request: ArmRequest, method: str, url: str, body: dict[str, Any] | None) -> httpx.Response:
        """One logical call, retried on throttling, 5xx and dropped connections."""
        return send_with_retries(self, method, url, body, lambda: self._token(request),
                                 lambda exc: arm_error(exc, request, self.source, self.region))

    def _raise(self, response: httpx.Response, request: ArmRequest) -> None:
        code, target = _error_fields(response)
        raise arm_error(ArmHttpError(response.status_code, code, target), request, self.source, self.region)

    def send(self, request: ArmRequest, resolve: Callable[[SecretRef], str] | None = None) -> dict[str, Any] | None:
        """Send ``request``; wait for its long-running operation; the resource's JSON (None for 204/404 on GET).

        Secret references in the body are resolved here (``resolve``, else the client's), and only here.
        """
        body = request.payload(resolve or self.resolve) if request.body is not None else None
        response = self._send(request, request.method, self._url(request), body)
        if request.method == "GET" and response.status_code == 404:
            return None
        if request.method == "DELETE" and response.status_code in (204, 404):
            return None
        if response.status_code >= 400:
            self._raise(response, request)
        result = _json(response)
        if response.status_code in (201, 202) or "Azure-AsyncOperation" in response.headers:
            self._follow(request, response)
            if request.method in ("PUT", "PATCH"):
                result = self.send(request.get())
        elif request.method in ("PUT", "PATCH") and _state(result) not in TERMINAL | {""}:
            result = self._until_provisioned(request)
        if request.method in ("PUT", "PATCH") and _state(result) in ("failed", "canceled"):
            raise ResourceError(f"Azure {request.what} {request.target!r}: provisioning ended {_state(result)}",
                                hint="fix: see the resource's activity log in the portal, then create again")
        return result

    def list_all(self, request: ArmRequest) -> list[dict[str, Any]] | None:
        """Every item of a list answer (``value``), following ``nextLink``; None when the list is 404."""
        items: list[dict[str, Any]] = []
        response = self._send(request, "GET", self._url(request), None)
        while True:
            if response.status_code == 404:
                return None
            if response.status_code >= 400:
                self._raise(response, request)
            data = _json(response) or {}
            items += [v for v in data.get("value") or [] if isinstance(v, dict)]
            link = data.get("nextLink")
            if not link:
                return items
            response = self._send(request, "GET", self._url(request, str(link)), None)

    # -- long-running operations

    def _deadline(self) -> float:
        return time.monotonic() + self.lro_timeout

    def _follow(self, request: ArmRequest, response: httpx.Response) -> None:
        """Poll ``Azure-AsyncOperation`` (status document) or ``Location`` (202 until done)."""
        deadline = self._deadline()
        async_url = response.headers.get("Azure-AsyncOperation")
        location = response.headers.get("Location")
        first = response
        if async_url:
            for poll in self._polls(request, async_url, first, deadline):
                status = str((_json(poll) or {}).get("status", "")).lower()
                if status in TERMINAL:
                    if status != "succeeded":
                        code, target = _error_fields(poll)
                        raise arm_error(ArmHttpError(200, code or "OperationFailed", target), request,
                                        self.source, self.region)
                    return
        elif location:
            for poll in self._polls(request, location, first, deadline):
                if poll.status_code != 202:
                    return

    def _polls(self, request: ArmRequest, url: str, first: httpx.Response, deadline: float) -> Iterator[httpx.Response]:
        previous = first
        while True:
            delay = self.wait_for(previous, 0) if previous.headers.get("Retry-After") else self.poll_interval
            if time.monotonic() + delay > deadline:
                raise ResourceError(f"Azure {request.what} {request.target!r}: not finished after "
                                    f"{self.lro_timeout:.0f} s", hint="fix: check the portal; creating again "
                                    "resumes (names are deterministic)")
            self.sleep(delay)
            poll = self._send(request, "GET", self._url(request, url), None)
            if poll.status_code >= 400:
                self._raise(poll, request)
            previous = poll
            yield poll

    def _until_provisioned(self, request: ArmRequest) -> dict[str, Any] | None:
        deadline = self._deadline()
        while True:
            if time.monotonic() + self.poll_interval > deadline:
                raise ResourceError(f"Azure {request.what} {request.target!r}: still provisioning after "
                                    f"{self.lro_timeout:.0f} s", hint="fix: check the portal, then create again")
            self.sleep(self.poll_interval)
            result = self.send(request.get())
            if _state(result) in TERMINAL:
                return result

    # -- idempotent create

    def ensure(self, request: ArmRequest, stack: str, applied: Applied | None = None) -> dict[str, Any] | None:
        """PUT a resource the stack owns: refuse one of that name not tagged as ours; remember fresh creations.

        Child resources (configurations, containers) carry no tags: their parent's were checked. Data-plane
        secrets are left as they are when present (setting one again would add a version).
        """
        existing = self.send(request.get())
        if existing is not None:
            if not is_child(request.path) and not is_ours(existing.get("tags"), stack):
                raise InputError("name", f"Azure {request.what} {request.target!r}: a resource of that name exists "
                                 "and is not managed by pepperpy-cloud for this stack",
                                 hint=f"fix: pick another stack name, or tag it managed-by=pepperpy-cloud and "
                                      f"stack={stack} to adopt it")
            if request.host != MANAGEMENT:
                return existing
        result = self.send(request)
        if applied is not None:
            (applied.updated if existing is not None else applied.created).append(request)
        return result

    def apply(self, requests: list[ArmRequest], stack: str) -> Applied:
        """Ensure each request in order; on a failure, delete what this run created (newest first), then raise.

        A cleanup that fails too is named in the error, so nothing is left behind unrecorded.
        """
        applied = Applied()
        try:
            for request in requests:
                self.ensure(request, stack, applied)
        except PepperpyCloudError as exc:
            leftovers = self.undo(applied)
            if leftovers:
                raise ResourceError(f"{exc.message}; cleanup also failed, left behind: {', '.join(leftovers)}",
                                    hint=exc.hint) from None
            raise
        return applied

    def undo(self, applied: Applied) -> list[str]:
        """Delete what ``applied`` created, newest first; the paths that could not be deleted."""
        left = []
        for request in reversed(applied.created):
            grant = "/providers/Microsoft.Authorization/roleAssignments/" in request.path
            if request.host != MANAGEMENT or (is_child(request.path) and not grant):
                continue  # data-plane secrets and child resources go with their parent; role assignments do not
            try:
                self.send(request.delete())
            except PepperpyCloudError:
                left.append(request.path)
        return left


def is_child(path: str) -> bool:
    """A child resource (a server's configuration, an account's container): deleted with its parent."""
    if "/providers/" not in path:
        return False
    return len(path.split("/providers/", 1)[1].strip("/").split("/")) > 3


def _json(response: httpx.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _state(result: dict[str, Any] | None) -> str:
    props = (result or {}).get("properties") or {}
    return str(props.get("provisioningState", "")).lower() if isinstance(props, dict) else ""


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None]:
    """(code, target) of an ARM error document; the innermost detail's code when it is more specific."""
    data = _json(response) or {}
    error = data.get("error") or {}
    if not isinstance(error, dict):
        return None, None
    code, target = error.get("code"), error.get("target")
    details = error.get("details") or []
    if code in (None, "InvalidTemplateDeployment", "DeploymentFailed", "BadRequest") and details:
        inner = details[0] if isinstance(details[0], dict) else {}
        code, target = inner.get("code", code), inner.get("target", target)
    return (str(code) if code else None), (str(target) if target else None)
