"""Azure's :class:`~pepperpy.cloud.resources.manager.ResourceBackend`: object storage as Blob containers.

A ``StorageResource`` named ``pepperpy-data`` is the container ``pepperpy-data``
in the resolved storage account (see :mod:`.auth`): the name is the resource
name, so creating again finds the same container and converges it (metadata,
public access) instead of making a second one. Every container we create carries
the metadata ``managed_by=pepperpy-cloud`` and ``pepperpy_resource=<name>``
(Azure metadata names must be C# identifiers, so underscores, not hyphens); a
container of that name without them belongs to someone else and is neither
adopted nor deleted.

Azure Storage throttles with 503 ServerBusy, which the SDK's exponential retry
policy handles; 429 and "container being deleted" are retried here with backoff.
A first create that fails after the container appeared removes it again, so
nothing is left behind unrecorded.

Databases go through Azure Resource Manager (:mod:`.resources` routes them there);
serverless compute is refused here with the reason before any call.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pepperpy.cloud.errors import InputError, NotSupportedError, PepperpyCloudError
from pepperpy.cloud.providers.azure.auth import BlobAccess, blob_service, resolve_blob_access
from pepperpy.cloud.providers.azure.errors import error_code, status_code, translate
from pepperpy.cloud.providers.base import CloudProvider
from pepperpy.cloud.resources.models import Resource, ResourceError, ResourceRecord, ResourceSpec, StorageResource
from pepperpy.cloud.spec.quantities import parse_size_gb

T = TypeVar("T")
MANAGED_BY_KEY = "managed_by"
MANAGED_BY = "pepperpy-cloud"
NAME_KEY = "pepperpy_resource"
CONTAINER_RULE = "3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit, no '--'"
_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_RETRY_CODES = {"ServerBusy", "ContainerBeingDeleted", "OperationTimedOut"}
_NO_EMULATOR = ("needs Azure Resource Manager ({what}), which has no emulator here and is not implemented yet; "
                "use LocalProvider, or render Terraform with 'pepperpy-cloud render -t terraform'")
_UNSUPPORTED = {"postgres": "Azure Database for PostgreSQL flexible server", "serverless": "Azure Functions"}


def container_name(name: str) -> str:
    """The container for a resource: the name itself, checked against Azure's rule before any call."""
    if not _CONTAINER.match(name):
        raise InputError("name", f"{name!r} is not a valid Azure blob container name; use {CONTAINER_RULE}")
    return name


def managed_metadata(name: str) -> dict[str, str]:
    return {MANAGED_BY_KEY: MANAGED_BY, NAME_KEY: name}


def _public_access(policy: str) -> str | None:
    return "blob" if policy == "public-read" else None


class AzureBlobResources:
    """Creates, reads and removes Blob containers for ``ResourceManager``."""

    def __init__(self, provider: CloudProvider) -> None:
        self.provider = provider
        self._access: BlobAccess | None = None
        self._service: Any = None

    # -- plumbing

    def service(self) -> Any:
        """The BlobServiceClient, made on first use (credentials are checked here, before any call)."""
        if self._service is None:
            self._access = resolve_blob_access(self.provider)
            self._service = blob_service(self.provider, self._access)
        return self._service

    def _call(self, operation: str, target: str, fn: Callable[[], T]) -> T:
        """Run one SDK call; retry 429 and transient codes with backoff; translate the rest to one line."""
        attempts = int(self.provider.options.get("max_retries", 4)) + 1
        delay = float(self.provider.options.get("retry_backoff", 1))
        for attempt in range(attempts):
            try:
                return fn()
            except PepperpyCloudError:
                raise
            except Exception as exc:
                retryable = status_code(exc) == 429 or error_code(exc) in _RETRY_CODES
                if retryable and attempt + 1 < attempts:
                    time.sleep(min(delay * 2**attempt, 30.0))
                    continue
                raise translate(exc, operation, target, self._access) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _properties(self, container: Any, name: str) -> Any:
        """The container's properties, or None when it does not exist."""
        core = _core()

        def read() -> Any:
            try:
                return container.get_container_properties()
            except core.ResourceNotFoundError:
                return None

        return self._call("read blob container", name, read)

    def _url(self, name: str) -> str:
        base = str(self.service().url).split("?", 1)[0].rstrip("/")  # never keep a SAS token
        return f"{base}/{name}"

    # -- create

    def create(self, spec: ResourceSpec, previous: ResourceRecord | None) -> ResourceRecord:
        if not isinstance(spec, StorageResource):
            what = _UNSUPPORTED.get(spec.type, spec.type)
            raise NotSupportedError(f"Azure cannot create {spec.type} resources: " + _NO_EMULATOR.format(what=what))
        name = container_name(spec.name)
        if spec.versioning:
            raise NotSupportedError("Azure blob versioning is a storage-account setting, not a container one",
                                    hint="enable versioning on the storage account, then create with "
                                         "versioning=False")
        container = self.service().get_container_client(name)
        props = self._properties(container, name)
        if props is None:
            self._create_container(container, spec)
        else:
            self._converge(container, props, spec)
        size = parse_size_gb(spec.size, "size") if spec.size is not None else None
        details = {"container": name, "url": self._url(name), "access_policy": spec.access_policy,
                   "public_access": _public_access(spec.access_policy), "metadata": managed_metadata(name),
                   "size_gb": str(size) if size is not None else None, "region": self.provider.region,
                   "credential_source": self._access.source if self._access else None}
        return ResourceRecord(name=spec.name, type=spec.type, provider=self.provider.name,
                              spec=spec.model_dump(mode="json"), details=details)

    def _create_container(self, container: Any, spec: StorageResource) -> None:
        """One call creates the container with its metadata and access level; a lost race converges instead.

        If that call fails (a timeout may hide a success), a container that appeared with our tags is
        removed again, so a failed first create leaves nothing behind.
        """
        core = _core()

        def create() -> Any:
            try:
                container.create_container(metadata=managed_metadata(spec.name),
                                           public_access=_public_access(spec.access_policy))
            except core.ResourceExistsError:
                return container.get_container_properties()
            return None

        try:
            raced = self._call("create blob container", spec.name, create)
        except BaseException:
            self._remove_if_ours(container, spec.name)
            raise
        if raced is not None:
            self._converge(container, raced, spec)

    def _converge(self, container: Any, props: Any, spec: StorageResource) -> None:
        """Bring an existing container of ours to the spec: metadata, then public access."""
        self._check_ours(props, spec.name)
        metadata = dict(props.metadata or {})
        wanted = managed_metadata(spec.name)
        if any(metadata.get(k) != v for k, v in wanted.items()):
            self._call("tag blob container", spec.name, lambda: container.set_container_metadata({**metadata,
                                                                                                   **wanted}))
        access = _public_access(spec.access_policy)
        if (props.public_access or None) != access:
            self._call("set access of blob container", spec.name,
                       lambda: container.set_container_access_policy(signed_identifiers={}, public_access=access))

    @staticmethod
    def _check_ours(props: Any, name: str) -> None:
        metadata = props.metadata or {}
        if metadata.get(MANAGED_BY_KEY) != MANAGED_BY or metadata.get(NAME_KEY, name) != name:
            raise InputError("name", f"Azure blob container {name!r} exists and is not managed by pepperpy-cloud",
                             hint="pick another resource name, or tag the container with "
                                  f"{MANAGED_BY_KEY}={MANAGED_BY} and {NAME_KEY}={name} to adopt it")

    def _remove_if_ours(self, container: Any, name: str) -> None:
        """After a failed first create: delete the container if it appeared with our tags."""
        with contextlib.suppress(Exception):
            props = container.get_container_properties()
            if (props.metadata or {}).get(NAME_KEY) == name:
                container.delete_container()

    # -- handle

    def handle(self, record: ResourceRecord) -> Resource:
        details = dict(record.details)
        common = {"name": record.name, "type": record.type, "provider": record.provider}
        try:
            container = self.service().get_container_client(record.name)
            props = self._properties(container, record.name)
        except PepperpyCloudError as exc:
            details["error"] = str(exc)
            return Resource(status="unreachable", url=details.get("url"), details=details, **common)
        if props is None:
            return Resource(status="missing", details=details, **common)
        details["last_modified"] = props.last_modified.isoformat() if props.last_modified else None
        return Resource(status="available", url=details.get("url") or self._url(record.name), details=details,
                        **common)

    # -- delete

    def delete(self, record: ResourceRecord) -> None:
        """Delete the container and every blob in it; a container already gone is fine."""
        if record.type != "object_storage":
            return  # nothing was ever created for kinds this provider refuses
        container = self.service().get_container_client(record.name)
        props = self._properties(container, record.name)
        if props is None:
            return
        self._check_ours(props, record.name)
        core = _core()

        def remove() -> None:
            with contextlib.suppress(core.ResourceNotFoundError):
                container.delete_container()

        self._call("delete blob container", record.name, remove)
        if self._properties(container, record.name) is not None:
            raise ResourceError(f"Azure delete blob container {record.name!r}: it still exists after deletion",
                                hint="fix: check for a lease or an immutability policy on the container")

    # -- discovery

    def managed_containers(self) -> list[str]:
        """Names of every container in the account tagged as ours (to find anything left unrecorded)."""
        service = self.service()

        def names() -> list[str]:
            return [c.name for c in service.list_containers(include_metadata=True)
                    if (c.metadata or {}).get(MANAGED_BY_KEY) == MANAGED_BY]

        return self._call("list blob containers", "*", names)


def _core() -> Any:
    from pepperpy.cloud.providers.azure.auth import sdk

    return sdk("azure.core.exceptions", "azure-core")
