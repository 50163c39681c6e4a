"""``ResourceManager``: seed 000's create / list / delete of resources, whatever the provider.

The manager owns the bookkeeping (the record of what was created, a lock so two
processes cannot provision one name at once, "not found" errors with
suggestions); the provider owns the work. A provider takes part by answering
``provider.resources()`` with an object that follows :class:`ResourceBackend`.
A provider without one raises its own ``NotSupportedError`` with the reason.

Records live behind the four-method :class:`ResourceStore` interface. The
default is the deployment state store (:class:`StateResourceStore` over
:class:`pepperpy.cloud.deploy.state.StateStore`: SQLite under the home dir, or
PostgreSQL by URL), so ``down`` and ``status`` see resources next to
deployments; :class:`JsonResourceStore` (``<home>/resources.json``, mode 0600)
is the fallback when that module is absent. Records never hold a password.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pepperpy.cloud.catalog.store import home_dir
from pepperpy.cloud.errors import InputError, NotFoundError, NotSupportedError
from pepperpy.cloud.providers.base import CloudProvider
from pepperpy.cloud.resources.models import Resource, ResourceRecord, ResourceSpec, utc_now

if TYPE_CHECKING:
    from pepperpy.cloud.deploy.state import Resource as StateRow
    from pepperpy.cloud.deploy.state import StateStore


class ResourceBackend(Protocol):
    """What a provider implements for resources.

    ``create`` provisions (or, given the ``previous`` record of the same name,
    converges: restarts what died, adds what is missing) and returns the record
    to keep; ``handle`` turns a record into a live :class:`Resource` (status and
    connection details read now); ``delete`` removes the resource and its data.
    """

    def create(self, spec: ResourceSpec, previous: ResourceRecord | None) -> ResourceRecord: ...

    def handle(self, record: ResourceRecord) -> Resource: ...

    def delete(self, record: ResourceRecord) -> None: ...


class ResourceStore(Protocol):
    """Where resource records are kept; method names match the deployment state store's."""

    def upsert_resource(self, record: ResourceRecord) -> None: ...

    def get_resource(self, name: str) -> ResourceRecord | None: ...

    def list_resources(self) -> list[ResourceRecord]: ...

    def delete_resource(self, name: str) -> None: ...


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock held while the block runs; released by the kernel if we die."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class JsonResourceStore:
    """Records in one JSON file, rewritten atomically (temp file + rename) under a file lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InputError(str(self.path), f"cannot read the resource records: {exc}",
                             hint="fix or move the file; it lists what was provisioned") from None
        resources = data.get("resources") if isinstance(data, dict) else None
        return resources if isinstance(resources, dict) else {}

    def _write(self, resources: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "resources": resources}, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def upsert_resource(self, record: ResourceRecord) -> None:
        with file_lock(self._lock_path):
            resources = self._read()
            resources[record.name] = record.to_dict()
            self._write(resources)

    def get_resource(self, name: str) -> ResourceRecord | None:
        data = self._read().get(name)
        return ResourceRecord.from_dict(data) if data else None

    def list_resources(self) -> list[ResourceRecord]:
        return [ResourceRecord.from_dict(v) for _, v in sorted(self._read().items())]

    def delete_resource(self, name: str) -> None:
        with file_lock(self._lock_path):
            resources = self._read()
            if resources.pop(name, None) is not None:
                self._write(resources)


class StateResourceStore:
    """:class:`ResourceStore` over the deployment state store's ``resources`` table.

    A record's ``details`` go to the table's ``connection`` column (addresses,
    pids and paths: no secret), its status is ``creating`` until the provider
    has finished, then ``provisioned``; the live status is read by the backend.
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def upsert_resource(self, record: ResourceRecord) -> None:
        status = "creating" if record.details.get("state") == "creating" else "provisioned"
        self.state.upsert_resource(record.name, record.type, record.provider, record.spec, status=status,
                                   connection=record.details)

    def get_resource(self, name: str) -> ResourceRecord | None:
        row = self.state.get_resource(name)
        return self._record(row) if row is not None else None

    def list_resources(self) -> list[ResourceRecord]:
        return [self._record(row) for row in self.state.list_resources()]

    def delete_resource(self, name: str) -> None:
        self.state.delete_resource(name)

    @staticmethod
    def _record(row: StateRow) -> ResourceRecord:
        created = datetime.fromtimestamp(row.created_at, UTC).isoformat(timespec="seconds")
        return ResourceRecord(name=row.name, type=row.type, provider=row.provider, spec=dict(row.spec),
                              details=dict(row.connection), created_at=created, updated_at=created)


def default_store() -> ResourceStore:
    """The deployment state store when that module is present, else the JSON file."""
    try:
        from pepperpy.cloud.deploy.state import StateStore
    except ImportError:
        return JsonResourceStore(home_dir() / "resources.json")
    return StateResourceStore(StateStore.open())


def backend_for(provider: CloudProvider) -> ResourceBackend:
    """The provider's resource implementation, or its NotSupportedError saying why there is none."""
    factory = getattr(provider, "resources", None)
    if callable(factory):
        backend: ResourceBackend = factory()
        return backend
    provider.require("resources")
    raise NotSupportedError(f"{provider.display_name} cannot provision resources: it has no resources() "
                            "implementation yet")


class ResourceManager:
    """``ResourceManager(provider=...)``: create, list, get and delete resources on that provider.

    The manager is bound to the user data dir current when it is made, so a
    long-lived manager keeps talking to the same records and servers.
    """

    def __init__(self, provider: CloudProvider, *, store: ResourceStore | None = None) -> None:
        self.provider = provider
        self._backend = backend_for(provider)
        self._store = store if store is not None else default_store()
        self._lock_path = home_dir() / "resources.lock"

    def create_resource(self, resource: ResourceSpec) -> Resource:
        """Provision ``resource``; for a name that exists already, converge to it and return it.

        A first record is written before any work starts, so a crash half-way
        leaves a record that ``delete_resource`` or a second ``create_resource``
        can finish; a failed fresh create removes its record again.
        """
        if not isinstance(resource, ResourceSpec):
            raise InputError("resource", f"expected StorageResource, DatabaseResource or ComputeResource, "
                             f"got {type(resource).__name__}")
        with file_lock(self._lock_path):
            previous = self._store.get_resource(resource.name)
            if previous is not None:
                self._check_same(previous, resource)
            else:
                placeholder = ResourceRecord(name=resource.name, type=resource.type, provider=self.provider.name,
                                             spec=resource.model_dump(mode="json"), details={"state": "creating"})
                self._store.upsert_resource(placeholder)
            try:
                record = self._backend.create(resource, previous)
            except BaseException:
                if previous is None:
                    self._store.delete_resource(resource.name)
                raise
            if previous is not None:
                record.created_at = previous.created_at
            record.updated_at = utc_now()
            self._store.upsert_resource(record)
        return self._backend.handle(record)

    def _check_same(self, previous: ResourceRecord, resource: ResourceSpec) -> None:
        if previous.provider != self.provider.name:
            raise InputError("name", f"resource {resource.name!r} already exists on provider {previous.provider!r}",
                             hint="pick another name or delete it there first")
        if previous.type != resource.type:
            raise InputError("name", f"resource {resource.name!r} already exists as a {previous.type} resource, "
                             f"not {resource.type}", hint="pick another name or delete the existing one first")

    def list_resources(self) -> list[Resource]:
        """Every resource of this provider, by name, with its status read now."""
        return [self._backend.handle(r) for r in self._store.list_resources() if r.provider == self.provider.name]

    def get(self, name: str) -> Resource:
        return self._backend.handle(self._record(name))

    def delete_resource(self, name: str) -> None:
        """Stop the resource, remove its data, then forget it (in that order: nothing is orphaned)."""
        with file_lock(self._lock_path):
            record = self._record(name)
            self._backend.delete(record)
            self._store.delete_resource(name)

    def invoke(self, name: str, payload: bytes = b"") -> bytes:
        """Run a serverless resource once, where the provider can do that without a deployment."""
        record = self._record(name)
        run = getattr(self._backend, "invoke", None)
        if not callable(run):
            raise NotSupportedError(f"{self.provider.display_name} cannot invoke resources directly")
        result: bytes = run(record, payload)
        return result

    def _record(self, name: str) -> ResourceRecord:
        record = self._store.get_resource(name)
        if record is None or record.provider != self.provider.name:
            known = [r.name for r in self._store.list_resources() if r.provider == self.provider.name]
            raise NotFoundError("name", name, "resource", suggestions=difflib.get_close_matches(name, known, n=3))
        return record
